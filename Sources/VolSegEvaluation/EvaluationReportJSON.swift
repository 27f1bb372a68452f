import Foundation
import VolSegIO

/// metrics.csv, summary.json and summary_extra.json. The JSON files are written as Python's json
/// module writes them (`PythonJSON`), NaN as `NaN` as nnU-Net's summary.json has it (Python reads
/// it; strict JSON has no NaN).
public enum EvaluationReportJSON {
    /// A number as both files write it: integers without a decimal point, doubles in the shortest
    /// form that reads back to the same value, NaN as `NaN`.
    static func number(_ value: Double, integer: Bool = false) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        if integer, value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    static let integerKeys: Set<String> = ["tp", "fp", "fn", "tn", "n_pred", "n_ref"]

    /// summary.json exactly as nnU-Net's `compute_metrics_on_folder` writes it (`sort_keys=True,
    /// indent=4`): `metric_per_case` (in sorted prediction-file order, each with `metrics` keyed
    /// `"1"` or `"(1, 2, 4)"`, `prediction_file`, `reference_file`), `mean` (nanmean per key and
    /// metric) and `foreground_mean` (plain mean over the keys but "0"). Per label, nnU-Net's
    /// metrics (Dice, IoU, TP, FP, FN, TN, n_pred, n_ref) and VolSeg's (HD95, ASSD, NSD, volumes),
    /// which nnU-Net's `load_summary_json` and `determine_postprocessing` pass through. Names,
    /// conventions and global Dice are in summary_extra.json.
    public static func summary(_ result: EvaluationResult) -> String {
        let perCase: [PythonJSON] = result.cases.map { evaluation in
            var metrics = [String: PythonJSON]()
            for (label, scores) in zip(result.labels, evaluation.scores) where metrics[label.nnUNetKey] == nil {
                metrics[label.nnUNetKey] = nnUNetMetrics(scores)
            }
            return .object(["metrics": .object(metrics),
                            "prediction_file": .string(evaluation.pair.prediction.path),
                            "reference_file": .string(evaluation.pair.reference.path)])
        }
        let means = result.mean
        var mean = [String: PythonJSON]()
        for label in result.labels where mean[label.nnUNetKey] == nil {
            mean[label.nnUNetKey] = meanObject(means[label.name] ?? [:])
        }
        return PythonJSON.object([
            "foreground_mean": meanObject(result.foregroundMean),
            "mean": .object(mean),
            "metric_per_case": .array(perCase),
        ]).text()
    }

    /// One case's metrics of one label under nnU-Net's names: counts as integers, undefined
    /// values (NaN Dice, distances with an empty side) as NaN.
    static func nnUNetMetrics(_ scores: MetricScores) -> PythonJSON {
        var out = [String: PythonJSON]()
        for key in MetricScores.keys + MetricScores.volumeKeys {
            let name = MetricScores.nnUNetKeys[key]!
            if integerKeys.contains(key) {
                out[name] = .integer(Int(scores.value(key)!))
            } else {
                out[name] = .float(scores.value(key) ?? .nan)
            }
        }
        return .object(out)
    }

    static func meanObject(_ values: [String: Double]) -> PythonJSON {
        var out = [String: PythonJSON]()
        for key in EvaluationResult.meanKeys { out[MetricScores.nnUNetKeys[key]!] = .float(values[key] ?? .nan) }
        return .object(out)
    }

    /// summary_extra.json: what summary.json cannot hold without breaking nnU-Net's loader: the
    /// label names behind the keys, LiTS's global Dice, the surface conventions used, per label the
    /// cases whose distances are undefined (an empty side), unmatched cases and warnings.
    public static func summaryExtra(_ result: EvaluationResult, surface: SurfaceMetricSettings, ignoreLabel: Int?) -> String {
        let global = result.globalDice, undefined = result.undefinedDistanceCounts
        var labels = [String: PythonJSON]()
        for label in result.labels where labels[label.nnUNetKey] == nil {
            let names = result.labels.filter { $0.nnUNetKey == label.nnUNetKey }.map(\.name)
            labels[label.nnUNetKey] = .object([
                "name": .string(names.joined(separator: ", ")),
                "values": .array(label.values.map { .integer($0) }),
                "region": .bool(label.isRegion),
                "global_dice": .float(global[label.name] ?? .nan),
                "cases_with_undefined_distances": .integer(undefined[label.name] ?? 0),
                "nsd_tolerance_mm": .float(surface.nsdTolerance(for: label)),
            ])
        }
        var extra: [String: PythonJSON] = [
            "labels": .object(labels),
            "conventions": .object(surface.descriptions.mapValues { .string($0) }),
            "ignore_label": ignoreLabel.map { .integer($0) } ?? .null,
            "cases": .integer(result.cases.count),
            "missing_predictions": .array(result.matching.missingPredictions.map { .string($0) }),
            "extra_predictions": .array(result.matching.extraPredictions.map { .string($0) }),
            "warnings": .array(result.warnings.map { .string($0) }),
        ]
        if let lesionWise = lesionWiseSection(result) { extra["lesionwise"] = lesionWise }
        return PythonJSON.object(extra).text() + "\n"
    }

    /// metrics.csv: one row per case and label, columns `case,label,dice,iou,hd95,assd,tp,fp,fn,tn,n_pred,n_ref`;
    /// an undefined distance is an empty field, an undefined Dice or IoU is NaN.
    public static func csv(_ result: EvaluationResult) -> String {
        var lines = [(["case", "label"] + MetricScores.keys).joined(separator: ",")]
        for evaluation in result.cases {
            for (label, scores) in zip(result.labels, evaluation.scores) {
                let fields = MetricScores.keys.map { key in
                    scores.value(key).map { number($0, integer: integerKeys.contains(key)) } ?? ""
                }
                lines.append(([csvField(evaluation.pair.caseID), csvField(label.name)] + fields).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
