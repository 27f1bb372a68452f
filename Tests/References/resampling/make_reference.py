"""Reference outputs of nnU-Net v2's default resampling for NNUNetResamplingTests.

Run with a Python that has nnunetv2 (its pinned numpy/scipy/scikit-image), from this folder:

    /work/venvs/nnunet/bin/python make_reference.py

Without nnunetv2 it falls back to skimage/scipy called exactly as default_resampling.py calls them
(the manifest records which one ran). It writes cases/*.npy (inputs float32 as nnU-Net gets them,
outputs float32 as it returns them; the direct zoom cases in float64) and manifest.json.
"""
import json
import os
import platform
import sys

import numpy as np
import scipy
import skimage
from skimage.transform import resize

try:
    from nnunetv2.preprocessing.resampling.default_resampling import (
        compute_new_shape, determine_do_sep_z_and_axis, resample_data_or_seg_to_shape)
    import nnunetv2
    from importlib.metadata import version as _version
    SOURCE = f"nnunetv2 {_version('nnunetv2')} ({os.path.dirname(nnunetv2.__file__)})"
except ImportError:
    SOURCE = "skimage/scipy directly (nnunetv2 not importable)"
    from scipy.ndimage import map_coordinates

    def compute_new_shape(old_shape, old_spacing, new_spacing):
        return np.array([int(round(i / j * k)) for i, j, k in zip(old_spacing, new_spacing, old_shape)])

    def _lowres_axis(spacing):
        return np.where(max(spacing) / np.array(spacing) == 1)[0]

    def determine_do_sep_z_and_axis(force, current, new, threshold=3):
        if force is not None:
            do, axis = force, (_lowres_axis(current) if force else None)
        elif np.max(current) / np.min(current) > threshold:
            do, axis = True, _lowres_axis(current)
        elif np.max(new) / np.min(new) > threshold:
            do, axis = True, _lowres_axis(new)
        else:
            do, axis = False, None
        if axis is not None:
            if len(axis) in (2, 3):
                do, axis = False, None
            else:
                axis = axis[0]
        return do, axis

    def resample_data_or_seg_to_shape(data, new_shape, current, new, is_seg=False, order=3, order_z=0,
                                      force_separate_z=False):
        do_sep, axis = determine_do_sep_z_and_axis(force_separate_z, current, new)
        shape, new_shape = np.array(data[0].shape), np.array(new_shape)
        out = np.zeros((data.shape[0], *new_shape), dtype=data.dtype)
        if not np.any(shape != new_shape):
            return data
        data = data.astype(float, copy=False)
        kw = {'mode': 'edge', 'anti_aliasing': False}
        if not do_sep:
            for c in range(data.shape[0]):
                out[c] = resize(data[c], new_shape, order, **kw)
            return out
        shape_2d = new_shape[1:] if axis == 0 else (new_shape[[0, 2]] if axis == 1 else new_shape[:-1])
        for c in range(data.shape[0]):
            tmp = new_shape.copy()
            tmp[axis] = shape[axis]
            here = np.zeros(tmp)
            for s in range(shape[axis]):
                index = [slice(None)] * 3
                index[axis] = s
                here[tuple(index)] = resize(data[c][tuple(index)], shape_2d, order, **kw)
            if shape[axis] != new_shape[axis]:
                grid = np.mgrid[:new_shape[0], :new_shape[1], :new_shape[2]].astype(float)
                for d in range(3):
                    grid[d] = float(here.shape[d]) / new_shape[d] * (grid[d] + 0.5) - 0.5
                out[c] = map_coordinates(here, grid, order=order_z, mode='nearest')[None]
            else:
                out[c] = here
        return out

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
rng = np.random.default_rng(17)


def smooth_volume(shape, channels):
    """Random noise plus smooth waves and a step edge: splines see both curvature and jumps."""
    grids = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij")
    out = []
    for c in range(channels):
        wave = sum(np.sin((2 + c + i) * np.pi * g + i) for i, g in enumerate(grids))
        step = (grids[-1] > 0.45).astype(float) * 3.0
        out.append(wave + step + 0.3 * rng.standard_normal(shape))
    return np.stack(out).astype(np.float32)


def ct_volume(shape):
    """CT in HU: air -1000, soft tissue ~40, bone 1200-3000 in balls. Order 3 overshoots at the
    bone edges by hundreds of HU, so skimage's clip to the input range matters."""
    grids = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    centre = [n / 2 for n in shape]
    r = np.sqrt(sum(((g - c) / (n / 2.4)) ** 2 for g, c, n in zip(grids, centre, shape)))
    hu = np.where(r < 1, 40.0, -1000.0) + 15 * rng.standard_normal(shape)
    for _ in range(3):
        ball = [rng.uniform(0.3, 0.7) * n for n in shape]
        rb = np.sqrt(sum((g - b) ** 2 for g, b in zip(grids, ball)))
        hu = np.where(rb < min(shape) / 6, rng.uniform(1200, 3000), hu)
    hu[tuple(rng.integers(0, n) for n in shape)] = 3071.0
    return hu[None].astype(np.float32)


manifest = {
    "source": SOURCE,
    "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                 "scikit-image": skimage.__version__},
    "cases": [], "zoom": [], "newShape": [], "separateZ": [],
}


def save(name, array):
    np.save(os.path.join(CASES, name), np.ascontiguousarray(array))
    return name


def nnunet_case(name, data, current, new, order, order_z=0, force=None, new_shape=None, why=""):
    """resample_data_or_seg_to_shape as the preprocessor (order 3) and the exporter (order 1) call
    it; new_shape from compute_new_shape unless given (export resamples to a stored shape)."""
    if new_shape is None:
        new_shape = [int(n) for n in compute_new_shape(data.shape[1:], current, new)]
    do_sep, axis = determine_do_sep_z_and_axis(force, current, new)
    out = resample_data_or_seg_to_shape(data, new_shape, current, new, is_seg=False, order=order,
                                        order_z=order_z, force_separate_z=force)
    assert out.dtype == np.float32 and list(out.shape[1:]) == list(new_shape), (out.dtype, out.shape)
    manifest["cases"].append({
        "name": name, "why": why, "input": save(f"{name}_input.npy", data), "output": save(f"{name}_output.npy", out),
        "newShape": new_shape, "currentSpacing": list(map(float, current)), "newSpacing": list(map(float, new)),
        "order": order, "orderZ": order_z, "forceSeparateZ": force,
        "separateZ": bool(do_sep), "axis": None if axis is None else int(axis),
    })


def zoom_case(name, image, shape, order, why=""):
    """skimage.transform.resize as nnU-Net calls it, on float64, no cast back."""
    out = resize(image, shape, order, mode="edge", anti_aliasing=False)
    assert out.dtype == np.float64
    manifest["zoom"].append({"name": name, "why": why, "input": save(f"{name}_input.npy", image),
                             "output": save(f"{name}_output.npy", out), "outputShape": list(shape), "order": order})


os.makedirs(CASES, exist_ok=True)
for f in os.listdir(CASES):
    os.remove(os.path.join(CASES, f))

iso = (1.0, 1.0, 1.0)
nnunet_case("up_order3", smooth_volume((9, 11, 10), 2), iso, (0.7, 0.65, 0.72), 3,
            why="preprocessing upsample, non-integer ratios, 2 channels")
nnunet_case("down_order3", smooth_volume((21, 18, 16), 1), iso, (1.6, 2.5, 1.3), 3,
            why="preprocessing downsample, non-integer ratios")
nnunet_case("up_order1", smooth_volume((8, 10, 9), 3), iso, (0.55, 0.8, 0.45), 1,
            why="logit export: order 1 upsample, 3 channels")
nnunet_case("down_order1", smooth_volume((17, 20, 13), 2), iso, (1.9, 1.3, 2.2), 1,
            why="logit export: order 1 downsample")
nnunet_case("one_axis_kept_order3", smooth_volume((12, 10, 14), 1), iso, (1.0, 0.6, 1.5), 3,
            why="axis 0 keeps its length; scipy still prefilters along it")
nnunet_case("export_to_shape_order1", smooth_volume((14, 12, 11), 2), (0.8, 0.8, 0.8), (1.0, 1.0, 1.0), 1,
            new_shape=[17, 9, 14], why="export resamples to a stored shape, not one computed from spacings")
nnunet_case("separate_axis0_order3", smooth_volume((6, 20, 18), 2), (5.0, 0.8, 0.9), (1.5, 0.6, 0.6), 3,
            why="thick slices along axis 0: 2D order-3 per slice, order 0 along z")
nnunet_case("separate_axis1_order3", smooth_volume((16, 5, 14), 1), (0.9, 4.5, 1.0), (0.7, 2.0, 0.8), 3,
            why="low-resolution axis 1")
nnunet_case("separate_axis2_order1", smooth_volume((15, 13, 7), 2), (1.0, 1.2, 5.0), (0.8, 0.8, 3.0), 1,
            why="low-resolution axis 2, order 1 in plane")
nnunet_case("separate_from_target_spacing", smooth_volume((10, 12, 11), 1), (1.0, 1.0, 1.0), (4.0, 1.2, 0.8), 3,
            why="isotropic input, anisotropic target: axis taken from the target spacing")
nnunet_case("separate_half_voxel_order0", smooth_volume((12, 9, 10), 1), (6.0, 1.0, 1.0), (12.0, 0.7, 0.7), 3,
            why="z halves: order-0 coordinates land on exact .5 (scipy rounds them up)")
nnunet_case("separate_forced_orderz1", smooth_volume((7, 12, 10), 1), (2.0, 1.0, 1.0), (1.0, 0.8, 0.8), 3,
            order_z=1, force=True, why="force_separate_z True below the threshold, order_z 1")
nnunet_case("separate_orderz3", smooth_volume((6, 11, 12), 1), (4.0, 1.0, 1.0), (1.3, 0.9, 0.9), 3,
            order_z=3, why="order_z 3: map_coordinates with its own 12-voxel prepad and prefilter")
nnunet_case("forced_joint", smooth_volume((6, 11, 12), 1), (4.0, 1.0, 1.0), (1.3, 0.9, 0.9), 3,
            force=False, why="force_separate_z False on anisotropic data: one 3D order-3 zoom")
nnunet_case("ct_hu_order3", ct_volume((18, 20, 16)), (1.0, 0.9, 0.9), (0.75, 0.7, 1.1), 3,
            why="CT in HU: large overshoot at bone edges, clipped to the input range")
nnunet_case("ct_hu_separate", ct_volume((6, 22, 20)), (5.0, 0.8, 0.8), (2.0, 0.7, 0.65), 3,
            why="CT thick slices: each 2D slice clipped to its own range")
nnunet_case("two_d", smooth_volume((1, 23, 19), 2), (999.0, 0.7, 0.7), (999.0, 0.5, 0.45), 3,
            why="nnU-Net's 2D layout (c, 1, x, y), spacing 999 along the fake axis")
nnunet_case("single_voxel_axis", smooth_volume((1, 9, 8), 1), (1.0, 1.0, 1.0), (0.5, 0.6, 0.7), 3,
            why="an axis of length 1 upsampled: the 12-voxel pad is all edge values")

zoom_case("zoom2d_order0", rng.standard_normal((8, 12)), (4, 6), 0, why="halving: exact .5 coordinates")
zoom_case("zoom2d_order0_up", rng.standard_normal((5, 7)), (13, 11), 0)
zoom_case("zoom2d_order1", rng.standard_normal((7, 9)), (12, 5), 1)
zoom_case("zoom2d_order2", rng.standard_normal((7, 9)), (12, 5), 2, why="even order: pole sqrt(8)-3")
zoom_case("zoom2d_order3", rng.standard_normal((7, 9)), (12, 5), 3)
zoom_case("zoom2d_order3_short", rng.standard_normal((2, 30)), (5, 17), 3, why="a 2-long axis")
zoom_case("zoom3d_order0", rng.standard_normal((8, 6, 4)), (4, 3, 1), 0, why="exact .5 on every axis")
zoom_case("zoom3d_order2", rng.standard_normal((6, 7, 5)), (9, 4, 8), 2)
zoom_case("zoom3d_order3", 1000 * rng.standard_normal((6, 7, 5)), (9, 4, 8), 3)

for old_shape, old, new in [((5, 7, 3), (1, 1, 1), (2, 2, 2)),  # 2.5 -> 2, 3.5 -> 4, 1.5 -> 2
                            ((9, 11, 13), (1.0, 0.5, 3.0), (2.0, 1.0, 1.2)),  # 4.5 -> 4, 5.5 -> 6, 32.5 -> 32
                            ((256, 256, 25), (0.78125, 0.78125, 6.5), (0.8, 0.8, 1.5)),
                            ((512, 512, 87), (0.6, 0.6, 5.0), (0.77, 0.77, 2.5)),
                            ((1, 320, 320), (999.0, 0.7, 0.7), (999.0, 0.5, 0.5))]:
    manifest["newShape"].append({"oldShape": list(old_shape), "oldSpacing": list(old), "newSpacing": list(new),
                                 "newShape": [int(n) for n in compute_new_shape(old_shape, old, new)]})

for force, current, new in [(None, (1, 1, 1), (1, 1, 1)), (None, (5, 1, 1), (1, 1, 1)), (None, (1, 1, 1), (1, 4, 1)),
                            (None, (3.0, 1.0, 1.0), (1, 1, 1)), (None, (3.01, 1.0, 1.0), (1, 1, 1)),
                            (None, (0.24, 1.25, 1.25), (1, 1, 1)), (None, (1, 1, 1), (4, 4, 1)),
                            (None, (1.0, 1.1, 1.2), (0.5, 0.5, 2.0)), (None, (1, 2, 6.5), (1, 1, 1)),
                            (True, (1, 1, 2), (1, 1, 1)), (True, (1, 1, 1), (1, 1, 1)), (True, (2, 2, 1), (1, 1, 1)),
                            (False, (5, 1, 1), (1, 1, 1)), (None, (999.0, 0.7, 0.7), (999.0, 0.5, 0.5))]:
    do, axis = determine_do_sep_z_and_axis(force, current, new)
    manifest["separateZ"].append({"force": force, "currentSpacing": list(map(float, current)),
                                  "newSpacing": list(map(float, new)),
                                  "separate": bool(do), "axis": None if axis is None else int(axis)})

with open(os.path.join(HERE, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(SOURCE, manifest["versions"], sys.executable)
print(len(manifest["cases"]), "nnU-Net cases,", len(manifest["zoom"]), "zoom cases")
