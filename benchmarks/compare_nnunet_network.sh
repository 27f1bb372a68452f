#!/usr/bin/env bash
# The nnU-Net default 3D network (PlainConvUNet, 6 stages, 32-320 features, benchmarks/nnunet_model.py)
# on one 4 x 128^3 window: `volseg bench nnunet` against PyTorch on the same model folder, same
# threads, same run (the forward alone: no preprocessing, sliding window or export).
#
#   benchmarks/compare_nnunet_network.sh [THREADS] [REPEATS]
#
# nnunetv2 and torch come from the cached venv compare_nnunet.sh makes ($NNUNET_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
REPEATS=${2:-3}
VENV=${NNUNET_VENV:-$HOME/.cache/volseg/nnunet-venv}
VOLSEG=${VOLSEG:-.build/release/volseg}
[ -x "$VOLSEG" ] || swift build -c release
[ -x "$VENV/bin/python" ] || { echo "no venv at $VENV: run benchmarks/compare_nnunet.sh once, or set NNUNET_VENV" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
model=$("$VENV/bin/python" benchmarks/nnunet_model.py brats "$WORK")
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)  threads: $THREADS"
ours=$("$VOLSEG" bench nnunet -m "$model" --repeats "$REPEATS" --threads "$THREADS" --quiet)
theirs=$("$VENV/bin/python" benchmarks/pytorch_nnunet_forward.py "$model" --threads "$THREADS" --repeats "$REPEATS")
echo "volseg:  $ours"
echo "pytorch: $theirs"
"$VENV/bin/python" - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"nnU-Net 3d_fullres forward {ours['input']}: VolSeg {ours['forward_ms']:.0f} ms "
      f"({ours['forward_fraction_of_peak']:.2f} of the FMA peak), PyTorch {theirs['forward_ms']:.0f} ms: "
      f"{ours['forward_ms'] / theirs['forward_ms']:.2f}x time")
PY
