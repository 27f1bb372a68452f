#!/usr/bin/env python3
"""Makes the evaluation reference pairs and the values the real peer tools compute for them.

Peers (called, never copied): nnU-Net v2 (compute_metrics_on_folder), MONAI (compute_hausdorff_distance,
compute_average_surface_distance), MedPy 0.5 (hd95, hd, asd, assd), DeepMind surface-distance (PyPI
`surface-distance` 0.1) and the BraTS-2023 lesion-wise metrics code (github rachitsaluja/BraTS-2023-Metrics,
metrics.py, not on PyPI).

Label pairs are made by perturbing REAL label maps from the shared data folder (erosion, dilation, shift, a
dropped lesion, a removed label, anisotropic spacing); see make_label_cases and make_brats_cases for the rules.

Two virtual environments, both outside the repository:

    # 1. the main one (numpy 2): nnU-Net, MONAI, MedPy
    python3 -m venv /work/venvs/eval
    /work/venvs/eval/bin/pip install nnunetv2 monai medpy nibabel scipy numpy connected-components-3d pandas \
        surface-distance
    # 2. a Python 3.10, numpy<2 one with the BraTS repository's own pins (requirements.txt) for the BraTS code
    #    (it calls DataFrame.append, gone in pandas 2; pandas 1.5 fails in its DataFrame.replace(np.inf, 374) on
    #    the column of arrays; pandas 1.3.4 has no Python 3.11 wheel) and for DeepMind's surface-distance (whose
    #    empty-surface branches use np.Inf, gone in numpy 2)
    python3.10 -m venv /work/venvs/brats
    /work/venvs/brats/bin/pip install numpy==1.24.3 pandas==1.3.4 scipy==1.11.1 nibabel==5.1.0 \
        connected-components-3d==3.12.1 surface-distance==0.1
    # 3. the BraTS-2023 code: a snapshot of github rachitsaluja/BraTS-2023-Metrics extracted outside the repo,
    #    e.g. git --git-dir=<bare clone> archive HEAD | tar -x -C /work/venvs/brats-src
    #    (it holds metrics.py and its own older copy of surface_distance/, which the BraTS code imports), and
    #    write the snapshot's commit id to /work/venvs/brats-src/COMMIT (recorded in lesionwise.json)

Run from the repository root:

    /work/venvs/eval/bin/python Tests/References/evaluation/make_references.py \
        --shared /work/shared/data --brats-src /work/venvs/brats-src --numpy1-python /work/venvs/brats/bin/python

It writes, beside this script: labels/{gt,pred}/*.nii.gz, brats/{gt,pred}/*.nii.gz, nnunet_labels/summary.json,
nnunet_labels_ignore/summary.json, nnunet_regions/summary.json, nnunet_brats_labels/summary.json, surface.json,
lesionwise.json. README.md beside it describes them. The output is deterministic (gzip mtime 0, fixed rules,
sorted keys, relative paths handed to nnU-Net).

Internal: the same file is re-run by the numpy<2 interpreter as `make_references.py _numpy1 MODE IN.json OUT.json`
(MODE deepmind or lesionwise); that path imports only numpy/nibabel/scipy/pandas/cc3d and the peer code.
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

LABEL_FOLDER_LABELS = [1, 2]
LABEL_FOLDER_IGNORE = 3
BRATS_LABELS = [1, 2, 3]
BRATS_REGIONS = {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}
BRATS_CHALLENGES = ["BraTS-GLI", "BraTS-MEN", "BraTS-MET"]


# --------------------------------------------------------------------------------------------------------------
# small helpers (shared by both interpreters)

def finite_or_none(value, special, key):
    """A JSON-safe number: NaN/inf become null and special[key] says which."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        special[key] = "nan"
        return None
    if math.isinf(value):
        special[key] = "inf" if value > 0 else "-inf"
        return None
    return value


def dump_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")


def mask_of(array, values):
    return np.isin(array, list(values))


# --------------------------------------------------------------------------------------------------------------
# making the cases (main interpreter)

def load(shared, relative):
    import nibabel as nib
    image = nib.load(os.path.join(shared, relative))
    return np.asanyarray(image.dataobj).astype(np.uint8), image.affine.copy()


def crop(array, affine, box):
    """Crops array[x0:x1, y0:y1, z0:z1] and moves the affine's origin to the crop's first voxel."""
    slices = tuple(slice(a, b) for a, b in box)
    out = affine.copy()
    out[:3, 3] = affine[:3, :3] @ np.array([a for a, _ in box], dtype=float) + affine[:3, 3]
    return np.ascontiguousarray(array[slices]), out


def with_spacing(affine, spacing):
    """The same orientation with other voxel sizes (x, y, z all differ)."""
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


def in_plane_structure():
    s = np.zeros((3, 3, 3), dtype=bool)
    from scipy import ndimage
    s[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    return s


def save(array, affine, path):
    """uint8 NIfTI-1, qform and sform code 1, units mm, gzip with mtime 0 (byte-identical reruns)."""
    import nibabel as nib
    image = nib.Nifti1Image(np.asarray(array, dtype=np.uint8), affine)
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    with open(path, "wb") as f:
        f.write(gzip.compress(image.to_bytes(), compresslevel=9, mtime=0))


def components(mask):
    """26-connected components (scipy), largest first; ties by first voxel in C order."""
    from scipy import ndimage
    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = sorted(range(1, count + 1), key=lambda i: (-sizes[i - 1], i))
    return labels, [(i, int(sizes[i - 1])) for i in order]


def make_label_cases(shared):
    """Integer-label pairs, labels 1 and 2 in every case (3 = ignore value in one gt)."""
    from scipy import ndimage
    face = ndimage.generate_binary_structure(3, 1)
    cases = []

    # Brain MRI tumour (label 1) at 0.78 x 0.78 x 6.5 mm; label 2 is empty in gt and pred (nnU-Net Dice NaN).
    # pred: in-plane dilation x2, top tumour slice dropped.
    label, affine = load(shared, "radiomics_brain1/label.nii.gz")
    gt, gt_affine = crop(label, affine, [(150, 220), (75, 165), (8, 21)])
    gt = (gt > 0).astype(np.uint8)
    pred = ndimage.binary_dilation(gt > 0, structure=in_plane_structure(), iterations=2).astype(np.uint8)
    top = np.argwhere(gt > 0)[:, 2].max()
    pred[:, :, top] = 0
    cases.append(("brain_tumour_dilate", gt, pred, gt_affine,
                  "radiomics_brain1 tumour -> 1; label 2 empty in both; pred: in-plane dilation x2 (4-conn), "
                  "top tumour slice removed"))

    # Head skull-strip classes at 2 x 2 x 3 mm: 6 -> 1, 5 -> 2, 4 -> 3 (the ignore value) in gt; gt also marks
    # four coronal slices (axis 2, 30..33) of the brain as 3 ("not annotated"). pred: the same tissue map with
    # 4 -> 2 (no ignore value), shifted by +1 voxel along axis 1.
    labels, affine = load(shared, "itk_head_t1/skullstrip_labels.nii.gz")
    tissue = np.zeros_like(labels)
    tissue[labels == 6] = 1
    tissue[labels == 5] = 2
    tissue[labels == 4] = 2
    gt = tissue.copy()
    gt[labels == 4] = LABEL_FOLDER_IGNORE
    slab = np.zeros_like(gt, dtype=bool)
    slab[:, :, 30:34] = True
    gt[slab & (labels > 0)] = LABEL_FOLDER_IGNORE
    pred = shift(tissue, (0, 1, 0))
    cases.append(("head_tissue_ignore", gt, pred, affine,
                  "itk_head_t1 skull-strip classes 6->1, 5->2, 4->3 (ignore) in gt, plus gt brain voxels of axis-2 "
                  "slices 30..33 set to 3 (ignore); pred: 6->1, 5->2, 4->2, shifted +1 voxel along axis 1"))

    seg, affine = load(shared, "liver117/seg.nii.gz")

    # Liver 1 mm: erode the whole labelled region by one voxel (face), turn the largest lesion into liver.
    gt, gt_affine = crop(seg, affine, [(20, 100), (30, 110), (10, 70)])
    pred = gt.copy()
    eroded = ndimage.binary_erosion(gt > 0, structure=face)
    pred[(gt > 0) & ~eroded] = 0
    lesions, order = components(gt == 2)
    pred[(lesions == order[0][0]) & (pred > 0)] = 1
    cases.append(("liver_erode_droplesion", gt, pred, gt_affine,
                  "liver117 crop; pred: labelled region eroded 1 voxel (6-conn), largest lesion relabelled liver"))

    # Liver 1 mm: no tumour in pred (label 2 empty in pred only); pred liver = gt 1|2 dilated by one voxel (face).
    gt, gt_affine = crop(seg, affine, [(60, 124), (0, 64), (60, 124)])
    pred = ndimage.binary_dilation(gt > 0, structure=face).astype(np.uint8)
    cases.append(("liver_notumour_pred", gt, pred, gt_affine,
                  "liver117 crop; pred: everything labelled becomes liver (label 2 empty in pred), dilated 1 voxel "
                  "(6-conn)"))

    # Liver on an anisotropic grid (0.7, 0.9, 2.0 mm): shift (2, -1, 1) voxels, tumours dilated 1 voxel (18-conn).
    gt, gt_affine = crop(seg, affine, [(0, 80), (20, 100), (40, 100)])
    gt_affine = with_spacing(gt_affine, (0.7, 0.9, 2.0))
    pred = shift(gt, (2, -1, 1))
    pred[ndimage.binary_dilation(pred == 2, structure=ndimage.generate_binary_structure(3, 2))] = 2
    cases.append(("liver_shift_aniso", gt, pred, gt_affine,
                  "liver117 crop relabelled at 0.7x0.9x2.0 mm; pred: shift (2,-1,1) voxels, tumour dilated 1 voxel "
                  "(18-conn)"))
    return cases


def brats_rule(tumour, core_structure, core_iterations, edema_structure, edema_iterations, enhancing=True):
    """BraTS-2023 labels from a tumour mask: 1 NCR = tumour eroded core_iterations times (the core), 3 ET = the
    rest of the tumour (its rim; if enhancing is False the rim is NCR too, so ET is empty), 2 ED = the tumour
    dilated edema_iterations times minus the tumour."""
    from scipy import ndimage
    out = np.zeros(tumour.shape, dtype=np.uint8)
    if tumour.any():
        out[ndimage.binary_dilation(tumour, structure=edema_structure, iterations=edema_iterations)] = 2
        out[tumour] = 3 if enhancing else 1
        out[ndimage.binary_erosion(tumour, structure=core_structure, iterations=core_iterations)] = 1
    return out


def far_points(avoid, count, min_distance, margin):
    """Deterministic points far from `avoid`: repeatedly the (first) argmax of the distance to avoid, inside a
    margin from the volume's faces."""
    from scipy import ndimage
    avoid = avoid.copy()
    points = []
    for _ in range(count):
        distance = ndimage.distance_transform_edt(~avoid)
        inner = np.zeros_like(avoid)
        inner[tuple(slice(m, s - m) for m, s in zip(margin, avoid.shape))] = True
        distance[~inner] = 0
        index = np.unravel_index(int(np.argmax(distance)), distance.shape)
        assert distance[index] >= min_distance, (distance[index], min_distance)
        points.append(index)
        ball = np.zeros_like(avoid)
        ball[index] = True
        avoid |= ndimage.binary_dilation(ball, iterations=min_distance)
    return points


def ball(shape, centre, radius):
    grid = np.indices(shape)
    return sum((grid[a] - centre[a]) ** 2 for a in range(3)) <= radius * radius


def make_brats_cases(shared):
    """BraTS-2023-style pairs (1 NCR, 2 ED, 3 ET) from liver117 tumour lesions and the radiomics_brain1 tumour."""
    from scipy import ndimage
    face = ndimage.generate_binary_structure(3, 1)
    edge18 = ndimage.generate_binary_structure(3, 2)
    seg, affine = load(shared, "liver117/seg.nii.gz")
    cases = []

    def rule(t, **kw):
        args = dict(core_structure=face, core_iterations=2, edema_structure=face, edema_iterations=2)
        args.update(kw)
        return brats_rule(t, **args)

    # A: 22 lesions (several tiny) that merge under dilation; pred: shifted (1,1,0), two false-positive blobs
    # (an ET ball of radius 2, 33 voxels, and a 4x4x4 ED-only cube) far from everything.
    gt_seg, gt_affine = crop(seg, affine, [(0, 64), (40, 104), (0, 56)])
    tumour = gt_seg == 2
    gt = rule(tumour)
    pred = rule(shift(tumour, (1, 1, 0)))
    p1, p2 = far_points((gt > 0) | (pred > 0), 2, 6, (4, 4, 4))
    pred[ball(pred.shape, p1, 2)] = 3
    pred[tuple(slice(c - 2, c + 2) for c in p2)] = 2
    cases.append(("brats_liver_a_shift_fp", gt, pred, gt_affine,
                  "liver117 crop A; gt: rule(core 2x6-conn erosion, ED 2x6-conn dilation); pred: rule on tumours "
                  f"shifted (1,1,0) + FP ET ball r=2 at {list(map(int, p1))} + FP ED cube 4^3 at "
                  f"{[int(c) - 2 for c in p2]}..+4"))

    # B: pred drops the third-largest lesion and one tiny lesion (20..49 voxels), and uses a thinner rim/edema
    # (core erosion 1, edema dilation 1).
    gt_seg, gt_affine = crop(seg, affine, [(0, 48), (20, 84), (20, 68)])
    tumour = gt_seg == 2
    gt = rule(tumour)
    lesions, order = components(tumour)
    dropped = order[2]
    tiny = [c for c in order if 20 <= c[1] < 50][0]
    kept = tumour & (lesions != dropped[0]) & (lesions != tiny[0])
    pred = rule(kept, core_iterations=1, edema_iterations=1)
    cases.append(("brats_liver_b_droplesion", gt, pred, gt_affine,
                  f"liver117 crop B; gt: rule; pred: lesions of {dropped[1]} and {tiny[1]} voxels removed, rule with "
                  "core erosion 1 and ED dilation 1"))

    # C: no enhancing tumour anywhere (ET empty in gt and pred); pred tumours dilated 1 voxel (6-conn).
    gt_seg, gt_affine = crop(seg, affine, [(64, 128), (0, 64), (64, 128)])
    tumour = gt_seg == 2
    gt = rule(tumour, enhancing=False)
    pred = rule(ndimage.binary_dilation(tumour, structure=face), enhancing=False)
    cases.append(("brats_liver_c_no_et", gt, pred, gt_affine,
                  "liver117 crop C; gt and pred: rule with the rim labelled NCR (ET empty in both); pred tumours "
                  "dilated 1 voxel (6-conn)"))

    # D: ET empty in gt only: gt without ET, pred with ET rims; pred tumours eroded 1 voxel (18-conn), which
    # removes the smallest lesions.
    gt_seg, gt_affine = crop(seg, affine, [(40, 104), (0, 64), (40, 96)])
    tumour = gt_seg == 2
    gt = rule(tumour, enhancing=False)
    pred = rule(ndimage.binary_erosion(tumour, structure=edge18))
    cases.append(("brats_liver_d_et_pred_only", gt, pred, gt_affine,
                  "liver117 crop D; gt: rule with the rim labelled NCR (no ET); pred: rule with ET rims on tumours "
                  "eroded 1 voxel (18-conn)"))

    # E: the brain tumour at 0.78 x 0.78 x 6.5 mm (3.97 mm^3 a voxel) with in-plane rules (core: 2 in-plane
    # erosions, ED: 4 in-plane dilations), plus two small ET boxes added to the gt: 4x4x1 = 16 voxels
    # (63.5 mm^3: above 50 mm^3 although under 50 voxels) and 3x3x1 = 9 voxels (35.7 mm^3: under 50 mm^3, over
    # 2 mm^3). pred: tumour dilated 1 in-plane, the 16-voxel box shifted +1 along x, the 9-voxel box missed, and a
    # false-positive 2x2x1 ET box (4 voxels, 15.9 mm^3).
    label, affine_b = load(shared, "radiomics_brain1/label.nii.gz")
    gt_seg, gt_affine = crop(label, affine_b, [(140, 230), (65, 175), (6, 23)])
    tumour = gt_seg > 0
    plane = in_plane_structure()
    gt = brats_rule(tumour, plane, 2, plane, 4)
    pred = brats_rule(ndimage.binary_dilation(tumour, structure=plane), plane, 2, plane, 4)
    wt = (gt > 0) | (pred > 0)
    q16, q9, qfp = far_points(wt, 3, 10, (8, 8, 2))
    gt[q16[0]:q16[0] + 4, q16[1]:q16[1] + 4, q16[2]] = 3
    gt[q9[0]:q9[0] + 3, q9[1]:q9[1] + 3, q9[2]] = 3
    pred[q16[0] + 1:q16[0] + 5, q16[1]:q16[1] + 4, q16[2]] = 3
    pred[qfp[0]:qfp[0] + 2, qfp[1]:qfp[1] + 2, qfp[2]] = 3
    cases.append(("brats_brain_aniso", gt, pred, gt_affine,
                  "radiomics_brain1 tumour; in-plane rule (core 2 in-plane erosions, ED 4 in-plane dilations); gt "
                  f"ET boxes 4x4x1 at {list(map(int, q16))} and 3x3x1 at {list(map(int, q9))}; pred: tumour "
                  f"dilated 1 in-plane, 4x4x1 box shifted +1 x, 3x3x1 box missing, FP ET box 2x2x1 at "
                  f"{list(map(int, qfp))}"))

    # F: pred entirely empty.
    gt_seg, gt_affine = crop(seg, affine, [(80, 128), (60, 108), (0, 48)])
    gt = rule(gt_seg == 2)
    pred = np.zeros_like(gt)
    cases.append(("brats_liver_e_empty_pred", gt, pred, gt_affine, "liver117 crop E; gt: rule; pred: empty"))
    return cases


def write_cases(folder, cases):
    import nibabel as nib
    for sub in ("gt", "pred"):
        os.makedirs(os.path.join(HERE, folder, sub), exist_ok=True)
        for name in os.listdir(os.path.join(HERE, folder, sub)):
            if name.endswith(".nii.gz"):
                os.remove(os.path.join(HERE, folder, sub, name))
    described = []
    for name, gt, pred, affine, how in cases:
        assert gt.shape == pred.shape
        save(gt, affine, os.path.join(HERE, folder, "gt", name + ".nii.gz"))
        save(pred, affine, os.path.join(HERE, folder, "pred", name + ".nii.gz"))
        stored = nib.load(os.path.join(HERE, folder, "gt", name + ".nii.gz"))
        described.append({
            "case": name,
            "file": name + ".nii.gz",
            "shape_xyz": [int(s) for s in stored.shape],
            "spacing_xyz": [float(s) for s in stored.header.get_zooms()[:3]],
            "how": how,
        })
    return described


def read_case(folder, name):
    """Arrays as nibabel reads them (axis order x, y, z = NIfTI i, j, k) and the float32 zooms as floats."""
    import nibabel as nib
    gt_image = nib.load(os.path.join(HERE, folder, "gt", name + ".nii.gz"))
    pred_image = nib.load(os.path.join(HERE, folder, "pred", name + ".nii.gz"))
    spacing = [float(s) for s in gt_image.header.get_zooms()[:3]]
    return np.asanyarray(gt_image.dataobj), np.asanyarray(pred_image.dataobj), spacing


# --------------------------------------------------------------------------------------------------------------
# nnU-Net (main interpreter)

def run_nnunet():
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    runs = [
        ("nnunet_labels", "labels", LABEL_FOLDER_LABELS, None),
        ("nnunet_labels_ignore", "labels", LABEL_FOLDER_LABELS, LABEL_FOLDER_IGNORE),
        ("nnunet_regions", "brats", [BRATS_REGIONS["WT"], BRATS_REGIONS["TC"], BRATS_REGIONS["ET"]], None),
        ("nnunet_brats_labels", "brats", BRATS_LABELS, None),
    ]
    old = os.getcwd()
    os.chdir(HERE)  # relative folders, so the paths nnU-Net stores are the same on every checkout
    try:
        for out, folder, regions_or_labels, ignore in runs:
            os.makedirs(out, exist_ok=True)
            compute_metrics_on_folder(os.path.join(folder, "gt"), os.path.join(folder, "pred"),
                                      os.path.join(out, "summary.json"), SimpleITKIO(), ".nii.gz",
                                      regions_or_labels, ignore_label=ignore, num_processes=1, chill=False)
    finally:
        os.chdir(old)
    return [{"output": f"{out}/summary.json", "folder": folder, "regions_or_labels": [list(r) if isinstance(r, tuple)
             else r for r in rl], "regions_or_labels_python": repr(rl), "ignore_label": ig}
            for out, folder, rl, ig in runs]


# --------------------------------------------------------------------------------------------------------------
# MONAI and MedPy (main interpreter)

def counts(gt_mask, pred_mask):
    tp = int(np.count_nonzero(gt_mask & pred_mask))
    fp = int(np.count_nonzero(~gt_mask & pred_mask))
    fn = int(np.count_nonzero(gt_mask & ~pred_mask))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(gt_mask.size - tp - fp - fn),
            "n_pred": int(pred_mask.sum()), "n_ref": int(gt_mask.sum())}


def monai_metrics(gt_mask, pred_mask, spacing):
    import warnings
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance
    y_pred = np.stack([~pred_mask, pred_mask])[None]  # one-hot [B=1, C=2 (background, label), X, Y, Z]
    y = np.stack([~gt_mask, gt_mask])[None]
    common = dict(include_background=False, distance_metric="euclidean", spacing=list(spacing))
    out, special, warned = {}, {}, []
    calls = {
        "hd95": lambda: compute_hausdorff_distance(y_pred, y, percentile=95, directed=False, **common),
        "hd": lambda: compute_hausdorff_distance(y_pred, y, percentile=None, directed=False, **common),
        "hd95_directed_pred_to_gt": lambda: compute_hausdorff_distance(y_pred, y, percentile=95, directed=True,
                                                                       **common),
        "hd95_directed_gt_to_pred": lambda: compute_hausdorff_distance(y, y_pred, percentile=95, directed=True,
                                                                       **common),
        "assd_symmetric": lambda: compute_average_surface_distance(y_pred, y, symmetric=True, **common),
        "asd_pred_to_gt": lambda: compute_average_surface_distance(y_pred, y, symmetric=False, **common),
        "asd_gt_to_pred": lambda: compute_average_surface_distance(y, y_pred, symmetric=False, **common),
    }
    for key, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = float(call().reshape(-1)[0])
                out[key] = finite_or_none(value, special, key)
            except Exception as error:  # noqa: BLE001 - record whatever the peer raises
                out[key] = None
                special[key] = f"error: {type(error).__name__}: {error}"
        for w in caught:
            text = str(w.message)
            if "all 0" in text and text not in warned:
                warned.append(text)
    if special:
        out["special"] = special
    if warned:
        out["warnings"] = warned
    return out


def medpy_metrics(gt_mask, pred_mask, spacing):
    from medpy.metric import binary
    out, special = {}, {}
    calls = {
        "hd95": lambda: binary.hd95(pred_mask, gt_mask, voxelspacing=spacing),
        "hd": lambda: binary.hd(pred_mask, gt_mask, voxelspacing=spacing),
        "asd_pred_to_gt": lambda: binary.asd(pred_mask, gt_mask, voxelspacing=spacing),
        "asd_gt_to_pred": lambda: binary.asd(gt_mask, pred_mask, voxelspacing=spacing),
        "assd": lambda: binary.assd(pred_mask, gt_mask, voxelspacing=spacing),
        "dc": lambda: binary.dc(pred_mask, gt_mask),
    }
    for key, call in calls.items():
        try:
            out[key] = finite_or_none(call(), special, key)
        except Exception as error:  # noqa: BLE001
            out[key] = None
            special[key] = f"error: {type(error).__name__}: {error}"
    if special:
        out["special"] = special
    return out


def independent_monai_check(gt_mask, pred_mask, spacing):
    """Our own re-implementation of the conventions described in the notes (not peer code): edges = mask minus
    its 6-connected erosion with the outside as background; directed distances = exact Euclidean distance (mm)
    from each edge voxel centre to the nearest edge voxel centre of the other mask; percentile = linear
    interpolation (torch.quantile) on float32; symmetric HD95 = max of the two directed HD95; symmetric ASSD =
    mean of the pooled directed distances. MedPy: hd95 = numpy percentile of the pooled distances. Returns None
    when a side is empty."""
    import torch
    from scipy import ndimage
    if not gt_mask.any() or not pred_mask.any():
        return None

    def edge(m):
        return m & ~ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(3, 1), border_value=0)

    e_gt, e_pred = edge(gt_mask), edge(pred_mask)
    d_gt = ndimage.distance_transform_edt(~e_gt, sampling=spacing)
    d_pred = ndimage.distance_transform_edt(~e_pred, sampling=spacing)
    a = d_gt[e_pred].astype(np.float32)  # pred -> gt
    b = d_pred[e_gt].astype(np.float32)  # gt -> pred
    q = lambda v: float(torch.quantile(torch.from_numpy(v), 0.95))  # noqa: E731
    pooled = np.concatenate([d_gt[e_pred], d_pred[e_gt]])
    return {"monai_hd95": max(q(a), q(b)), "monai_hd": float(max(a.max(), b.max())),
            "monai_assd_symmetric": float(torch.from_numpy(np.concatenate([a, b])).mean()),
            "medpy_hd95": float(np.percentile(pooled, 95)), "medpy_assd": float(pooled.mean())}


def label_sets(folder):
    if folder == "labels":
        return [(str(v), [v]) for v in LABEL_FOLDER_LABELS]
    return [(str(v), [v]) for v in BRATS_LABELS] + [(k, list(v)) for k, v in BRATS_REGIONS.items()]


def deepmind_numpy2_probe():
    """What PyPI surface-distance 0.1 does on numpy 2 when one side is empty (its code uses np.Inf)."""
    try:
        import surface_distance
        gt = np.zeros((6, 6, 6), dtype=bool)
        gt[2:4, 2:4, 2:4] = True
        sd = surface_distance.compute_surface_distances(gt, np.zeros_like(gt), (1.0, 1.0, 1.0))
        return f"ran: robust HD95 = {surface_distance.compute_robust_hausdorff(sd, 95)}"
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------------------------------------------
# numpy<2 interpreter: DeepMind surface-distance and the BraTS-2023 code

def numpy1_deepmind(request):
    import surface_distance
    from surface_distance import metrics as sd_metrics
    results = {"module_file": os.path.abspath(surface_distance.__file__), "numpy": np.__version__, "cases": {}}
    for case in request["cases"]:
        gt, pred, spacing = read_case(case["folder"], case["case"])
        per_label = {}
        for key, values in case["label_sets"]:
            g, p = mask_of(gt, values), mask_of(pred, values)
            out, special = {}, {}
            try:
                sd = sd_metrics.compute_surface_distances(g, p, spacing)
            except Exception as error:  # noqa: BLE001
                per_label[key] = {"error": f"{type(error).__name__}: {error}"}
                continue
            out["n_surfels_gt"] = int(len(sd["surfel_areas_gt"]))
            out["n_surfels_pred"] = int(len(sd["surfel_areas_pred"]))
            out["surface_area_gt_mm2"] = float(np.sum(sd["surfel_areas_gt"]))
            out["surface_area_pred_mm2"] = float(np.sum(sd["surfel_areas_pred"]))
            calls = {
                "robust_hd95": lambda: sd_metrics.compute_robust_hausdorff(sd, 95),
                "robust_hd100": lambda: sd_metrics.compute_robust_hausdorff(sd, 100),
                "asd_gt_to_pred": lambda: sd_metrics.compute_average_surface_distance(sd)[0],
                "asd_pred_to_gt": lambda: sd_metrics.compute_average_surface_distance(sd)[1],
                "surface_dice_1mm": lambda: sd_metrics.compute_surface_dice_at_tolerance(sd, 1.0),
                "surface_dice_2mm": lambda: sd_metrics.compute_surface_dice_at_tolerance(sd, 2.0),
                "surface_overlap_1mm_gt": lambda: sd_metrics.compute_surface_overlap_at_tolerance(sd, 1.0)[0],
                "surface_overlap_1mm_pred": lambda: sd_metrics.compute_surface_overlap_at_tolerance(sd, 1.0)[1],
            }
            import warnings
            for name, call in calls.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        out[name] = finite_or_none(call(), special, name)
                    except Exception as error:  # noqa: BLE001
                        out[name] = None
                        special[name] = f"error: {type(error).__name__}: {error}"
            if special:
                out["special"] = special
            per_label[key] = out
        results["cases"][case["case"]] = per_label
    return results


def numpy1_lesionwise(request):
    import warnings
    warnings.simplefilter("ignore")  # pandas FutureWarning on DataFrame.append, RuntimeWarning on 0/0
    sys.path.insert(0, request["brats_src"])
    import cc3d
    import pandas as pd
    import scipy
    import scipy.ndimage
    import surface_distance
    import metrics as brats  # BraTS-2023-Metrics/metrics.py

    assert os.path.dirname(os.path.abspath(brats.__file__)) == os.path.abspath(request["brats_src"])
    parameters = {"BraTS-GLI": (3, 50), "BraTS-SSA": (3, 50), "BraTS-MEN": (1, 50), "BraTS-PED": (3, 50),
                  "BraTS-MET": (1, 2)}  # (dilation_factor, lesion_volume_thresh) as read from get_LesionWiseResults

    def clean(value):
        if isinstance(value, (np.integer,)):
            return int(value)
        if isinstance(value, (np.floating, float)):
            v = float(value)
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return v
        if isinstance(value, np.ndarray):
            return [clean(v) for v in value.tolist()]
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    def describe_components(label_map):
        out = []
        for comp in range(1, int(np.max(label_map)) + 1 if label_map.size else 1):
            voxels = np.argwhere(label_map == comp)
            if len(voxels) == 0:
                out.append({"id": comp, "voxels": 0})
                continue
            out.append({"id": comp, "voxels": int(len(voxels)),
                        "centroid_xyz": [round(float(c), 4) for c in voxels.mean(axis=0)],
                        "bbox_min_xyz": [int(c) for c in voxels.min(axis=0)],
                        "bbox_max_xyz": [int(c) for c in voxels.max(axis=0)]})
        return out

    results = {"metrics_py": os.path.abspath(brats.__file__),
               "surface_distance_used_by_brats": os.path.abspath(surface_distance.__file__),
               "versions": {"numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__,
                            "cc3d": getattr(cc3d, "__version__", "unknown")},
               "cases": {}}
    for case in request["cases"]:
        gt_file = os.path.join(HERE, "brats", "gt", case + ".nii.gz")
        pred_file = os.path.join(HERE, "brats", "pred", case + ".nii.gz")
        per_challenge = {}
        for challenge in request["challenges"]:
            dilation, threshold = parameters[challenge]
            summary = brats.get_LesionWiseResults(pred_file, gt_file, challenge)
            summary_records = [{k: clean(v) for k, v in row.items()} for row in summary.to_dict(orient="records")]
            regions = {}
            for region in ("WT", "TC", "ET"):
                tp, fn, fp, gt_tp, metric_pairs, full_dice, full_hd95, full_gt_vol, full_pred_vol, sens, spec = \
                    brats.get_LesionWiseScores(prediction_seg=pred_file, gt_seg=gt_file, label_value=region,
                                               dil_factor=dilation)
                # The labelled maps that get_LesionWiseScores builds internally, rebuilt with the same peer calls so
                # that each gt lesion id can be matched by position (ids are cc3d's, not a convention).
                import nibabel as nib
                pred_mat = nib.load(pred_file).get_fdata()
                gt_mat = nib.load(gt_file).get_fdata()
                pred_mat, gt_mat = brats.get_TissueWiseSeg(prediction_matrix=pred_mat, gt_matrix=gt_mat,
                                                           tissue_type=region)
                struct = scipy.ndimage.generate_binary_structure(3, 2)
                gt_cc = cc3d.connected_components(gt_mat, connectivity=26)
                pred_cc = cc3d.connected_components(pred_mat, connectivity=26)
                gt_dil_cc = cc3d.connected_components(
                    scipy.ndimage.binary_dilation(gt_mat, structure=struct, iterations=dilation), connectivity=26)
                combined = brats.get_GTseg_combinedByDilation(gt_dilated_cc_mat=gt_dil_cc, gt_label_cc=gt_cc)
                lesions = []
                for pred_ids, gt_id, gt_vol, dice, hd95 in metric_pairs:
                    lesions.append({"gt_lesion_number": int(gt_id), "predicted_lesion_numbers": clean(pred_ids),
                                    "gt_lesion_vol_mm3": clean(gt_vol), "dice_lesionwise": clean(dice),
                                    "hd95_lesionwise": clean(hd95),
                                    "counted": bool(gt_vol > threshold)})
                regions[region] = {
                    "tp_pred_ids": clean(tp), "fn_gt_ids": clean(fn), "fp_pred_ids": clean(fp),
                    "gt_tp_ids": clean(gt_tp), "full_dice": clean(full_dice), "full_hd95": clean(full_hd95),
                    "full_gt_vol_mm3": clean(full_gt_vol), "full_pred_vol_mm3": clean(full_pred_vol),
                    "sensitivity": clean(sens), "specificity": clean(spec),
                    "n_gt_components_before_merge": int(np.max(gt_cc)),
                    "lesions": lesions,
                    "gt_lesions_combined": describe_components(combined),
                    "pred_components": describe_components(pred_cc),
                }
            per_challenge[challenge] = {"dilation_factor": dilation, "lesion_volume_thresh_mm3": threshold,
                                        "summary": summary_records, "regions": regions}
        results["cases"][case] = per_challenge
    return results


def numpy1_main(argv):
    mode, request_path, out_path = argv
    with open(request_path) as f:
        request = json.load(f)
    result = numpy1_deepmind(request) if mode == "deepmind" else numpy1_lesionwise(request)
    with open(out_path, "w") as f:
        json.dump(result, f)


def call_numpy1(python, mode, request):
    with tempfile.TemporaryDirectory() as tmp:
        request_path, out_path = os.path.join(tmp, "request.json"), os.path.join(tmp, "out.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        subprocess.run([python, os.path.abspath(__file__), "_numpy1", mode, request_path, out_path], check=True,
                       cwd=HERE, env=env)
        with open(out_path) as f:
            return json.load(f)


def numpy1_versions(python):
    code = ("import json, importlib.metadata as m\n"
            "print(json.dumps({p: m.version(p) for p in ['numpy', 'pandas', 'scipy', 'nibabel', "
            "'connected-components-3d', 'surface-distance']}))")
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


# --------------------------------------------------------------------------------------------------------------
# notes

MONAI_NOTES = {
    "call": "compute_hausdorff_distance(y_pred, y, include_background=False, distance_metric='euclidean', "
            "percentile=95 (or None for the maximum), directed=False, spacing=[sx, sy, sz]) and "
            "compute_average_surface_distance(y_pred, y, include_background=False, symmetric=True|False, "
            "distance_metric='euclidean', spacing=[sx, sy, sz]); y_pred and y one-hot numpy bool arrays of shape "
            "[1, 2, X, Y, Z] (channel 0 background, dropped by include_background=False). spacing is in the array's "
            "axis order (nibabel x, y, z = NIfTI i, j, k); it must be a list of Python floats. "
            "*_directed_* entries use directed=True (and swap the arguments for gt->pred); asd_gt_to_pred swaps "
            "the arguments of compute_average_surface_distance(symmetric=False).",
    "edges": "monai.metrics.utils.get_mask_edges(crop=True, spacing=None): the union bounding box is cropped with "
             "a margin of 1 voxel (CropForeground, allow_smaller=False, so outside the image counts as background), "
             "then edges = mask XOR scipy.ndimage.binary_erosion(mask) (default 6-connected cross, border_value 0): "
             "a foreground voxel with at least one face neighbour that is background or outside the volume. "
             "(HD and ASD never pass use_subvoxels, so the subvoxel/areas path is unused.)",
    "distances": "get_surface_distance: on CPU with scipy, a KDTree over the gt edge voxel centres scaled by spacing "
                 "(float64), query each pred edge voxel -> exact Euclidean mm distance from each edge voxel to the "
                 "nearest edge voxel of the other mask (edge-to-edge, voxel centres), cast to float32.",
    "percentile": "torch.quantile(distances_float32, percentile / 100): linear interpolation between order "
                  "statistics (numpy 'linear' / type 7); percentile None -> max.",
    "hd_symmetric": "directed=False: the directed percentile is computed for pred->gt and gt->pred separately and "
                    "the result is max(p95(pred->gt), p95(gt->pred)) (NOT the percentile of the pooled distances "
                    "as in MedPy).",
    "assd_symmetric": "symmetric=True: mean of the concatenation of both directed distance lists (pooled, weighted "
                      "by edge voxel counts), NOT the mean of the two directed means. symmetric=False: mean of "
                      "pred->gt distances (first argument to second).",
    "empty": "one side empty: MONAI fills BOTH directed distance lists with inf (one inf per edge voxel of the "
             "non-empty mask), so hd (max) and every ASD are inf, but hd95 (and the directed hd95) is NaN, because "
             "torch.quantile interpolates inf - inf = NaN. Both empty: the distance lists are empty -> NaN for "
             "everything. MONAI warns 'the ground truth/prediction of class N is all 0' (N = 1 from the HD calls, "
             "0 from the ASD calls, which pass the channel index after dropping background). The "
             "'len(distances) == 0 -> 0.0' branch of compute_hausdorff_distance is unreachable (distances is a "
             "tuple of 1 or 2 tensors). Recorded as null + special 'nan' / 'inf'.",
    "dtype": "results are float32 tensors; values here are float(float32).",
}

MEDPY_NOTES = {
    "call": "medpy.metric.binary.hd95(pred, gt, voxelspacing=[sx, sy, sz]), hd, asd(pred, gt) = pred->gt, "
            "asd(gt, pred) = gt->pred, assd(pred, gt); connectivity=1 (default).",
    "edges": "mask XOR binary_erosion(mask, 6-connected cross) with the outside as background; distances from each "
             "border voxel centre to the nearest border voxel centre of the other mask via distance_transform_edt "
             "with sampling=spacing (float64).",
    "hd95": "numpy.percentile(concatenate(pred->gt, gt->pred), 95): the percentile of the POOLED distances (linear "
            "interpolation), unlike MONAI's max of directed percentiles.",
    "assd": "MedPy 0.5: mean of the pooled distances (like MONAI symmetric=True); MedPy <= 0.4 returned the mean "
            "of the two directed means.",
    "empty": "either side empty -> RuntimeError ('The first/second supplied array does not contain any binary "
             "object.') recorded as null + special 'error: ...'.",
}

DEEPMIND_NOTES = {
    "package": "PyPI surface-distance 0.1 (DeepMind's code; import surface_distance). The GitHub HEAD copy of "
               "deepmind/surface-distance does not even import (a bare 'TODO:' line in metrics.py is a syntax error "
               "and it uses np.bool); PyPI 0.1 fixes both but still uses np.Inf, removed in numpy 2, in the "
               "empty-surface branches, so these values come from the numpy<2 venv. On numpy 2: see "
               "deepmind_on_numpy2_empty_side.",
    "call": "compute_surface_distances(gt_bool, pred_bool, spacing_mm=(sx, sy, sz)) with spacing in the array's "
            "axis order (nibabel x, y, z); then compute_robust_hausdorff(sd, 95 | 100), "
            "compute_average_surface_distance(sd) -> (gt->pred, pred->gt), compute_surface_dice_at_tolerance(sd, "
            "1.0 | 2.0), compute_surface_overlap_at_tolerance(sd, 1.0) -> (gt, pred).",
    "surfels": "Surfaces live on the CORNER grid (points shifted by -1/2 voxel): a 2x2x2 neighbourhood code "
               "(correlate with kernel [[[128,64],[32,16]],[[8,4],[2,1]]], zero outside the volume) marks a corner "
               "point as surface if its code is not 0 and not 255; its area is the sum over the marching-cubes "
               "normals of that code of |(nx*sy*sz, ny*sx*sz, nz*sx*sy)| (lookup_tables.neighbour_code_to_normals). "
               "Distances: exact EDT (sampling=spacing) from each surface point of one mask to the nearest surface "
               "point of the other.",
    "robust_hd": "per direction: sort distances (ties by area), cumulative area fraction c_i = cumsum(area)/sum, "
                 "idx = searchsorted(c, p/100) (left), distance[min(idx, n-1)] - a step function (no "
                 "interpolation), area-weighted; result = max of the two directions. 100 -> the maximum. A side "
                 "with no surfels -> inf.",
    "asd": "area-weighted mean: sum(d * area) / sum(area) per direction; no symmetric combination is provided.",
    "surface_dice": "(sum of gt areas with d_gt->pred <= tol + sum of pred areas with d_pred->gt <= tol) / (total gt "
                    "area + total pred area); <= is inclusive.",
    "empty": "both empty: the four lists are empty; robust HD -> inf (both branches), ASD and NSD 0/0 -> nan. One "
             "empty: the empty side's list is empty, the other's distances are all inf; robust HD inf, ASD of the "
             "non-empty side inf, of the empty side nan; NSD = 0 / area = 0 when gt or pred is empty but not both.",
}


# --------------------------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_numpy1":
        return numpy1_main(sys.argv[2:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "..", "shared", "data"))
    parser.add_argument("--brats-src", required=True, help="extracted BraTS-2023-Metrics snapshot (has metrics.py)")
    parser.add_argument("--numpy1-python", default="/work/venvs/brats/bin/python",
                        help="python of the numpy<2 venv (BraTS code, DeepMind surface-distance)")
    args = parser.parse_args()
    shared = args.shared if os.path.isdir(os.path.join(args.shared, "liver117")) else os.path.join(args.shared, "data")
    brats_src = os.path.abspath(args.brats_src)

    import torch
    torch.set_num_threads(1)
    import importlib.metadata as md
    import monai
    import medpy  # noqa: F401

    label_cases = write_cases("labels", make_label_cases(shared))
    brats_cases = write_cases("brats", make_brats_cases(shared))
    print("cases written")

    nnunet_runs = run_nnunet()
    print("nnU-Net summaries written")

    # Surface metrics.
    request = {"cases": []}
    surface_cases = []
    max_check = {}
    for folder, described in (("labels", label_cases), ("brats", brats_cases)):
        for case in described:
            gt, pred, spacing = read_case(folder, case["case"])
            entry = {"folder": folder, "case": case["case"], "shape_xyz": case["shape_xyz"],
                     "spacing_xyz": spacing, "labels": {}}
            for key, values in label_sets(folder):
                g, p = mask_of(gt, values), mask_of(pred, values)
                check = independent_monai_check(g, p, spacing)
                result = {"values": values, **counts(g, p), "monai": monai_metrics(g, p, spacing),
                          "medpy": medpy_metrics(g, p, spacing)}
                if check is not None:
                    pairs = [("monai_hd95", result["monai"]["hd95"]), ("monai_hd", result["monai"]["hd"]),
                             ("monai_assd_symmetric", result["monai"]["assd_symmetric"]),
                             ("medpy_hd95", result["medpy"]["hd95"]), ("medpy_assd", result["medpy"]["assd"])]
                    for name, peer in pairs:
                        max_check[name] = max(max_check.get(name, 0.0), abs(check[name] - peer))
                entry["labels"][key] = result
            surface_cases.append(entry)
            request["cases"].append({"folder": folder, "case": case["case"], "label_sets": label_sets(folder)})
    deepmind = call_numpy1(args.numpy1_python, "deepmind", request)
    for entry in surface_cases:
        for key, result in entry["labels"].items():
            result["deepmind"] = deepmind["cases"][entry["case"]][key]
    print("surface metrics done")

    numpy1 = numpy1_versions(args.numpy1_python)
    versions = {
        "python": sys.version.split()[0],
        "nnunetv2": md.version("nnunetv2"), "monai": monai.__version__, "medpy": md.version("medpy"),
        "torch": torch.__version__, "numpy": np.__version__, "scipy": md.version("scipy"),
        "nibabel": md.version("nibabel"), "simpleitk": md.version("simpleitk"),
        "surface_distance_venv": {"surface-distance": numpy1["surface-distance"], "numpy": numpy1["numpy"],
                                  "scipy": numpy1["scipy"]},
    }
    surface = {
        "description": "Surface-distance metrics of the real peers for every case of labels/ and brats/ and every "
                       "label (brats/: also the regions WT=(1,2,3), TC=(1,3), ET=(3,)). Arrays as read by nibabel "
                       "(axis order x, y, z = NIfTI i, j, k); spacing_xyz = the header zooms (float32) in that "
                       "order, passed to every peer in that order. null = not finite or an error; the entry's "
                       "'special' map says which ('nan', 'inf', 'error: ...'). Counts tp/fp/fn/tn/n_pred/n_ref "
                       "over the whole volume (no ignore label). In labels/, the ignore value 3 is just "
                       "background here.",
        "versions": versions,
        "monai_notes": MONAI_NOTES,
        "medpy_notes": MEDPY_NOTES,
        "deepmind_notes": DEEPMIND_NOTES,
        "deepmind_on_numpy2_empty_side": deepmind_numpy2_probe(),
        "deepmind_module_file": os.path.basename(os.path.dirname(deepmind["module_file"])) + "/"
                                + os.path.basename(deepmind["module_file"]) + " (site-packages of the numpy<2 venv)",
        "convention_check": {
            "what": "max |independent re-implementation - peer| over all cases/labels with both sides non-empty, "
                    "for the rules in monai_notes and medpy_notes (see independent_monai_check in "
                    "make_references.py)",
            "max_abs_diff": {k: float(v) for k, v in sorted(max_check.items())},
        },
        "cases": surface_cases,
    }
    dump_json(surface, os.path.join(HERE, "surface.json"))
    print("surface.json written")

    lesionwise = call_numpy1(args.numpy1_python, "lesionwise",
                             {"brats_src": brats_src, "cases": [c["case"] for c in brats_cases],
                              "challenges": BRATS_CHALLENGES})
    lesion_doc = {
        "description": "BraTS-2023 lesion-wise metrics (github rachitsaluja/BraTS-2023-Metrics, metrics.py) for "
                       "every brats/ case. 'summary' = get_LesionWiseResults(pred, gt, challenge) DataFrame as "
                       "records (exactly as returned; inf there already replaced by 374 by the code). 'regions' = "
                       "get_LesionWiseScores(pred, gt, region, dilation) raw outputs: ids are cc3d component "
                       "numbers (pred ids: 26-connected components of the prediction; gt ids: components of the "
                       "gt merged by dilation), so match lesions by gt_lesions_combined centroids/bboxes "
                       "(voxel x, y, z), not by id. Non-finite values as strings 'inf'/'nan'. 'counted' = "
                       "gt_lesion_vol > lesion_volume_thresh (the lesions entering the lesion-wise means).",
        "challenges_run": BRATS_CHALLENGES,
        "challenge_parameters": {"BraTS-GLI": [3, 50], "BraTS-SSA": [3, 50], "BraTS-PED": [3, 50],
                                 "BraTS-MEN": [1, 50], "BraTS-MET": [1, 2],
                                 "format": "[dilation_factor (iterations), lesion_volume_thresh (mm^3)]"},
        "source": {"repository": "rachitsaluja/BraTS-2023-Metrics", "commit": lesionwise_commit(brats_src),
                   "file": "metrics.py"},
        "versions": lesionwise["versions"],
        "surface_distance_used": "the repository's own vendored surface_distance/ (an older DeepMind copy; "
                                 "same algorithm, no bool-dtype check)"
                                 if os.path.abspath(lesionwise["surface_distance_used_by_brats"]).startswith(brats_src)
                                 else lesionwise["surface_distance_used_by_brats"],
        "notes": BRATS_NOTES,
        "cases": lesionwise["cases"],
    }
    dump_json(lesion_doc, os.path.join(HERE, "lesionwise.json"))
    print("lesionwise.json written")

    dump_json({"labels": label_cases, "brats": brats_cases, "nnunet_runs": nnunet_runs,
               "nnunet_reader": "nnunetv2.imageio.simpleitk_reader_writer.SimpleITKIO",
               "versions": versions, "numpy1_venv_versions": numpy1},
              os.path.join(HERE, "cases.json"))
    print_table(surface, lesion_doc)


def lesionwise_commit(brats_src):
    marker = os.path.join(brats_src, "COMMIT")
    if os.path.isfile(marker):
        return open(marker).read().strip()
    return "unknown (write the snapshot's commit to <brats-src>/COMMIT)"


BRATS_NOTES = {
    "labels": "get_TissueWiseSeg: WT = {1,2,3}, TC = {1,3}, ET = {3} (label 4 and anything else -> background). "
              "Files are read with nibabel get_fdata (float64); spacing = the PREDICTION's header zooms.",
    "legacy": "Legacy_Dice: 2|P&G|/(|P|+|G|) on the whole region, 1.0 if both empty. Legacy_HD95: DeepMind "
              "compute_robust_hausdorff(compute_surface_distances(gt, pred, zooms), 95), 0.0 if both empty; inf "
              "(one side empty) becomes 374 in the summary DataFrame.",
    "components": "cc3d.connected_components(connectivity=26) on gt and pred region masks.",
    "merge_by_dilation": "the gt region mask is dilated with scipy binary_dilation, structure "
                         "generate_binary_structure(3, 2) (18-connected), iterations = dilation_factor (in voxels, "
                         "whatever the spacing; the outside is background); the dilated mask's 26-connected "
                         "components group the original gt components: gt lesion k = original gt voxels inside "
                         "dilated component k (get_GTseg_combinedByDilation).",
    "matching": "for each merged gt lesion: dilate it again (same structure and iterations); every pred component "
                "with a voxel inside that dilated lesion is a TP component for it (a pred component may match "
                "several gt lesions); lesion Dice = dice(union of those WHOLE pred components, gt lesion); lesion "
                "HD95 = DeepMind robust HD95 between the gt lesion and that union (inf if none -> 374 later). A gt "
                "lesion with no matching component is FN (Dice 0, HD95 inf -> 374). FP = pred components matched "
                "to no gt lesion (all sizes; FP components are never thresholded).",
    "thresholds": "gt lesions with volume (voxels x sx*sy*sz, mm^3) <= lesion_volume_thresh are dropped from the "
                  "lesion-wise means and from Num_TP / Num_FN; volumes are mm^3, not voxels.",
    "scores": "LesionWise_Score_Dice = sum(dice of kept gt lesions) / (n kept gt lesions + n FP); "
              "LesionWise_Score_HD95 = (sum(hd95 of kept gt lesions, inf -> 374) + 374 * n FP) / (n kept + n FP); "
              "0/0 (no kept gt lesion and no FP) -> NaN -> Dice 1, HD95 0.",
    "counts": "Num_TP = merged gt lesions with a match minus those <= thresh; Num_FN = unmatched merged gt lesions "
              "minus those <= thresh; Num_FP = number of distinct unmatched pred components.",
    "other": "Sensitivity = TP/(TP+FN+tiny), Specificity = TN/(TN+FP+tiny) voxel-wise (GaNDLF), sensitivity 1 "
             "when both empty; GT_Complete_Volume = gt voxels x voxel volume (mm^3).",
}


def print_table(surface, lesion_doc):
    print()
    print(f"{'case':30s} {'lab':4s} {'n_ref':>7s} {'n_pred':>7s} {'monai95':>9s} {'medpy95':>9s} "
          f"{'dm95':>9s} {'nsd1':>6s} {'m_assd':>8s}")

    def f(v, w=9, d=3):
        return f"{'-':>{w}s}" if v is None else f"{v:{w}.{d}f}"

    for entry in surface["cases"]:
        for key, r in entry["labels"].items():
            print(f"{entry['case'][:30]:30s} {key:4s} {r['n_ref']:7d} {r['n_pred']:7d} {f(r['monai']['hd95'])} "
                  f"{f(r['medpy']['hd95'])} {f(r['deepmind'].get('robust_hd95'))} "
                  f"{f(r['deepmind'].get('surface_dice_1mm'), 6)} {f(r['monai']['assd_symmetric'], 8)}")
    print()
    print(f"{'case':30s} {'chall':9s} {'reg':3s} {'TP':>3s} {'FP':>3s} {'FN':>3s} {'LW_dice':>8s} {'LW_hd95':>8s} "
          f"{'dice':>7s} {'hd95':>7s}")
    for case, per in lesion_doc["cases"].items():
        for challenge, data in per.items():
            for row in data["summary"]:
                print(f"{case[:30]:30s} {challenge[6:]:9s} {row['Labels']:3s} {int(row['Num_TP']):3d} {int(row['Num_FP']):3d} "
                      f"{int(row['Num_FN']):3d} {row['LesionWise_Score_Dice']:8.4f} {row['LesionWise_Score_HD95']:8.2f} "
                      f"{row['Legacy_Dice']:7.4f} {row['Legacy_HD95']:7.2f}")


if __name__ == "__main__":
    sys.exit(main())
