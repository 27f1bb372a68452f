#!/bin/sh
# DICOM Segmentations written by VolSeg (the bundled liver model on two reference series) and
# highdicom's reading of each (read_seg.py): the tests check that VolSeg's own reader decodes these
# files to highdicom's label maps, and that a SEG written today carries the same segments and
# references. Run from the repository root after `swift build -c release`:
#   sh Tests/References/dicom/make_seg_reference.sh [/work/venvs/dicom/bin/python]
set -eu
python=${1:-/work/venvs/dicom/bin/python}
here=Tests/References/dicom
for name in ct_axial ct_enhanced; do
  rm -f "$here/seg/volseg_$name.dcm"
  .build/release/volseg segment -i "$here/series/$name" -m data/models/default-liver.h5 \
    --output-type dicom-seg -o "$here/seg/volseg_$name.dcm" --quiet
  "$python" "$here/read_seg.py" "$here/seg/volseg_$name.dcm" "$here/seg/volseg_$name" --source "$here/series/$name"
done
