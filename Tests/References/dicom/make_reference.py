#!/usr/bin/env python3
"""Build small DICOM reference series for VolSeg's DICOM reader, and dcm2niix's reading of them.

Run from the repository root:

    /work/venvs/dicom/bin/python Tests/References/dicom/make_reference.py [--shared /work/shared/data]

The series are cut from two real scans in the shared data folder (liver117 CT, radiomics brain1 MRI).
Everything written is deterministic: UIDs are 2.25.<n> UIDs from name-based (version 5) UUIDs of
fixed names, dates and times are fixed, the slice shuffle uses a seeded generator, and the gzip
streams carry no time stamp.

Output (this script's folder; series/, dcm2niix/, labels/, seg/ and expected.json are rewritten):
  series/<name>/IMxxxx.dcm   the DICOM files of each series
  dcm2niix/<name>.nii.gz     dcm2niix's NIfTI of each readable series
  labels/<name>.nii.gz       the liver117 labels of each CT series on dcm2niix's grid of that series
  seg/                       a DICOM SEG made with highdicom from ct_axial, and read_seg.py's reading of it
  expected.json              what each series is and what a reader should find

Conventions used to build the slices (DICOM world = LPS, NIfTI world = RAS, x_RAS=-x_LPS,
y_RAS=-y_LPS): ImageOrientationPatient = row direction cosine (direction of increasing column index)
then column direction cosine (increasing row index); PixelSpacing = [spacing between rows, spacing
between columns]; ImagePositionPatient = LPS centre of pixel (row 0, column 0). A voxel at
(column c, row r, slice s) lies at IPP_s + c*PixelSpacing[1]*rowdir + r*PixelSpacing[0]*coldir.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True   # no __pycache__ next to the references
import read_seg  # noqa: E402  (same folder)

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])  # its own inverse

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"

STUDY_DATE = "20240115"
STUDY_TIME = "093000"
LABEL_NAMES = {"1": "liver", "2": "tumour"}
M1_OFFSET = 4000          # mr_monochrome1 stored value = M1_OFFSET - MRI value

# Crops (NIfTI voxel index ranges, half-open).
CT_CROP = {"i": (76, 116), "j": (96, 128), "k": (8, 22)}      # 40 x 32 x 14 voxels, 1 mm
MR_CROP = {"i": (164, 212), "j": (83, 123), "k": (11, 19)}    # 48 x 40 x 8 voxels


UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "volseg/Tests/References/dicom")


def uid(*parts: str) -> str:
    """A 2.25.<integer> UID from a name-based (version 5) UUID of the parts: the same on every run.
    (pydicom's generate_uid(prefix=None, ...) ignores entropy_srcs and returns a random UUID.)"""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, '/'.join(parts)).int}"


def ds_str(x: float, decimals: int = 6) -> str:
    """A DS string (at most 16 characters) of x rounded to `decimals` places."""
    v = round(float(x), decimals)
    if v == 0:
        v = 0.0  # no "-0"
    s = np.format_float_positional(v, trim="-")
    assert len(s) <= 16, s
    return s


def ds_val(x: float, decimals: int = 6) -> float:
    return float(ds_str(x, decimals))


# --------------------------------------------------------------------------------------------
# Geometry: a stack of slices in DICOM terms.


@dataclass
class Stack:
    """Slices in DICOM order: stored[s, r, c]; slice s at origin + s*step (LPS)."""

    stored: np.ndarray            # (S, R, C) integer stored values
    rowdir: np.ndarray            # IOP[0:3], direction of increasing column index
    coldir: np.ndarray            # IOP[3:6], direction of increasing row index
    row_spacing: float            # PixelSpacing[0] (between rows)
    col_spacing: float            # PixelSpacing[1] (between columns)
    origin: np.ndarray            # IPP of slice 0
    step: np.ndarray              # IPP_{s+1} - IPP_s
    labels: np.ndarray | None = None   # (S, R, C) label values, same pixels
    positions: list | None = None      # explicit per-slice IPPs (overrides origin/step)

    @property
    def shape(self):
        return self.stored.shape

    def ipp(self, s: int) -> np.ndarray:
        if self.positions is not None:
            return np.asarray(self.positions[s], float)
        return self.origin + s * self.step

    def iop(self) -> list[float]:
        return [*self.rowdir.tolist(), *self.coldir.tolist()]

    def affine_lps(self) -> np.ndarray:
        """Maps (column, row, slice) index to LPS."""
        a = np.eye(4)
        a[:3, 0] = self.rowdir * self.col_spacing
        a[:3, 1] = self.coldir * self.row_spacing
        a[:3, 2] = self.step
        a[:3, 3] = self.origin
        return a

    def affine_ras(self) -> np.ndarray:
        return LPS_FROM_RAS @ self.affine_lps()

    def copy(self) -> "Stack":
        return copy.deepcopy(self)


def reorient(arr: np.ndarray, aff: np.ndarray, perm, flips):
    """New axis n = old axis perm[n], reversed if flips[n]. Returns (array, affine of new index)."""
    out = np.transpose(arr, perm)
    m = np.zeros((4, 4))
    m[3, 3] = 1
    for n, (old, f) in enumerate(zip(perm, flips)):
        if f:
            out = np.flip(out, n)
            m[old, n] = -1
            m[old, 3] = arr.shape[old] - 1
        else:
            m[old, n] = 1
    return np.ascontiguousarray(out), aff @ m


def stack_from_nifti(values: np.ndarray, labels, ras_affine: np.ndarray, perm, flips) -> Stack:
    """values/labels indexed like the NIfTI crop (i, j, k); perm/flips choose which NIfTI axes
    become (column, row, slice) and whether each is reversed. World geometry is preserved."""
    lps = LPS_FROM_RAS @ ras_affine
    v, a = reorient(values, lps, perm, flips)          # v[c, r, s], a: (c, r, s) -> LPS
    lab = None
    if labels is not None:
        lab, _ = reorient(labels, lps, perm, flips)
        lab = np.ascontiguousarray(lab.transpose(2, 1, 0))
    col_sp = float(np.linalg.norm(a[:3, 0]))
    row_sp = float(np.linalg.norm(a[:3, 1]))
    return Stack(
        stored=np.ascontiguousarray(v.transpose(2, 1, 0)),
        rowdir=a[:3, 0] / col_sp,
        coldir=a[:3, 1] / row_sp,
        row_spacing=row_sp,
        col_spacing=col_sp,
        origin=a[:3, 3].copy(),
        step=a[:3, 2].copy(),
        labels=lab,
    )


def rotation(axis, degrees: float) -> np.ndarray:
    u = np.asarray(axis, float)
    u /= np.linalg.norm(u)
    t = math.radians(degrees)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    return np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * (k @ k)


def round_geometry(st: Stack) -> Stack:
    """Round the geometry to what the DS strings hold, so the recorded truth is what the files say."""
    st.rowdir = np.array([ds_val(x) for x in st.rowdir])
    st.coldir = np.array([ds_val(x) for x in st.coldir])
    st.origin = np.array([ds_val(x, 6) for x in st.origin])
    st.step = np.array([ds_val(x, 6) for x in st.step])
    return st


# --------------------------------------------------------------------------------------------
# DICOM datasets.


@dataclass
class SeriesInfo:
    name: str
    description: str
    number: int
    modality: str                  # CT / MR
    bits_stored: int = 12
    pixel_representation: int = 0
    slope: float | None = None
    intercept: float | None = None
    photometric: str = "MONOCHROME2"
    series_uid: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.series_uid:
            self.series_uid = uid("series", self.name)


PATIENTS = {
    "CT": dict(PatientName="VolSeg^Liver117", PatientID="VOLSEG-LIVER117", PatientBirthDate="",
               PatientSex="O", StudyID="1", AccessionNumber="",
               study_uid=uid("study", "liver117"), for_uid=uid("frame-of-reference", "liver117"),
               study_description="liver117 crop (LiTS case 117 via liver-ct-segmentation-package)"),
    "MR": dict(PatientName="VolSeg^Brain1", PatientID="VOLSEG-BRAIN1", PatientBirthDate="",
               PatientSex="O", StudyID="1", AccessionNumber="",
               study_uid=uid("study", "brain1"), for_uid=uid("frame-of-reference", "brain1"),
               study_description="radiomics brain1 crop (pyradiomics test data)"),
}


def file_meta(sop_class: str, sop_instance: str, ts=ExplicitVRLittleEndian) -> FileMetaDataset:
    m = FileMetaDataset()
    m.MediaStorageSOPClassUID = sop_class
    m.MediaStorageSOPInstanceUID = sop_instance
    m.TransferSyntaxUID = ts
    return m


def common_header(ds: Dataset, modality: str, series: SeriesInfo | None):
    p = PATIENTS[modality if modality in PATIENTS else "CT"]
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.SeriesDate = STUDY_DATE
    ds.SeriesTime = STUDY_TIME
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = STUDY_TIME
    ds.AccessionNumber = p["AccessionNumber"]
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = p["study_description"]
    ds.PatientName = p["PatientName"]
    ds.PatientID = p["PatientID"]
    ds.PatientBirthDate = p["PatientBirthDate"]
    ds.PatientSex = p["PatientSex"]
    ds.StudyInstanceUID = p["study_uid"]
    ds.StudyID = p["StudyID"]
    ds.Manufacturer = "VolSeg reference generator"
    if series is not None:
        ds.SeriesInstanceUID = series.series_uid
        ds.SeriesNumber = series.number
        ds.SeriesDescription = series.description


def image_slice(series: SeriesInfo, st: Stack, s: int, instance_number: int,
                pixels: np.ndarray | None = None, ipp=None, iop=None) -> Dataset:
    """One single-frame CT/MR image of slice s of the stack."""
    sop_class = CT_IMAGE_STORAGE if series.modality == "CT" else MR_IMAGE_STORAGE
    sop_uid = uid("instance", series.name, series.series_uid, str(s), str(instance_number))
    ds = Dataset()
    ds.file_meta = file_meta(sop_class, sop_uid)
    common_header(ds, series.modality, series)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = STUDY_TIME
    ds.Modality = series.modality
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = PATIENTS[series.modality]["for_uid"]
    ds.PositionReferenceIndicator = ""
    ds.InstanceNumber = instance_number
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = STUDY_DATE
    ds.AcquisitionTime = STUDY_TIME
    ipp = st.ipp(s) if ipp is None else np.asarray(ipp, float)
    iop = st.iop() if iop is None else list(iop)
    ds.ImagePositionPatient = [ds_str(x, 6) for x in ipp]
    ds.ImageOrientationPatient = [ds_str(x) for x in iop]
    ds.PixelSpacing = [ds_str(st.row_spacing), ds_str(st.col_spacing)]
    ds.SliceThickness = ds_str(float(np.linalg.norm(st.step)), 4)
    # SliceLocation: position along the IOP normal.
    normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
    ds.SliceLocation = ds_str(float(np.dot(normal, ipp)), 6)
    px = st.stored[s] if pixels is None else pixels
    if series.modality == "CT":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = ""
        ds.RescaleIntercept = ds_str(series.intercept)
        ds.RescaleSlope = ds_str(series.slope)
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = ""
        ds.EchoTime = ""
        ds.EchoTrainLength = ""
    for k, v in series.extra.items():
        setattr(ds, k, v)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = series.photometric
    ds.Rows, ds.Columns = int(px.shape[0]), int(px.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = series.bits_stored
    ds.HighBit = series.bits_stored - 1
    ds.PixelRepresentation = series.pixel_representation
    dtype = "<i2" if series.pixel_representation else "<u2"
    lo, hi = ((-(1 << (series.bits_stored - 1)), (1 << (series.bits_stored - 1)) - 1)
              if series.pixel_representation else (0, (1 << series.bits_stored) - 1))
    assert px.min() >= lo and px.max() <= hi, (series.name, px.min(), px.max())
    ds.PixelData = np.ascontiguousarray(px).astype(dtype).tobytes()
    return ds


def fix_generated(ds: Dataset, name: str, source_order: list[str]):
    """Replace the creation dates/times and the random DimensionOrganizationUID that highdicom
    stamps with fixed ones, and put ReferencedInstanceSequence items in source slice order
    (highdicom's legacy converter lists them in a run-dependent order)."""
    dim_uid = uid("dimension-organization", name)
    rank = {u: i for i, u in enumerate(source_order)}
    for rs in ds.get("ReferencedSeriesSequence", []):
        if "ReferencedInstanceSequence" in rs:
            items = sorted(rs.ReferencedInstanceSequence,
                           key=lambda it: (rank.get(str(it.ReferencedSOPInstanceUID), len(rank)),
                                           str(it.ReferencedSOPInstanceUID)))
            rs.ReferencedInstanceSequence = DicomSequence(items)
    fixed = {"DA": STUDY_DATE, "TM": STUDY_TIME, "DT": STUDY_DATE + STUDY_TIME}
    keywords = {"InstanceCreationDate", "InstanceCreationTime", "ContentDate", "ContentTime",
                "SeriesDate", "SeriesTime", "ContributionDateTime"}

    def cb(dataset, elem):
        if elem.keyword in keywords and elem.VR in fixed:
            elem.value = fixed[elem.VR]
        elif elem.keyword == "DimensionOrganizationUID":
            elem.value = dim_uid

    ds.walk(cb)


def save(ds: Dataset, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_stack(series: SeriesInfo, st: Stack, folder: Path, instance_numbers=None,
                file_order=None, compress=None) -> list[Dataset]:
    """Writes slice s as file IM{file_order[s]:04d}.dcm with InstanceNumber instance_numbers[s]."""
    n = st.shape[0]
    instance_numbers = list(range(1, n + 1)) if instance_numbers is None else instance_numbers
    file_order = instance_numbers if file_order is None else file_order
    out = []
    for s in range(n):
        ds = image_slice(series, st, s, int(instance_numbers[s]))
        if compress is not None:
            ds.compress(compress, generate_instance_uid=False)
            back = pydicom.dcmread(pydicom.filebase.DicomBytesIO(_encoded(ds))).pixel_array
            assert np.array_equal(back, st.stored[s]), (series.name, s)
        save(ds, folder / f"IM{int(file_order[s]):04d}.dcm")
        out.append(ds)
    return out


def _encoded(ds: Dataset) -> bytes:
    buf = pydicom.filebase.DicomBytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def basic_text_sr(folder: Path):
    sop_uid = uid("instance", "non_image", "sr")
    ds = Dataset()
    ds.file_meta = file_meta(BASIC_TEXT_SR, sop_uid)
    series = SeriesInfo("non_image", "text report, no pixel data", 90, "SR")
    common_header(ds, "CT", series)
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = STUDY_TIME
    ds.Modality = "SR"
    ds.InstanceNumber = 1
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence([])
    ds.PerformedProcedureCodeSequence = DicomSequence([])
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"

    def code(value, scheme, meaning):
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
        return c

    ds.ConceptNameCodeSequence = DicomSequence([code("11528-7", "LN", "Radiology Report")])
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = DicomSequence([code("121071", "DCM", "Finding")])
    item.TextValue = "Reference object without pixel data; a volume reader must refuse this folder."
    ds.ContentSequence = DicomSequence([item])
    save(ds, folder / "IM0001.dcm")
    return series, ds


# --------------------------------------------------------------------------------------------
# dcm2niix and comparisons.


def gzip_deterministic(src: Path, dst: Path):
    """Re-gzip with mtime 0 and no file name so reruns give identical bytes (NIfTI bytes unchanged)."""
    raw = gzip.decompress(src.read_bytes())
    with open(dst, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
            g.write(raw)


def run_dcm2niix(name: str, series_dir: Path, tmp_root: Path) -> dict:
    out_dir = tmp_root / name
    out_dir.mkdir(parents=True)
    cmd = ["dcm2niix", "-z", "y", "-b", "n", "-f", name, "-o", str(out_dir), str(series_dir)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    text = (p.stdout + p.stderr).replace(str(out_dir), "OUTDIR").replace(str(series_dir), "SERIESDIR")
    lines = [ln for ln in text.splitlines()
             if ln.strip() and not ln.startswith("Chris Rorden") and "Conversion required" not in ln]
    files = sorted(f.name for f in out_dir.iterdir())
    return {"command": f"dcm2niix -z y -b n -f {name} -o OUTDIR SERIESDIR", "returncode": p.returncode,
            "files": files, "messages": lines, "_dir": out_dir}


def voxel_map(nii_affine: np.ndarray, truth_ras: np.ndarray, shape):
    """Integer map from a NIfTI index to the truth index (column, row, slice), or None."""
    m = np.linalg.inv(truth_ras) @ nii_affine
    mr = np.round(m)
    if np.abs(m - mr).max() > 1e-3:
        return None, float(np.abs(m - mr).max())
    idx = np.indices(shape).reshape(3, -1).astype(float)
    src = (mr[:3, :3] @ idx + mr[:3, 3:4]).astype(int)
    return (mr, src), float(np.abs(m - mr).max())


def describe_map(mr: np.ndarray) -> list[str]:
    names = ["column", "row", "slice"]
    out = []
    for a in range(3):
        t = int(np.argmax(np.abs(mr[:3, a])))
        sign = mr[t, a]
        out.append(names[t] if sign > 0 else f"reversed {names[t]}")
    return out


def nifti_summary(path: Path) -> dict:
    img = nib.load(str(path))
    data = img.get_fdata(dtype=np.float64)
    hdr = img.header
    slope, inter = img.dataobj.slope, img.dataobj.inter   # nibabel moves scl_* here on load
    can = nib.as_closest_canonical(img)
    return {
        "shape": list(img.shape),
        "datatype": str(img.get_data_dtype()),
        "affine": (np.round(img.affine, 6) + 0.0).tolist(),
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "axcodes": "".join(nib.aff2axcodes(img.affine)),
        "canonical_affine": (np.round(can.affine, 6) + 0.0).tolist(),
        "scl_slope": float(slope),
        "scl_inter": float(inter),
        "min": float(data.min()),
        "max": float(data.max()),
        "sum": float(data.sum()),
    }


def truth_volume(st: Stack, scaled: np.ndarray) -> np.ndarray:
    """(S,R,C) -> (C,R,S)."""
    return np.ascontiguousarray(scaled.transpose(2, 1, 0))


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default="/work/shared/data")
    args = ap.parse_args()
    shared = Path(args.shared)

    for sub in ("series", "dcm2niix", "labels", "seg"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    series_root = HERE / "series"

    # ---- sources -------------------------------------------------------------------------
    ct_img = nib.load(str(shared / "liver117/ct.nii.gz"))
    seg_img = nib.load(str(shared / "liver117/seg.nii.gz"))
    mr_img = nib.load(str(shared / "radiomics_brain1/image.nii.gz"))
    (i0, i1), (j0, j1), (k0, k1) = CT_CROP["i"], CT_CROP["j"], CT_CROP["k"]
    ct_hu = np.asarray(ct_img.dataobj, dtype=np.float64)[i0:i1, j0:j1, k0:k1]
    ct_lab = np.asarray(seg_img.dataobj).astype(np.uint8)[i0:i1, j0:j1, k0:k1]
    ct_aff = ct_img.affine @ np.array([[1, 0, 0, i0], [0, 1, 0, j0], [0, 0, 1, k0], [0, 0, 0, 1.0]])
    assert np.allclose(seg_img.affine, ct_img.affine)
    (a0, a1), (b0, b1), (c0, c1) = MR_CROP["i"], MR_CROP["j"], MR_CROP["k"]
    mr_val = np.asarray(mr_img.dataobj, dtype=np.float64)[a0:a1, b0:b1, c0:c1]
    mr_aff = mr_img.affine @ np.array([[1, 0, 0, a0], [0, 1, 0, b0], [0, 0, 1, c0], [0, 0, 0, 1.0]])
    assert np.all(mr_val == np.round(mr_val)) and mr_val.min() >= 0

    hu_int = np.round(ct_hu)                     # integer HU (round half to even)
    hu_half = np.round(ct_hu * 2) / 2            # HU on a 0.5 grid for the slope-0.5 series
    # CT (i->R, j->A, k->S): columns = reversed i (to L), rows = reversed j (to P), slices = k (to S).
    ct_stack = stack_from_nifti(hu_int + 1024, ct_lab, ct_aff, (0, 1, 2), (True, True, False))
    ct_stack.stored = ct_stack.stored.astype(np.int32)
    ct_stack = round_geometry(ct_stack)
    hu_stack = stack_from_nifti(hu_int, ct_lab, ct_aff, (0, 1, 2), (True, True, False))
    half_stack = stack_from_nifti(2 * (hu_half + 512), ct_lab, ct_aff, (0, 1, 2), (True, True, False))
    half_stack.stored = half_stack.stored.astype(np.int32)
    half_stack = round_geometry(half_stack)
    # MR (i->L, j->A, k->S): columns = i (to L), rows = reversed j (to P), slices = k (to S).
    mr_stack = round_geometry(stack_from_nifti(mr_val, None, mr_aff, (0, 1, 2), (False, True, False)))
    mr_stack.stored = mr_stack.stored.astype(np.int32)

    # Sanity: the DICOM grid of the CT stack maps back onto the crop exactly.
    back = np.linalg.inv(ct_aff) @ ct_stack.affine_ras()
    assert np.allclose(back, [[-1, 0, 0, 39], [0, -1, 0, 31], [0, 0, 1, 0], [0, 0, 0, 1]]), back

    ct_info = dict(modality="CT", bits_stored=12, pixel_representation=0, slope=1.0, intercept=-1024.0)
    mr_info = dict(modality="MR", bits_stored=12, pixel_representation=0)

    entries = []           # expected.json "series"
    truths = {}            # name -> (truth scaled volume (C,R,S), truth labels or None, truth RAS affine)

    def stack_geometry(st: Stack) -> dict:
        return {
            "image_orientation_patient": [float(x) for x in st.iop()],
            "pixel_spacing": [st.row_spacing, st.col_spacing],
            "first_position": [float(x) for x in st.ipp(0)],
            "slice_step": [float(x) for x in st.step],
            "affine_lps_column_row_slice": (np.round(st.affine_lps(), 6) + 0.0).tolist(),
            "affine_ras_column_row_slice": (np.round(st.affine_ras(), 6) + 0.0).tolist(),
        }

    def entry(name, exercises, readable, info: SeriesInfo | list, datasets, *, error=None,
              st: Stack | None = None, source=None, **more):
        infos = info if isinstance(info, list) else [info]
        first = datasets[0]
        e = {
            "name": name,
            "folder": f"series/{name}",
            "exercises": exercises,
            "readable": readable,
        }
        if error:
            e["error"] = error
        e.update({
            "series_instance_uids": [i.series_uid for i in infos],
            "study_instance_uid": str(first.StudyInstanceUID),
            "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "")) or None,
            "sop_class_uid": str(first.SOPClassUID),
            "transfer_syntax_uid": str(first.file_meta.TransferSyntaxUID),
            "modality": str(first.Modality),
            "files": len(datasets),
        })
        if "Rows" in first:
            e.update({
                "rows": int(first.Rows),
                "columns": int(first.Columns),
                "slices": int(first.get("NumberOfFrames", len(datasets))),
                "photometric_interpretation": str(first.PhotometricInterpretation),
                "bits_allocated": int(first.BitsAllocated),
                "bits_stored": int(first.BitsStored),
                "pixel_representation": int(first.PixelRepresentation),
                "rescale_slope": infos[0].slope,
                "rescale_intercept": infos[0].intercept,
            })
        if source:
            e["source"] = source
        if st is not None:
            e["geometry"] = stack_geometry(st)
        e.update(more)
        entries.append(e)
        return e

    ct_source = {"file": "liver117/ct.nii.gz", "labels": "liver117/seg.nii.gz",
                 "crop_ijk": [list(CT_CROP["i"]), list(CT_CROP["j"]), list(CT_CROP["k"])],
                 "crop_ras_affine": ct_aff.tolist(),
                 "hu": "float HU rounded to integers (round half to even), stored = HU + 1024",
                 "dicom_from_nifti": "column c = crop i reversed (39-c), row r = crop j reversed (31-r), "
                                     "slice s = crop k; world geometry preserved"}
    mr_source = {"file": "radiomics_brain1/image.nii.gz",
                 "crop_ijk": [list(MR_CROP["i"]), list(MR_CROP["j"]), list(MR_CROP["k"])],
                 "crop_ras_affine": mr_aff.tolist(),
                 "dicom_from_nifti": "column c = crop i, row r = crop j reversed (39-r), slice s = crop k"}

    ct_truth = (truth_volume(ct_stack, hu_stack.stored), truth_volume(ct_stack, ct_stack.labels),
                ct_stack.affine_ras())
    n_ct = ct_stack.shape[0]

    # 1 ct_axial
    info = SeriesInfo("ct_axial", "ct axial", 1, **ct_info)
    axial_ds = write_stack(info, ct_stack, series_root / "ct_axial")
    entry("ct_axial", "standard axial CT, IOP [1,0,0,0,1,0], InstanceNumber 1..14 ascending in z "
          "(inferior to superior), uint16 BitsStored 12, slope 1 intercept -1024", True, info, axial_ds,
          st=ct_stack, source=ct_source)
    truths["ct_axial"] = ct_truth

    # 2 ct_reversed
    info = SeriesInfo("ct_reversed", "ct axial reversed numbering", 2, **ct_info)
    ds_list = write_stack(info, ct_stack, series_root / "ct_reversed",
                          instance_numbers=[n_ct - s for s in range(n_ct)])
    entry("ct_reversed", "same volume as ct_axial, InstanceNumber 1 (IM0001) is the most superior slice; "
          "positions descend as InstanceNumber rises", True, info, ds_list, st=ct_stack, source=ct_source)
    truths["ct_reversed"] = ct_truth

    # 3 ct_oblique: rotate the crop's grid about its centre, 25 degrees about an axis (1, 1, 0).
    obl = ct_stack.copy()
    rot = rotation([1.0, 1.0, 0.0], 25.0)
    a = ct_stack.affine_lps()
    centre_idx = (np.array(ct_stack.shape[::-1], float) - 1) / 2        # (c, r, s)
    centre = a[:3, :3] @ centre_idx + a[:3, 3]
    obl.rowdir = rot @ ct_stack.rowdir
    obl.coldir = rot @ ct_stack.coldir
    obl.step = rot @ ct_stack.step
    obl.origin = centre - (rot @ a[:3, :3]) @ centre_idx
    obl = round_geometry(obl)
    obl.step = np.cross(obl.rowdir, obl.coldir) * 1.0                  # along the normal of the IOP
    obl.step = np.array([ds_val(x) for x in obl.step])
    info = SeriesInfo("ct_oblique", "ct oblique 25deg about (1,1,0)", 3, **ct_info)
    ds_list = write_stack(info, obl, series_root / "ct_oblique")
    entry("ct_oblique", "double-oblique CT: ct_axial's pixels on a grid rotated 25 degrees about the LPS "
          "axis (1,1,0) through the crop centre; positions step 1 mm along the IOP normal "
          "(row x column); geometry is self-consistent, not anatomically exact", True, info, ds_list,
          st=obl, source=ct_source)
    truths["ct_oblique"] = (ct_truth[0], ct_truth[1], obl.affine_ras())

    # 4 ct_shuffled
    rng = np.random.default_rng(20240115)
    while True:
        file_order = rng.permutation(n_ct) + 1
        inst = rng.permutation(n_ct) + 1
        ident = np.arange(1, n_ct + 1)
        if all(not np.array_equal(x, y) for x in (file_order, inst) for y in (ident, ident[::-1])) \
                and not np.array_equal(file_order, inst):
            break
    info = SeriesInfo("ct_shuffled", "ct axial shuffled", 4, **ct_info)
    ds_list = write_stack(info, ct_stack, series_root / "ct_shuffled", instance_numbers=inst.tolist(),
                          file_order=file_order.tolist())
    entry("ct_shuffled", "ct_axial with file names and InstanceNumbers both in seeded random orders that "
          "differ from the spatial order; only ImagePositionPatient orders the slices", True, info, ds_list,
          st=ct_stack, source=ct_source,
          slice_order={"file_number_of_slice": file_order.tolist(),
                       "instance_number_of_slice": inst.tolist(),
                       "note": "index = slice in ascending z (0 = most inferior)"})
    truths["ct_shuffled"] = ct_truth

    # 5 ct_rle
    info = SeriesInfo("ct_rle", "ct axial RLE", 5, **ct_info)
    ds_list = write_stack(info, ct_stack, series_root / "ct_rle", compress=RLELossless)
    entry("ct_rle", "ct_axial recompressed to RLE Lossless (1.2.840.10008.1.2.5), pydicom's encoder",
          True, info, ds_list, st=ct_stack, source=ct_source)
    truths["ct_rle"] = ct_truth

    # 6 ct_enhanced
    info = SeriesInfo("ct_enhanced", "ct enhanced multi-frame", 6, **ct_info)
    enh = hd.legacy.LegacyConvertedEnhancedCTImage(
        legacy_datasets=axial_ds, series_instance_uid=info.series_uid, series_number=info.number,
        sop_instance_uid=uid("instance", "ct_enhanced"), instance_number=1)
    fix_generated(enh, "ct_enhanced", [str(d.SOPInstanceUID) for d in axial_ds])
    enh.SeriesDescription = info.description
    save(enh, series_root / "ct_enhanced" / "IM0001.dcm")
    enh_frames = []
    for f in enh.PerFrameFunctionalGroupsSequence:
        enh_frames.append([float(x) for x in f.PlanePositionSequence[0].ImagePositionPatient])
    entry("ct_enhanced", "Legacy Converted Enhanced CT Image (1.2.840.10008.5.1.4.1.1.2.2), one file with "
          "14 frames, made by highdicom from the ct_axial slices; per-frame PlanePositionSequence, shared "
          "PlaneOrientation/PixelMeasures; highdicom orders the frames by descending z (frame 1 is "
          "the most superior slice)", True, info, [enh], st=ct_stack, source=ct_source,
          frame_positions=enh_frames)
    truths["ct_enhanced"] = ct_truth

    # 6b ct_slope_half
    info = SeriesInfo("ct_slope_half", "ct axial slope 0.5 signed", 7, modality="CT", bits_stored=16,
                      pixel_representation=1, slope=0.5, intercept=-512.0)
    ds_list = write_stack(info, half_stack, series_root / "ct_slope_half")
    src = dict(ct_source)
    src["hu"] = "float HU rounded to 0.5 (round(2*HU)/2, half to even), stored = 2*(HU+512), signed"
    entry("ct_slope_half", "ct_axial geometry with int16 (PixelRepresentation 1, BitsStored 16) stored "
          "values including negatives, RescaleSlope 0.5, RescaleIntercept -512", True, info, ds_list,
          st=half_stack, source=src)
    truths["ct_slope_half"] = (truth_volume(half_stack, half_stack.stored * 0.5 - 512),
                               ct_truth[1], half_stack.affine_ras())

    # 7 mr_axial
    info = SeriesInfo("mr_axial", "mr t1 axial", 1, **mr_info)
    ds_list = write_stack(info, mr_stack, series_root / "mr_axial")
    mr_truth = truth_volume(mr_stack, mr_stack.stored.astype(float))
    entry("mr_axial", "brain MRI crop as stored (columns to L, rows to P, slices to S), 0.78125 mm "
          "pixels, 6.5 mm slices, uint16 BitsStored 12, no rescale", True, info, ds_list, st=mr_stack,
          source=mr_source)
    truths["mr_axial"] = (mr_truth, None, mr_stack.affine_ras())

    # 8 mr_nonsquare
    ns = mr_stack.copy()
    ns.row_spacing, ns.col_spacing = 0.8, 1.2
    info = SeriesInfo("mr_nonsquare", "mr non-square pixels", 2, **mr_info)
    ds_list = write_stack(info, ns, series_root / "mr_nonsquare")
    entry("mr_nonsquare", "mr_axial pixels with PixelSpacing [0.8, 1.2] (0.8 mm between rows, 1.2 mm "
          "between columns), same first position and slice step; nothing resampled", True, info, ds_list,
          st=ns, source=mr_source)
    truths["mr_nonsquare"] = (mr_truth, None, ns.affine_ras())

    # 9 mr_monochrome1: stored = 4000 - MRI value (BitsStored 12). The offset 4000 (not 4095) keeps
    # max(stored) = 4000 < 2^12-1 = 4095, so the usual inversion rules give different results.
    m1 = mr_stack.copy()
    m1.stored = M1_OFFSET - mr_stack.stored
    info = SeriesInfo("mr_monochrome1", "mr monochrome1", 3, photometric="MONOCHROME1", **mr_info)
    ds_list = write_stack(info, m1, series_root / "mr_monochrome1")
    smin, smax = int(m1.stored.min()), int(m1.stored.max())
    vmin = int(mr_stack.stored.min())

    def stats(a):
        return {"min": int(a.min()), "max": int(a.max()), "sum": int(a.sum())}

    m1_rules = {
        "unchanged (stored)": {"equals": f"{M1_OFFSET} - mr_axial", **stats(m1.stored)},
        "(2^BitsStored-1) - stored": {"equals": f"mr_axial + {4095 - M1_OFFSET}",
                                      **stats(4095 - m1.stored)},
        "max(stored over the volume) - stored": {"equals": f"mr_axial + {vmin}" if vmin else "mr_axial",
                                                 **stats(smax - m1.stored)},
        "max + min (over the volume) - stored": {"equals": f"mr_axial + {smin + vmin}",
                                                 **stats(smax + smin - m1.stored)},
    }
    entry("mr_monochrome1", f"MONOCHROME1: stored value = {M1_OFFSET} - MRI value (BitsStored 12, "
          f"stored {smin}..{smax}); dcm2niix 1.0.20220720 ignores MONOCHROME1 and writes the stored "
          "values unchanged; `inversion_rules` gives what each common inversion rule yields", True,
          info, ds_list, st=m1, source=mr_source, stored_values=stats(m1.stored),
          inversion_rules=m1_rules)
    truths["mr_monochrome1"] = (truth_volume(m1, m1.stored.astype(float)), None, m1.affine_ras())

    # 10 pydicom_ct_small
    ct_small = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    (series_root / "pydicom_ct_small").mkdir()
    shutil.copyfile(ct_small, series_root / "pydicom_ct_small" / "IM0001.dcm")
    small = pydicom.dcmread(ct_small)
    small_st = Stack(stored=small.pixel_array[None].astype(np.int32),
                     rowdir=np.array([float(x) for x in small.ImageOrientationPatient[:3]]),
                     coldir=np.array([float(x) for x in small.ImageOrientationPatient[3:]]),
                     row_spacing=float(small.PixelSpacing[0]), col_spacing=float(small.PixelSpacing[1]),
                     origin=np.array([float(x) for x in small.ImagePositionPatient]),
                     step=np.cross([float(x) for x in small.ImageOrientationPatient[:3]],
                                   [float(x) for x in small.ImageOrientationPatient[3:]])
                     * float(small.SliceThickness))
    small_info = SeriesInfo("pydicom_ct_small", str(small.get("SeriesDescription", "")),
                            int(small.get("SeriesNumber", 0) or 0), "CT",
                            bits_stored=int(small.BitsStored), pixel_representation=int(small.PixelRepresentation),
                            slope=float(small.RescaleSlope), intercept=float(small.RescaleIntercept),
                            series_uid=str(small.SeriesInstanceUID))
    entry("pydicom_ct_small", "single-slice CT from pydicom's test data (CT_small.dcm, 128x128, "
          "int16, a real scanner header), copied unchanged", True, small_info, [small], st=small_st,
          source={"file": "pydicom/data/test_files/CT_small.dcm (pydicom 3.0.2 wheel)",
                  "origin": "downsized to 128x128 from NEMA WG04 CT1_UNC (pydicom test_files/README.txt)"})
    truths["pydicom_ct_small"] = (truth_volume(small_st, small_st.stored * float(small.RescaleSlope)
                                               + float(small.RescaleIntercept)), None, small_st.affine_ras())

    # ---- malformed -----------------------------------------------------------------------
    mid = n_ct // 2   # slice 7

    # 11 ct_missing_slice
    info = SeriesInfo("ct_missing_slice", "ct axial missing slice", 11, **ct_info)
    ds_list = [d for i, d in enumerate(write_stack(info, ct_stack, series_root / "ct_missing_slice"))
               if i != mid]
    (series_root / "ct_missing_slice" / f"IM{mid + 1:04d}.dcm").unlink()
    entry("ct_missing_slice", f"ct_axial with slice {mid + 1} (IM{mid + 1:04d}, InstanceNumber {mid + 1}, "
          f"z step 2 mm there) removed; 13 files", False, info, ds_list, error="missing-slice",
          st=ct_stack, removed_slice_index=mid)

    # 12 ct_nonuniform
    nu = ct_stack.copy()
    nu.positions = [ct_stack.ipp(s) + (np.array([0, 0, 0.1]) if s > mid else 0) for s in range(n_ct)]
    info = SeriesInfo("ct_nonuniform", "ct axial non-uniform spacing", 12, **ct_info)
    ds_list = write_stack(info, nu, series_root / "ct_nonuniform")
    steps = [float(nu.positions[s + 1][2] - nu.positions[s][2]) for s in range(n_ct - 1)]
    entry("ct_nonuniform", f"ct_axial with slices {mid + 2}..{n_ct} moved 0.1 mm up: one step is 1.1 mm, "
          "the other 12 are 1.0 mm (10% off, < 1.5x the median)", False, info, ds_list,
          error="non-uniform-spacing", slice_steps_z=[round(x, 4) for x in steps])

    # 13 ct_two_series
    info_a = SeriesInfo("ct_two_series_a", "ct axial (first of two)", 13, **ct_info)
    info_b = SeriesInfo("ct_two_series_b", "ct axial subset (second of two)", 14, **ct_info)
    sub = ct_stack.copy()
    sub.stored = ct_stack.stored[3:11]
    sub.labels = ct_stack.labels[3:11]
    sub.origin = ct_stack.ipp(3)
    folder = series_root / "ct_two_series"
    ds_a = write_stack(info_a, ct_stack, folder)
    ds_b = write_stack(info_b, sub, folder, instance_numbers=list(range(1, 9)),
                       file_order=list(range(n_ct + 1, n_ct + 9)))
    entry("ct_two_series", "one folder with two complete series of the same study: IM0001-IM0014 the "
          "ct_axial volume (SeriesNumber 13), IM0015-IM0022 slices 4-11 of it (SeriesNumber 14, "
          "InstanceNumbers 1-8) with another SeriesInstanceUID", False, [info_a, info_b], ds_a + ds_b,
          error="several-series", files_per_series=[len(ds_a), len(ds_b)])

    # 14 ct_gantry_tilt
    tilt = ct_stack.copy()
    tilt_deg = 15.0
    tilt.step = np.array([0.0, ds_val(math.tan(math.radians(tilt_deg))), 1.0])
    info = SeriesInfo("ct_gantry_tilt", "ct gantry tilt 15", 15, extra={"GantryDetectorTilt": "15"},
                      **ct_info)
    ds_list = write_stack(info, tilt, series_root / "ct_gantry_tilt")
    entry("ct_gantry_tilt", "GantryDetectorTilt 15, IOP axial [1,0,0,0,1,0], but each slice's IPP is "
          "shifted in +y (posterior) by tan(15 deg) = 0.267949 mm per 1 mm in z: the stack is sheared, "
          "the direction between positions is not the IOP normal", False, info, ds_list,
          error="gantry-tilt", st=tilt)

    # 15 ct_mixed_size
    info = SeriesInfo("ct_mixed_size", "ct axial mixed size", 16, **ct_info)
    folder = series_root / "ct_mixed_size"
    ds_list = []
    for s in range(n_ct):
        px = ct_stack.stored[s][:, :36] if s == mid else None
        d = image_slice(info, ct_stack, s, s + 1, pixels=px)
        save(d, folder / f"IM{s + 1:04d}.dcm")
        ds_list.append(d)
    entry("ct_mixed_size", f"ct_axial with slice {mid + 1} (IM{mid + 1:04d}) cut to 32 rows x 36 columns "
          "(the others are 32 x 40)", False, info, ds_list, error="mixed-size",
          odd_slice={"index": mid, "file": f"IM{mid + 1:04d}.dcm", "rows": 32, "columns": 36})

    # 16 ct_mixed_orientation
    info = SeriesInfo("ct_mixed_orientation", "ct axial mixed orientation", 17, **ct_info)
    folder = series_root / "ct_mixed_orientation"
    r10 = rotation([1, 0, 0], 10.0)
    odd_iop = [ds_val(x) for x in [*(r10 @ ct_stack.rowdir), *(r10 @ ct_stack.coldir)]]
    ds_list = []
    for s in range(n_ct):
        d = image_slice(info, ct_stack, s, s + 1, iop=odd_iop if s == mid else None)
        save(d, folder / f"IM{s + 1:04d}.dcm")
        ds_list.append(d)
    entry("ct_mixed_orientation", f"ct_axial with slice {mid + 1} (IM{mid + 1:04d}) given IOP {odd_iop} "
          "(rotated 10 degrees about x), same IPP", False, info, ds_list, error="mixed-orientation",
          odd_slice={"index": mid, "file": f"IM{mid + 1:04d}.dcm", "image_orientation_patient": odd_iop})

    # 17 ct_jpeg2000
    info = SeriesInfo("ct_jpeg2000", "ct axial JPEG 2000 lossless", 18, **ct_info)
    ds_list = write_stack(info, ct_stack, series_root / "ct_jpeg2000", compress=JPEG2000Lossless)
    entry("ct_jpeg2000", "ct_axial compressed as JPEG 2000 Lossless (1.2.840.10008.1.2.4.90) with "
          "pylibjpeg-openjpeg; DCMTK's free toolkit cannot decode it, so VolSeg must refuse it",
          False, info, ds_list, error="undecodable-transfer-syntax", st=ct_stack)

    # 18 non_image
    sr_info, sr = basic_text_sr(series_root / "non_image")
    entry("non_image", "one Basic Text SR (1.2.840.10008.5.1.4.1.1.88.11), no PixelData", False, sr_info,
          [sr], error="non-image")

    # ---- dcm2niix ------------------------------------------------------------------------
    monochrome1_rule = None
    with tempfile.TemporaryDirectory(prefix="volseg_dcm2niix_") as tmp:
        tmp = Path(tmp)
        for e in entries:
            name = e["name"]
            r = run_dcm2niix(name, series_root / name, tmp)
            out_dir = r.pop("_dir")
            niis = [f for f in r["files"] if f.endswith(".nii.gz") or f.endswith(".nii")]
            d2n = {k: v for k, v in r.items()}
            if not e["readable"]:
                d2n["note"] = "not stored; dcm2niix's behaviour on this malformed series"
                if niis:
                    d2n["outputs"] = {f: nifti_summary(out_dir / f) for f in niis}
                    ref = np.asarray(nib.load(str(HERE / "dcm2niix/ct_axial.nii.gz")).dataobj)
                    for f in niis:
                        got = np.asarray(nib.load(str(out_dir / f)).dataobj)
                        d2n["outputs"][f]["same_voxels_as_dcm2niix_ct_axial"] = bool(
                            got.shape == ref.shape and np.array_equal(got, ref))
                e["dcm2niix"] = d2n
                continue
            if len(niis) != 1:
                d2n["note"] = f"dcm2niix wrote {len(niis)} NIfTI files"
                e["dcm2niix"] = d2n
                continue
            written = niis[0]
            stored_as = HERE / "dcm2niix" / f"{name}.nii.gz"
            gzip_deterministic(out_dir / written, stored_as)
            d2n["stored_as"] = f"dcm2niix/{name}.nii.gz"
            if written != f"{name}.nii.gz":
                d2n["renamed_from"] = written
            d2n.update(nifti_summary(stored_as))
            img = nib.load(str(stored_as))
            data = np.asarray(img.get_fdata(dtype=np.float64))
            while data.ndim > 3:
                assert data.shape[-1] == 1
                data = data[..., 0]
            tv, tl, ta = truths[name]
            vm, err = voxel_map(img.affine, ta, data.shape)
            d2n["affine_vs_dicom_grid_max_index_error"] = err
            if vm is None:
                d2n["matches_dicom"] = False
                d2n["note"] = "dcm2niix's affine is not a flip/permutation of the DICOM grid"
            else:
                mr, srcidx = vm
                inside = all((srcidx[a] >= 0).all() and (srcidx[a] < tv.shape[a]).all() for a in range(3))
                d2n["nifti_axes"] = describe_map(mr)
                expect = tv[srcidx[0], srcidx[1], srcidx[2]].reshape(data.shape) if inside else None
                if name == "mr_monochrome1":
                    stored = tv[srcidx[0], srcidx[1], srcidx[2]].reshape(data.shape)
                    cands = {
                        "unchanged": stored,
                        "(2^BitsStored-1) - stored": 4095 - stored,
                        "max(stored over the volume) - stored": stored.max() - stored,
                        "max(stored) + min(stored) - stored": stored.max() + stored.min() - stored,
                        "65535 - stored": 65535 - stored,
                        "-stored": -stored,
                    }
                    hits = [k for k, v in cands.items() if np.array_equal(v, data)]
                    monochrome1_rule = hits[0] if hits else "none of the candidate rules"
                    d2n["monochrome1_rule"] = monochrome1_rule
                    d2n["monochrome1_candidates_max_abs_diff"] = {
                        k: float(np.abs(v - data).max()) for k, v in cands.items()}
                    if hits:
                        expect = cands[hits[0]]
                d2n["matches_dicom"] = bool(inside and np.array_equal(expect, data))
                if inside and not d2n["matches_dicom"]:
                    d2n["max_abs_diff_vs_dicom"] = float(np.abs(expect - data).max())
                if tl is not None and inside:
                    lab = tl[srcidx[0], srcidx[1], srcidx[2]].reshape(data.shape).astype(np.uint8)
                    limg = nib.Nifti1Image(lab, img.affine)
                    limg.set_qform(img.get_qform(), code=int(img.header["qform_code"]))
                    limg.set_sform(img.get_sform(), code=int(img.header["sform_code"]))
                    lpath = HERE / "labels" / f"{name}.nii.gz"
                    tmp_l = tmp / f"{name}_labels.nii.gz"
                    nib.save(limg, str(tmp_l))
                    gzip_deterministic(tmp_l, lpath)
                    counts = {str(k): int((lab == k).sum()) for k in range(3)}
                    e["labels"] = {"file": f"labels/{name}.nii.gz", "names": LABEL_NAMES,
                                   "voxel_counts": counts,
                                   "grid": "same shape/affine/qform/sform as the dcm2niix file"}
            e["dcm2niix"] = d2n

    # ---- checks of the main reference ----------------------------------------------------
    ax = nib.load(str(HERE / "dcm2niix/ct_axial.nii.gz"))
    can = nib.as_closest_canonical(ax)
    assert np.abs(can.affine - ct_aff).max() < 1e-3, (can.affine, ct_aff)
    assert np.array_equal(np.asarray(can.get_fdata()).reshape(hu_int.shape), hu_int)
    lab_can = nib.as_closest_canonical(nib.load(str(HERE / "labels/ct_axial.nii.gz")))
    assert np.array_equal(np.asarray(lab_can.dataobj), ct_lab)
    # The MRI crop is stored L,A,S like dcm2niix's output: same affine and voxels, no reorientation.
    mr_nii = nib.load(str(HERE / "dcm2niix/mr_axial.nii.gz"))
    assert np.abs(mr_nii.affine - mr_aff).max() < 1e-3
    assert np.array_equal(np.asarray(mr_nii.get_fdata()).reshape(mr_val.shape), mr_val)
    m1_nii = nib.load(str(HERE / "dcm2niix/mr_monochrome1.nii.gz"))
    assert np.array_equal(M1_OFFSET - np.asarray(m1_nii.get_fdata()).reshape(mr_val.shape), mr_val)

    # ---- SEG made with highdicom, read back with read_seg.py -----------------------------
    seg_entries = make_seg(axial_ds, ct_stack)

    # ---- expected.json -------------------------------------------------------------------
    dcm2niix_version = subprocess.run(["dcm2niix", "-v"], capture_output=True, text=True)
    version_line = next((ln for ln in (dcm2niix_version.stdout + dcm2niix_version.stderr).splitlines()
                         if "version" in ln), "")
    doc = {
        "generator": "Tests/References/dicom/make_reference.py",
        "versions": {
            "python": sys.version.split()[0],
            "pydicom": pydicom.__version__,
            "highdicom": hd.__version__,
            "nibabel": nib.__version__,
            "numpy": np.__version__,
            "dcm2niix": version_line.strip(),
        },
        "conventions": {
            "dicom_world": "LPS",
            "nifti_world": "RAS (x_RAS = -x_LPS, y_RAS = -y_LPS)",
            "affine_ras_column_row_slice": "maps (column, row, slice index in ascending position along "
                                           "the slice step) to RAS mm; slice 0 = geometry.first_position",
            "values": "min/max/sum in dcm2niix are of nibabel's scaled values (get_fdata)",
        },
        "label_names": LABEL_NAMES,
        "monochrome1": {
            "dcm2niix_rule": monochrome1_rule,
            "series": "mr_monochrome1",
            "stored": f"{M1_OFFSET} - mr_axial value (BitsStored 12)",
            "dcm2niix": "does not invert: it ignores MONOCHROME1 (its DICOM parser only checks "
                        "PhotometricInterpretation for PALETTE COLOR) and writes stored*slope+intercept",
            "inversion_rules": "see series mr_monochrome1 inversion_rules: (2^BitsStored-1) - stored "
                               f"gives mr_axial + {4095 - M1_OFFSET}; max(stored over the volume) - "
                               "stored gives mr_axial; dcm2niix gives the stored values",
        },
        "series": entries,
        "seg": seg_entries,
    }
    (HERE / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    total = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file())
    print(f"wrote {len(entries)} series; folder size {total} bytes; MONOCHROME1 rule: {monochrome1_rule}")


def make_seg(axial_ds: list[Dataset], st: Stack) -> list[dict]:
    """A BINARY and a LABELMAP DICOM SEG of the liver117 labels on ct_axial, and read_seg's reading."""
    liver = hd.seg.SegmentDescription(
        segment_number=1, segment_label="liver",
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Liver,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    tumour = hd.seg.SegmentDescription(
        segment_number=2, segment_label="tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    out = []
    for seg_type, number in (("BINARY", 101), ("LABELMAP", 102)):
        name = f"highdicom_ct_axial{'' if seg_type == 'BINARY' else '_labelmap'}"
        seg = hd.seg.Segmentation(
            source_images=axial_ds,
            pixel_array=st.labels.astype(np.uint8),       # (frames = ct_axial files in order, rows, cols)
            segmentation_type=seg_type,
            segment_descriptions=[liver, tumour],
            series_instance_uid=uid("series", name),
            series_number=number,
            sop_instance_uid=uid("instance", name),
            instance_number=1,
            manufacturer="VolSeg reference generator",
            manufacturer_model_name="make_reference.py",
            software_versions=f"highdicom {hd.__version__}",
            device_serial_number="0",
            series_description=f"liver117 labels, highdicom {seg_type}",
            content_label="LIVER117")
        fix_generated(seg, name, [str(d.SOPInstanceUID) for d in axial_ds])
        path = HERE / "seg" / f"{name}.dcm"
        seg.save_as(path, enforce_file_format=True)
        prefix = HERE / "seg" / name
        info = read_seg.read_seg(path, prefix)
        back = nib.load(str(prefix) + ".nii.gz")
        # Compare with the ct_axial label file on dcm2niix's grid (via canonical orientation).
        ref = nib.as_closest_canonical(nib.load(str(HERE / "labels/ct_axial.nii.gz")))
        got = nib.as_closest_canonical(back)
        same_grid = bool(np.abs(ref.affine - got.affine).max() < 1e-3 and ref.shape == got.shape)
        same = bool(same_grid and np.array_equal(np.asarray(ref.dataobj), np.asarray(got.dataobj)))
        assert same, name
        out.append({
            "name": name,
            "file": f"seg/{name}.dcm",
            "segmentation_type": seg_type,
            "read_seg_outputs": [f"seg/{name}.json", f"seg/{name}.nii.gz"],
            "source_series": "ct_axial",
            "segments": {"1": "liver", "2": "tumour"},
            "number_of_frames": info["number_of_frames"],
            "equals_labels_ct_axial_after_canonical_reorientation": same,
        })
    return out


if __name__ == "__main__":
    main()
