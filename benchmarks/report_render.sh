#!/usr/bin/env bash
# How fast evaluate's report.html opens in headless Chromium, and how big it is: a 20-case synthetic
# BraTS report, the real liver CT (../shared/data/liver117), and two BraTS-sized (240x240x155, four
# channels) cases whose per-case size, times 100, bounds a 100-case report. Prints the times from
# the page's own clock (navigation to the table; click to the case drawn), the sizes, and writes the
# README's screenshots to benchmarks/report_render/. Needs `make browser-deps` and a release build.
#   bash benchmarks/report_render.sh
set -euo pipefail
cd "$(dirname "$0")/.."
volseg=.build/release/volseg
python=.build/browser-venv/bin/python
shared=${VOLSEG_SHARED:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shots=benchmarks/report_render
mkdir -p "$shots"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) threads; $(chromium --version 2>/dev/null)"

check() { "$python" Tests/Browser/check_page.py "$@"; }
field() { "$python" -c "import json,sys; d=json.loads(sys.argv[1]); print(d.get(sys.argv[2]))" "$1" "$2"; }

# 20 synthetic BraTS cases, each predicted by the next case's labels.
$volseg synth brats --cases 20 --out "$work/brats" --size 96 96 64 --seed 7 --quiet
mkdir -p "$work/pred"
cases=($(ls "$work/brats" | grep -v json | sort))
for i in "${!cases[@]}"; do
  next=${cases[$(( (i + 1) % ${#cases[@]} ))]}
  cp "$work/brats/$next/${next}_seg.nii.gz" "$work/pred/${cases[$i]}.nii.gz"
done
$volseg evaluate --pred "$work/pred" --ref "$work/brats" --out "$work/out" --no-pictures --quiet
result=$(check "$work/out/report.html" --case "${cases[0]}" --screenshot "$shots/synthetic_brats.png")
echo "synthetic BraTS, 20 cases of 96x96x64x4: table $(field "$result" table_ms) ms, case $(field "$result" case_ms) ms;" \
  "report $(du -sh "$work/out/report.html" | cut -f1), report_files $(du -sh "$work/out/report_files" | cut -f1)"

# The real liver CT as a LiTS case, the prediction its reference with the tumour called liver.
mkdir -p "$work/lits" "$work/lits-pred"
ln -s "$(realpath "$shared/data/liver117/ct.nii.gz")" "$work/lits/volume-0.nii.gz"
ln -s "$(realpath "$shared/data/liver117/seg.nii.gz")" "$work/lits/segmentation-0.nii.gz"
"$python" - "$shared/data/liver117/seg.nii.gz" "$work/lits-pred/volume-0.nii.gz" <<'PY' 2>/dev/null || cp "$shared/data/liver117/seg.nii.gz" "$work/lits-pred/volume-0.nii.gz"
import gzip, sys
data = bytearray(gzip.decompress(open(sys.argv[1], "rb").read()))
# uint8 labels after the 352-byte header: tumour (2) becomes liver (1).
for i in range(352, len(data)):
    if data[i] == 2: data[i] = 1
open(sys.argv[2], "wb").write(gzip.compress(bytes(data)))
PY
$volseg evaluate --pred "$work/lits-pred" --ref "$work/lits" --out "$work/lits-out" --no-pictures --quiet
result=$(check "$work/lits-out/report.html" --case volume-0 --screenshot "$shots/liver117.png")
echo "liver117 (128^3 CT): table $(field "$result" table_ms) ms, case $(field "$result" case_ms) ms;" \
  "report $(du -sh "$work/lits-out/report.html" | cut -f1), report_files $(du -sh "$work/lits-out/report_files" | cut -f1)"

# BraTS-sized cases: the bound on a 100-case report.
$volseg synth brats --cases 2 --out "$work/big" --size 240 240 155 --seed 3 --quiet
mkdir -p "$work/big-pred"
big=($(ls "$work/big" | grep -v json | sort))
cp "$work/big/${big[1]}/${big[1]}_seg.nii.gz" "$work/big-pred/${big[0]}.nii.gz"
cp "$work/big/${big[0]}/${big[0]}_seg.nii.gz" "$work/big-pred/${big[1]}.nii.gz"
$volseg evaluate --pred "$work/big-pred" --ref "$work/big" --out "$work/big-out" --no-pictures --quiet
result=$(check "$work/big-out/report.html" --case "${big[0]}")
per_case=$(( $(du -sb "$work/big-out/report_files" | cut -f1) / 2 ))
echo "BraTS-sized (240x240x155x4): case $(field "$result" case_ms) ms; $(( per_case / 1024 )) KiB per case," \
  "so 100 cases ~ $(( per_case * 100 / 1048576 )) MiB"
