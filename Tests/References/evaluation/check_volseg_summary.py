#!/usr/bin/env python3
"""Reads a VolSeg-written summary.json with nnU-Net v2's own loader and prints what nnU-Net sees in it.

nnU-Net reads summary.json files back (e.g. determine_postprocessing, nnUNetv2_find_best_configuration) with
nnunetv2.evaluation.evaluate_predictions.load_summary_json, which turns the string keys back into ints ("1") or
tuples ("(1, 2, 3)"). A VolSeg file that loads here and gives the same foreground_mean Dice is usable by nnU-Net.

    /work/venvs/eval/bin/python Tests/References/evaluation/check_volseg_summary.py PATH/summary.json \
        [--compare Tests/References/evaluation/nnunet_labels/summary.json]

With --compare, it also loads an nnU-Net-written summary and reports the largest difference of every per-case and
mean metric, matching cases by file basename (nnU-Net stores the paths it was given).
"""
import argparse
import math
import os
import sys

from nnunetv2.evaluation.evaluate_predictions import load_summary_json


def describe(summary):
    keys = list(summary["mean"].keys())
    print("label/region keys:", keys, "(types:", sorted({type(k).__name__ for k in keys}), ")")
    print("cases:", len(summary["metric_per_case"]))
    print("foreground_mean Dice:", summary["foreground_mean"]["Dice"])
    for key in keys:
        print(f"  mean[{key!r}] Dice = {summary['mean'][key]['Dice']}")


def close(a, b, tolerance):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True, 0.0
    difference = abs(float(a) - float(b))
    return difference <= tolerance, difference


def compare(ours, theirs, tolerance):
    failures = 0
    worst = 0.0
    by_name = {os.path.basename(c["prediction_file"]): c for c in theirs["metric_per_case"]}
    names = [os.path.basename(c["prediction_file"]) for c in ours["metric_per_case"]]
    if sorted(names) != sorted(by_name):
        print("case sets differ:", sorted(names), "vs", sorted(by_name))
        failures += 1
    if names != [os.path.basename(c["prediction_file"]) for c in theirs["metric_per_case"]]:
        print("note: metric_per_case order differs (nnU-Net sorts by prediction file name)")
    for case in ours["metric_per_case"]:
        other = by_name.get(os.path.basename(case["prediction_file"]))
        if other is None:
            continue
        for key, metrics in other["metrics"].items():
            for metric, value in metrics.items():
                ok, difference = close(case["metrics"].get(key, {}).get(metric, float("nan")), value, tolerance)
                worst = max(worst, difference)
                if not ok:
                    failures += 1
                    print(f"  {os.path.basename(case['prediction_file'])} {key!r} {metric}: "
                          f"{case['metrics'].get(key, {}).get(metric)} vs {value}")
    for section in ("mean",):
        for key, metrics in theirs[section].items():
            for metric, value in metrics.items():
                ok, difference = close(ours[section].get(key, {}).get(metric, float("nan")), value, tolerance)
                worst = max(worst, difference)
                if not ok:
                    failures += 1
                    print(f"  mean {key!r} {metric}: {ours[section].get(key, {}).get(metric)} vs {value}")
    for metric, value in theirs["foreground_mean"].items():
        ok, difference = close(ours["foreground_mean"].get(metric, float("nan")), value, tolerance)
        worst = max(worst, difference)
        if not ok:
            failures += 1
            print(f"  foreground_mean {metric}: {ours['foreground_mean'].get(metric)} vs {value}")
    print(f"compared: largest difference {worst}, {failures} mismatches")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("summary", help="summary.json written by VolSeg")
    parser.add_argument("--compare", help="summary.json written by nnU-Net for the same folders")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    args = parser.parse_args()
    ours = load_summary_json(args.summary)
    describe(ours)
    if args.compare:
        theirs = load_summary_json(args.compare)
        return 1 if compare(ours, theirs, args.tolerance) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
