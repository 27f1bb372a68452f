#!/usr/bin/env python3
"""Makes the evaluation reference pairs and MedPy's values for them.

Predictions are made by perturbing real label maps from ../shared/data (erosion, shift, a dropped
lesion, in-plane dilation, a removed label), cropped to keep the committed files small. Crops cut
through structures on purpose, so that voxels on the volume's edge (where MedPy's erosion counts the
outside as background) are exercised.

Run once, from the repository root:
    python3 -m venv /tmp/medpy && /tmp/medpy/bin/pip install medpy nibabel
    /tmp/medpy/bin/python Tests/References/medpy/make_references.py [--shared ../shared]
It writes pairs/pred/CASE.nii.gz, pairs/ref/CASE.nii.gz and expected.json beside this script.

expected.json holds, per case and label (a set of label values): MedPy's dc, jc, hd95, hd, asd in
both directions, MedPy's own assd, and "assd" as VolSeg defines it (the mean of the two directed
average surface distances, MedPy <= 0.4's assd; MedPy 0.5 pools both directions instead, kept as
"assd_medpy_pooled"), with voxel counts computed with numpy.
"""
import argparse
import json
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

import medpy
from medpy.metric import binary

HERE = os.path.dirname(os.path.abspath(__file__))


def load(shared, relative):
    image = nib.load(os.path.join(shared, relative))
    return np.asanyarray(image.dataobj).astype(np.uint8), image.affine, image.header.get_zooms()[:3]


def crop(array, affine, box):
    """Crops array[x0:x1, y0:y1, z0:z1] and moves the affine's origin to the crop's first voxel."""
    slices = tuple(slice(a, b) for a, b in box)
    out = affine.copy()
    out[:3, 3] = affine[:3, :3] @ np.array([a for a, _ in box], dtype=float) + affine[:3, 3]
    return np.ascontiguousarray(array[slices]), out


def with_spacing(affine, spacing):
    """The same orientation with other voxel sizes (a metadata perturbation: x, y, z all differ)."""
    out = affine.copy()
    for axis in range(3):
        column = out[:3, axis]
        out[:3, axis] = column / np.linalg.norm(column) * spacing[axis]
    return out


def shift(array, offsets):
    """Shifts by whole voxels, filling with background (no wrap-around)."""
    out = np.zeros_like(array)
    src = [slice(max(0, -o), array.shape[a] - max(0, o)) for a, o in enumerate(offsets)]
    dst = [slice(max(0, o), array.shape[a] - max(0, -o)) for a, o in enumerate(offsets)]
    out[tuple(dst)] = array[tuple(src)]
    return out


def save(array, affine, spacing, path):
    image = nib.Nifti1Image(array.astype(np.uint8), affine)
    image.header.set_zooms(spacing)
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=1)
    image.header.set_zooms(spacing)
    nib.save(image, path)


def make_pairs(shared):
    face = ndimage.generate_binary_structure(3, 1)
    pairs = []

    # Liver CT labels (1 liver, 2 tumours), 1 mm: erode the liver by one voxel, drop the largest lesion.
    seg, affine, spacing = load(shared, "liver117/seg.nii.gz")
    ref, ref_affine = crop(seg, affine, [(16, 112), (16, 112), (24, 104)])
    pred = ref.copy()
    eroded_liver = ndimage.binary_erosion(ref > 0, structure=face)
    pred[(ref > 0) & ~eroded_liver] = 0
    lesions, count = ndimage.label(ref == 2)
    sizes = ndimage.sum(ref == 2, lesions, range(1, count + 1))
    pred[(lesions == 1 + int(np.argmax(sizes))) & (pred > 0)] = 1
    pairs.append(("liver_erode_droplesion", pred, ref, ref_affine, spacing,
                  {"1": [1], "2": [2], "liver": [1, 2], "tumour": [2]}))

    # The same labels shifted by (2, -1, 1) voxels, on a grid with x, y, z spacings all different,
    # so that a spacing applied in the wrong axis order changes every distance.
    ref, ref_affine = crop(seg, affine, [(0, 80), (20, 110), (40, 128)])
    aniso = (0.7, 0.9, 2.0)
    ref_affine = with_spacing(ref_affine, aniso)
    pred = shift(ref, (2, -1, 1))
    pairs.append(("liver_shift_aniso", pred, ref, ref_affine, aniso,
                  {"1": [1], "2": [2], "liver": [1, 2], "tumour": [2]}))

    # Brain MRI tumour outline at 0.78 x 0.78 x 6.5 mm: dilate in-plane twice, drop the top slice.
    label, affine, spacing = load(shared, "radiomics_brain1/label.nii.gz")
    ref, ref_affine = crop(label, affine, [(150, 220), (75, 165), (8, 21)])
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    pred = ndimage.binary_dilation(ref > 0, structure=in_plane, iterations=2).astype(np.uint8)
    top = np.argwhere(ref > 0)[:, 2].max()
    pred[:, :, top] = 0
    pairs.append(("brain_tumour_aniso", pred, ref, ref_affine, spacing, {"1": [1]}))

    # Head skull-strip tissue classes (4, 5, 6) at 2 x 2 x 3 mm: shift one voxel along y and lose
    # label 4 entirely (a label empty in the prediction only).
    labels, affine, spacing = load(shared, "itk_head_t1/skullstrip_labels.nii.gz")
    ref = labels
    pred = shift(ref, (0, 1, 0))
    pred[pred == 4] = 5
    pairs.append(("head_tissue_shift", pred, ref, affine, spacing,
                  {"4": [4], "5": [5], "6": [6], "brain": [4, 5, 6]}))
    return pairs


def metrics(pred, ref, spacing):
    p, r = pred.astype(bool), ref.astype(bool)
    tp = int(np.count_nonzero(p & r))
    fp = int(np.count_nonzero(p & ~r))
    fn = int(np.count_nonzero(~p & r))
    out = {"tp": tp, "fp": fp, "fn": fn, "tn": int(p.size - tp - fp - fn),
           "n_pred": int(p.sum()), "n_ref": int(r.sum())}
    if p.any() or r.any():
        out["dc"] = float(binary.dc(p, r))
        out["jc"] = float(binary.jc(p, r))
    if p.any() and r.any():
        asd_pred_ref = float(binary.asd(p, r, voxelspacing=spacing))
        asd_ref_pred = float(binary.asd(r, p, voxelspacing=spacing))
        out.update({
            "hd95": float(binary.hd95(p, r, voxelspacing=spacing)),
            "hd": float(binary.hd(p, r, voxelspacing=spacing)),
            "asd_pred_ref": asd_pred_ref,
            "asd_ref_pred": asd_ref_pred,
            "assd": (asd_pred_ref + asd_ref_pred) / 2,
            "assd_medpy_pooled": float(binary.assd(p, r, voxelspacing=spacing)),
        })
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "..", "shared", "data"))
    args = parser.parse_args()
    shared = args.shared if os.path.isdir(os.path.join(args.shared, "liver117")) else os.path.join(args.shared, "data")
    for sub in ("pred", "ref"):
        os.makedirs(os.path.join(HERE, "pairs", sub), exist_ok=True)
    cases = []
    for name, pred, ref, affine, spacing, labels in make_pairs(shared):
        spacing = tuple(float(s) for s in spacing)
        save(pred, affine, spacing, os.path.join(HERE, "pairs", "pred", name + ".nii.gz"))
        save(ref, affine, spacing, os.path.join(HERE, "pairs", "ref", name + ".nii.gz"))
        # Metrics are computed on the arrays as written and read back (float32 spacing as stored).
        stored = nib.load(os.path.join(HERE, "pairs", "ref", name + ".nii.gz"))
        stored_spacing = tuple(float(s) for s in stored.header.get_zooms()[:3])
        pred = np.asanyarray(nib.load(os.path.join(HERE, "pairs", "pred", name + ".nii.gz")).dataobj)
        ref = np.asanyarray(stored.dataobj)
        entry = {"case": name, "shape_xyz": list(ref.shape), "spacing_xyz": list(stored_spacing), "labels": {}}
        for label, values in labels.items():
            result = metrics(np.isin(pred, values), np.isin(ref, values), stored_spacing)
            entry["labels"][label] = {"values": values, **result}
        cases.append(entry)
        print(name, ref.shape, stored_spacing, {k: round(v.get("dc", float("nan")), 4) for k, v in entry["labels"].items()})
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"medpy_version": medpy.__version__ if hasattr(medpy, "__version__") else "unknown",
                   "numpy_version": np.__version__, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
