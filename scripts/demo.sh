#!/usr/bin/env bash
# make demo: segment the bundled held-out liver CT with the bundled model, write the mask, a PNG
# overlay and the Dice against the reference (the data and the model are described in data/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
VOLSEG=.build/release/volseg
MODEL=data/models/default-liver.h5
DATA=data/liver117-heldout
OUT=out/demo
[ -f "$MODEL" ] || { echo "demo: $MODEL is missing" >&2; exit 1; }
rm -rf "$OUT"
"$VOLSEG" info "$DATA"
# One command: segment every case of the dataset into OUT/predictions, then evaluate it.
"$VOLSEG" evaluate --model "$MODEL" --data "$DATA" --regions lits --out "$OUT"
echo
echo "mask:     $OUT/predictions/volume-117.nii.gz"
echo "overlay:  $OUT/pictures/volume-117.png (reference and prediction outlined)"
echo "Dice:     $OUT/summary.json, $OUT/metrics.csv, $OUT/report.md"
