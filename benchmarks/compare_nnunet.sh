#!/usr/bin/env bash
# VolSeg against nnUNetv2_predict -device cpu on the same nnU-Net v2 model folder and input, same
# machine, same threads, one run; with and without mirroring.
#
#   benchmarks/compare_nnunet.sh [THREADS] [brats|liver|both] [tta|notta|both]
#
# nnunetv2 comes from PyPI into a cached venv ($NNUNET_VENV, default ~/.cache/volseg/nnunet-venv);
# it is not needed by the tests. The model is nnU-Net's default 3d_fullres U-Net (6 stages,
# 32-320 features, patch 128^3, benchmarks/nnunet_model.py). Inputs: a synthetic 4-channel
# 240x240x155 BraTS-like case (volseg synth) and the 128^3 liver CT of ../shared/data (resampled to
# 1 x 0.8 x 0.8 mm by both). Time is wall time; memory is the peak of the RSS summed over each
# side's process tree (benchmarks/process_tree.py), since nnU-Net starts worker processes.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
CASES=${2:-both}
MODES=${3:-both}
VENV=${NNUNET_VENV:-$HOME/.cache/volseg/nnunet-venv}
VOLSEG=${VOLSEG:-.build/release/volseg}
[ -x "$VOLSEG" ] || swift build -c release
if [ ! -x "$VENV/bin/nnUNetv2_predict" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch --index-url https://download.pytorch.org/whl/cpu || "$VENV/bin/pip" install -q torch
  "$VENV/bin/pip" install -q nnunetv2
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS nnUNet_raw=$WORK/raw nnUNet_preprocessed=$WORK/pre nnUNet_results=$WORK/results

prepare() {  # kind -> model folder and input folder under $WORK/kind
  local kind=$1 dir=$WORK/$1
  mkdir -p "$dir/in"
  "$VENV/bin/python" benchmarks/nnunet_model.py "$kind" "$dir/model" > /dev/null
  if [ "$kind" = brats ]; then
    "$VOLSEG" synth brats --cases 1 --out "$dir/synth" --size 240 240 155 --seed 1 > /dev/null
    local case; case=$(ls "$dir/synth" | head -1)
    local i=0
    for m in t1 t1ce t2 flair; do cp "$dir/synth/$case/${case}_$m.nii.gz" "$dir/in/case_000$i.nii.gz"; i=$((i + 1)); done
  else
    cp ../shared/data/liver117/ct.nii.gz "$dir/in/case_0000.nii.gz"
  fi
}

measure() { "$VENV/bin/python" benchmarks/process_tree.py "$@" | tail -1; }

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)  threads: $THREADS"
echo "nnunetv2 $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("nnunetv2"))'), torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
for kind in brats liver; do
  [ "$CASES" = both ] || [ "$CASES" = "$kind" ] || continue
  prepare "$kind"
  model=$WORK/$kind/model/nnUNetTrainer__nnUNetPlans__3d_fullres
  for mode in notta tta; do
    [ "$MODES" = both ] || [ "$MODES" = "$mode" ] || continue
    flag=$([ $mode = notta ] && echo --disable_tta || true)
    theirs=$(measure "$VENV/bin/nnUNetv2_predict_from_modelfolder" -i "$WORK/$kind/in" -o "$WORK/$kind/out-nnunet-$mode" -m "$model" -f 0 \
             -device cpu -npp 1 -nps 1 $flag --disable_progress_bar)
    ours=$(measure "$VOLSEG" segment -i "$WORK/$kind/in" -o "$WORK/$kind/out-volseg-$mode" -m "$model" -f 0 --threads "$THREADS" $flag --no-progress --quiet)
    "$VENV/bin/python" - "$kind" "$mode" "$ours" "$theirs" "$WORK/$kind/out-volseg-$mode/case.nii.gz" "$WORK/$kind/out-nnunet-$mode/case.nii.gz" <<'PY'
import json, sys
import nibabel as nib
import numpy as np
kind, mode, ours, theirs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
a = np.asarray(nib.load(sys.argv[5]).dataobj); b = np.asarray(nib.load(sys.argv[6]).dataobj)
print(f"{kind} {mode}: time {ours['seconds']:.1f} s vs nnU-Net {theirs['seconds']:.1f} s = {ours['seconds'] / theirs['seconds']:.2f}x   "
      f"peak RSS {ours['peak_rss_bytes'] / 2**30:.2f} GiB vs {theirs['peak_rss_bytes'] / 2**30:.2f} GiB = "
      f"{ours['peak_rss_bytes'] / theirs['peak_rss_bytes']:.2f}x   labels differing: {int((a != b).sum())} of {a.size}")
PY
  done
done
