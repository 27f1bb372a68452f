#!/usr/bin/env bash
# VolSeg vs PyTorch on the bench-unet network, same machine, same threads, one run.
#
#   PYTHON=/path/to/venv/bin/python benchmarks/compare_unet.sh [THREADS] [PATCH]
#
# Each phase runs in its own process under /usr/bin/time -v, so its peak RSS belongs to it.
# Prints each side's JSON and the ratios VolSeg/PyTorch (below 1 means VolSeg is faster/smaller).
# PyTorch: `python3 -m venv venv && venv/bin/pip install torch numpy` (large, works on Debian).
# ONNX Runtime (the forward only, the same network exported from PyTorch): with `onnx onnxruntime`
# installed in the same venv the forward line also compares against it; without them it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
PATCH=${2:-128}
PYTHON=${PYTHON:-python3}
VOLSEG=${VOLSEG:-.build/release/volseg}
[ -x "$VOLSEG" ] || swift build -c release
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }

run() {  # label, command...: prints "<json>\t<peak rss bytes>"
  local log; log=$(mktemp)
  local json; json=$(/usr/bin/time -v -o "$log" "${@:2}")
  local kib; kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$log")
  rm -f "$log"
  printf '%s\t%s\n' "$json" "$((kib * 1024))"
}

key() { python3 -c "import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ''))" "$1" "$2"; }

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)  threads: $THREADS  patch: $PATCH"
for phase in forward train volume; do
  field=$( [ $phase = forward ] && echo forward_ms || ([ $phase = train ] && echo train_step_ms || echo brats_forward_ms) )
  IFS=$'\t' read -r ours ours_rss < <(run volseg "$VOLSEG" bench unet --only $phase --patch "$PATCH" --threads "$THREADS" --json)
  IFS=$'\t' read -r theirs theirs_rss < <(run pytorch "$PYTHON" benchmarks/pytorch_unet.py --only $phase --patch "$PATCH" --threads "$THREADS" --json)
  ours_ms=$(key "$ours" $field); theirs_ms=$(key "$theirs" $field)
  echo "$phase: volseg $ours"
  echo "$phase: pytorch $theirs"
  python3 - "$phase" "$ours_ms" "$theirs_ms" "$ours_rss" "$theirs_rss" <<'PY'
import sys
phase, a, b, ra, rb = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{phase}: time {a:.0f} ms vs {b:.0f} ms = {a/b:.2f}x   peak RSS {ra/2**30:.2f} GiB vs {rb/2**30:.2f} GiB = {ra/rb:.2f}x")
PY
  if [ $phase = forward ] && "$PYTHON" -c "import onnxruntime, onnx" 2>/dev/null; then
    IFS=$'\t' read -r ort ort_rss < <(run onnxruntime "$PYTHON" benchmarks/onnxruntime_unet.py --patch "$PATCH" --threads "$THREADS")
    echo "forward: onnxruntime $ort"
    python3 - "$ours_ms" "$(key "$ort" forward_ms)" "$ours_rss" "$ort_rss" <<'PY'
import sys
a, b, ra, rb = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"forward vs ONNX Runtime: time {a:.0f} ms vs {b:.0f} ms = {a/b:.2f}x   peak RSS {ra/2**30:.2f} GiB vs {rb/2**30:.2f} GiB = {ra/rb:.2f}x")
PY
  fi
done
