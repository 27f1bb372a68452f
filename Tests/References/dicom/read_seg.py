#!/usr/bin/env python3
"""Read a DICOM Segmentation with highdicom and write what it holds.

    /work/venvs/dicom/bin/python Tests/References/dicom/read_seg.py SEG.dcm OUT_PREFIX [--source DIR]

Writes
  OUT_PREFIX.json    segments (number, label, category/type codes, algorithm type and name),
                     SegmentationType, referenced series and SOP instance UIDs, FrameOfReferenceUID,
                     rows, columns, number of frames, and the geometry of the label map written;
  OUT_PREFIX.nii.gz  the label map (segment number k -> voxel value k, 0 background), uint8 (uint16
                     when a segment number exceeds 255), with a RAS affine (highdicom's LPS affine with
                     x and y negated), qform and sform code 1.

Geometry: without --source, the volume is highdicom's Segmentation.get_volume(combine_segments=True),
i.e. the regular grid spanned by the SEG's own frames (empty frames that a writer omitted at either
end of the stack shrink it). With --source DIR (the folder of the referenced source series), the map
is built with get_pixels_by_source_instance for the source SOP instances sorted by position along
the slice normal (missing frames taken as empty), on the source series' grid: axes (slice, row,
column), so it can be compared voxel for voxel with a NIfTI of that series.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _code(seq) -> dict | None:
    if not seq:
        return None
    c = seq[0]
    value = c.get("CodeValue") or c.get("LongCodeValue") or c.get("URNCodeValue")
    return {"value": str(value), "scheme": str(c.CodingSchemeDesignator), "meaning": str(c.CodeMeaning)}


def _source_grid(source_dir: Path, series_uids: set[str]):
    """Source instances of the referenced series sorted along the normal, and their LPS affine
    for array axes (slice, row, column)."""
    items = []
    for f in sorted(source_dir.iterdir()):
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        if str(ds.get("SeriesInstanceUID", "")) not in series_uids or (
                "ImagePositionPatient" not in ds and "PerFrameFunctionalGroupsSequence" not in ds):
            continue
        items.append(ds)
    if not items:
        raise SystemExit(f"no instance of the referenced series in {source_dir}")
    if len(items) == 1 and int(items[0].get("NumberOfFrames", 1)) > 1:
        return _enhanced_source_grid(items[0])
    iop = np.array([float(x) for x in items[0].ImageOrientationPatient])
    rowdir, coldir = iop[:3], iop[3:]
    normal = np.cross(rowdir, coldir)
    items.sort(key=lambda d: float(np.dot(normal, [float(x) for x in d.ImagePositionPatient])))
    pos = np.array([[float(x) for x in d.ImagePositionPatient] for d in items])
    row_sp, col_sp = (float(x) for x in items[0].PixelSpacing)
    if len(items) > 1:
        steps = np.diff(pos, axis=0)
        step = steps.mean(axis=0)
        if np.abs(steps - step).max() > 1e-3 * max(1.0, float(np.linalg.norm(step))):
            raise SystemExit("source series is not regularly spaced")
    else:
        step = normal * float(items[0].get("SliceThickness", 1.0) or 1.0)
    aff = np.eye(4)
    aff[:3, 0] = step
    aff[:3, 1] = coldir * row_sp
    aff[:3, 2] = rowdir * col_sp
    aff[:3, 3] = pos[0]
    return [str(d.SOPInstanceUID) for d in items], aff


def _enhanced_source_grid(ds):
    """An enhanced (multi-frame) source: its frame numbers sorted along the normal, and the LPS
    affine for array axes (slice, row, column), from the functional groups."""
    shared = ds.SharedFunctionalGroupsSequence[0]
    def group(frame, name):
        item = frame if name in frame else shared
        return item[name].value[0]
    frames = list(ds.PerFrameFunctionalGroupsSequence)
    iop = np.array([float(x) for x in group(frames[0], "PlaneOrientationSequence").ImageOrientationPatient])
    rowdir, coldir = iop[:3], iop[3:]
    normal = np.cross(rowdir, coldir)
    pos = [np.array([float(x) for x in group(f, "PlanePositionSequence").ImagePositionPatient]) for f in frames]
    order = sorted(range(len(frames)), key=lambda i: float(np.dot(normal, pos[i])))
    row_sp, col_sp = (float(x) for x in group(frames[0], "PixelMeasuresSequence").PixelSpacing)
    step = (pos[order[-1]] - pos[order[0]]) / (len(order) - 1)
    aff = np.eye(4)
    aff[:3, 0] = step
    aff[:3, 1] = coldir * row_sp
    aff[:3, 2] = rowdir * col_sp
    aff[:3, 3] = pos[order[0]]
    return (str(ds.SOPInstanceUID), [i + 1 for i in order]), aff


def read_seg(seg_path, out_prefix, source_dir=None) -> dict:
    seg_path, out_prefix = Path(seg_path), str(out_prefix)
    seg = hd.seg.segread(seg_path)

    segments = []
    for item in seg.SegmentSequence:
        s = {
            "number": int(item.SegmentNumber),
            "label": str(item.SegmentLabel),
            "category": _code(item.get("SegmentedPropertyCategoryCodeSequence")),
            "type": _code(item.get("SegmentedPropertyTypeCodeSequence")),
            "algorithm_type": str(item.SegmentAlgorithmType),
        }
        if "SegmentAlgorithmName" in item:
            s["algorithm_name"] = str(item.SegmentAlgorithmName)
        if "SegmentedPropertyTypeModifierCodeSequence" in item:
            s["type_modifier"] = _code(item.SegmentedPropertyTypeModifierCodeSequence)
        if "AnatomicRegionSequence" in item:
            s["anatomic_region"] = _code(item.AnatomicRegionSequence)
        segments.append(s)

    referenced = []
    for rs in seg.get("ReferencedSeriesSequence", []):
        referenced.append({
            "series_instance_uid": str(rs.SeriesInstanceUID),
            "sop_instance_uids": [str(r.ReferencedSOPInstanceUID)
                                  for r in rs.get("ReferencedInstanceSequence", [])],
            "sop_class_uids": sorted({str(r.ReferencedSOPClassUID)
                                      for r in rs.get("ReferencedInstanceSequence", [])}),
        })

    numbers = [s["number"] for s in segments]
    dtype = np.uint8 if max(numbers, default=0) < 256 else np.uint16
    if source_dir is None:
        vol = seg.get_volume(combine_segments=True, dtype=dtype)
        array, lps = np.asarray(vol.array), np.asarray(vol.affine, float)
        grid = "Segmentation.get_volume(combine_segments=True): the SEG frames' own regular grid"
    else:
        uids, lps = _source_grid(Path(source_dir), {r["series_instance_uid"] for r in referenced})
        if isinstance(uids, tuple):   # one enhanced multi-frame source instance
            array = np.asarray(seg.get_pixels_by_source_frame(
                source_sop_instance_uid=uids[0], source_frame_numbers=uids[1], combine_segments=True,
                assert_missing_frames_are_empty=True, dtype=dtype))
            grid = "source frames' grid via get_pixels_by_source_frame, frames sorted along the normal"
        else:
            array = np.asarray(seg.get_pixels_by_source_instance(
                source_sop_instance_uids=uids, combine_segments=True,
                assert_missing_frames_are_empty=True, dtype=dtype))
            grid = "source series grid via get_pixels_by_source_instance, slices sorted along the normal"
    array = array.astype(dtype)
    ras = LPS_FROM_RAS @ lps

    img = nib.Nifti1Image(array, ras)
    img.set_qform(ras, code=1)
    img.set_sform(ras, code=1)
    img.header.set_xyzt_units("mm")
    tmp = Path(out_prefix + ".tmp.nii")
    nib.save(img, str(tmp))
    with open(out_prefix + ".nii.gz", "wb") as f:   # no time stamp in the gzip header
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
            g.write(tmp.read_bytes())
    tmp.unlink()

    info = {
        "file": seg_path.name,
        "sop_class_uid": str(seg.SOPClassUID),
        "sop_instance_uid": str(seg.SOPInstanceUID),
        "series_instance_uid": str(seg.SeriesInstanceUID),
        "transfer_syntax_uid": str(seg.file_meta.TransferSyntaxUID),
        "segmentation_type": str(seg.SegmentationType),
        "number_of_segments": len(segments),
        "segments": segments,
        "referenced_series": referenced,
        "frame_of_reference_uid": str(seg.get("FrameOfReferenceUID", "")) or None,
        "rows": int(seg.Rows),
        "columns": int(seg.Columns),
        "number_of_frames": int(seg.get("NumberOfFrames", 1)),
        "label_map": {
            "file": Path(out_prefix + ".nii.gz").name,
            "grid": grid,
            "array_axes": "(slice, row, column)",
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "affine_lps": (np.round(lps, 6) + 0.0).tolist(),
            "affine_ras": (np.round(ras, 6) + 0.0).tolist(),
            "voxel_counts": {str(k): int((array == k).sum()) for k in [0, *numbers]},
        },
        "highdicom": hd.__version__,
    }
    Path(out_prefix + ".json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description="Read a DICOM SEG with highdicom.")
    ap.add_argument("seg")
    ap.add_argument("out_prefix")
    ap.add_argument("--source", help="folder of the referenced source series (grid of that series)")
    a = ap.parse_args(argv)
    info = read_seg(a.seg, a.out_prefix, a.source)
    print(json.dumps({k: info[k] for k in ("number_of_segments", "rows", "columns", "number_of_frames")}))


if __name__ == "__main__":
    sys.exit(main())
