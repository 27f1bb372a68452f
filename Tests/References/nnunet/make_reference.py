"""nnU-Net v2 inference references for VolSeg: models, inputs, outputs, stage-by-stage intermediates.

One command rebuilds everything in this folder (about 30-40 minutes on 2 CPU cores):

    python3 -m venv /work/venvs/nnunet && /work/venvs/nnunet/bin/pip install nnunetv2
    /work/venvs/nnunet/bin/python Tests/References/nnunet/make_reference.py --shared /work/shared/data

It makes small nnU-Net datasets from ../shared/data under a scratch nnUNet_raw/_preprocessed/_results
(--work, wiped first; --out, default this folder, is wiped and refilled too, so try
`--cases A,E --epochs 1 --out /tmp/x` before a real rerun), runs nnU-Net's own fingerprinting,
planning and preprocessing, narrows the plans (fewer stages, 8-32 features, small patches),
trains each model with nnU-Net's trainer for a few iterations on the CPU, copies the trained-model folders here (trainer_name rewritten to
'nnUNetTrainer', optimizer state dropped), predicts every input with nnUNetv2_predict_from_modelfolder
(stock, and once more with the float16 accumulators patched to float32, see FLOAT32_PATCH), saves
the arrays nnU-Net computes on the way for one input per model, and writes manifest.json.
Training is not bit-reproducible, so a rerun replaces weights and outputs together; everything in
one run is consistent. Sub-commands (`train`, `predict-float32`, `intermediates`) are the steps the
driver runs in child processes; they are not meant to be called by hand. README.md says what each
case covers and what nnU-Net did.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent

# The float32 variant: nnU-Net 2.8.1 accumulates sliding-window logits in float16 on every device
# (predict_from_raw_data.py, nnUNetPredictor._internal_predict_sliding_window_return_logits, and the
# Gaussian from sliding_window_prediction.compute_gaussian, whose default dtype is float16). The patch
# rewrites that one method's source at run time; the installed file is not touched.
FLOAT32_PATCH = {
    "file": "nnunetv2/inference/predict_from_raw_data.py",
    "function": "nnUNetPredictor._internal_predict_sliding_window_return_logits",
    "replacements": [
        {"old": "dtype=torch.half", "new": "dtype=torch.float32", "count": 2,
         "what": "predicted_logits and n_predictions accumulators"},
        {"old": "value_scaling_factor=10,", "new": "value_scaling_factor=10, dtype=torch.float32,", "count": 1,
         "what": "compute_gaussian(..., dtype=torch.float32) instead of its float16 default"},
    ],
    "how": "inspect.getsource of the method, str.replace with the counts asserted, exec in the module's "
           "namespace, setattr on nnUNetPredictor (make_reference.py apply_float32_patch)",
}

VARIANTS = {  # name -> (folds, mirroring, float32)
    "stock_tta": ("0", True, False),
    "stock_notta": ("0", False, False),
    "float32_tta": ("0", True, True),
    "float32_notta": ("0", False, True),
    "stock_tta_folds01": ("0 1", True, False),
    "float32_tta_folds01": ("0 1", True, True),
}

# Each case: the dataset it trains on, nnU-Net planner, configuration, narrowed architecture, input
# folder, variants. Models shared between cases (E uses A's) are named by `model_of`.
CASES = {
    "A": dict(dataset=501, planner="ExperimentPlanner", plans="nnUNetPlans", config="3d_fullres",
              stages=4, features=[8, 16, 32, 32], patch=[32, 32, 32], batch=2, folds=[0, 1],
              inputs="A", variants=list(VARIANTS), intermediates="liver_0101",
              covers="CT, CTNormalization from the fingerprint, 3d_fullres, two folds; liver_0101 has 2 mm "
                     "slices so forward and export resampling run without separate z"),
    "B": dict(dataset=502, planner="ExperimentPlanner", plans="nnUNetPlans", config="3d_fullres",
              stages=4, features=[8, 16, 32, 32], patch=[16, 48, 48], batch=2, folds=[0],
              inputs="B", variants=list(VARIANTS)[:4], intermediates="brain_0100",
              covers="2-channel MRI, ZScore with use_mask_for_norm, anisotropic target spacing with a "
                     "non-identity transpose_forward, input spacing != target so separate-z resampling "
                     "runs in both directions"),
    "C": dict(dataset=501, planner="nnUNetPlannerResEncM", plans="nnUNetResEncUNetMPlans", config="3d_fullres",
              stages=4, features=[8, 12, 16, 20], blocks=[1, 3, 4, 6], patch=[32, 32, 32], batch=2, folds=[0],
              inputs="A", variants=list(VARIANTS)[:4], intermediates="liver_0100",
              covers="ResidualEncoderUNet (nnUNetPlannerResEncM), narrowed, on case A's data"),
    "D": dict(dataset=502, planner=None, plans="nnUNetPlans", config="2d",
              stages=4, features=[8, 16, 32, 32], patch=[48, 48], batch=4, folds=[0],
              inputs="B", variants=list(VARIANTS)[:4], intermediates="brain_0100",
              covers="2d configuration of case B's plans (slices along the transposed first axis)"),
    "E": dict(model_of="A", inputs="E", variants=list(VARIANTS)[:4], intermediates="liver_0200",
              covers="case A's model on inputs whose sform and qform differ (sform_code 1 and 2)"),
    "F": dict(dataset=503, planner="ExperimentPlanner", plans="nnUNetPlans", config="3d_fullres",
              stages=4, features=[8, 16, 32, 32], patch=[16, 48, 48], batch=2, folds=[0],
              inputs="B", variants=list(VARIANTS)[:4], intermediates="brain_0100",
              covers="region-based (BraTS-style regions, sigmoid, regions_class_order) on case B's images"),
}
TRAIN_EPOCHS, TRAIN_ITERS = 8, 25


def nnunet_env(work: Path, threads: int, n_proc_da: int = 0) -> dict:
    """nnUNet_n_proc_DA=0 makes the trainer use its single-threaded augmenter; the planner calls
    torch.set_num_threads(get_allowed_n_proc_DA()) and so needs 1 there."""
    env = dict(os.environ)
    env.update(nnUNet_raw=str(work / "nnUNet_raw"), nnUNet_preprocessed=str(work / "nnUNet_preprocessed"),
               nnUNet_results=str(work / "nnUNet_results"), nnUNet_def_n_proc="1", nnUNet_n_proc_DA=str(n_proc_da),
               nnUNet_compile="false", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONHASHSEED="0")
    return env


def run(cmd, env, cwd=None, log=None):
    t0 = time.time()
    res = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True)
    if log is not None:
        log.write_text(res.stdout + "\n--- stderr ---\n" + res.stderr)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        raise RuntimeError(f"failed ({res.returncode}): {' '.join(map(str, cmd))}")
    return time.time() - t0


# ----------------------------------------------------------------------------------------- data
def save_nifti(path: Path, array, affine, dtype=np.float32, qform=None, sform=None, qcode=1, scode=1):
    import nibabel as nib
    img = nib.Nifti1Image(np.asarray(array, dtype=dtype), affine)
    img.set_qform(affine if qform is None else qform, code=qcode)
    img.set_sform(affine if sform is None else sform, code=scode)
    img.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))


def crop(img_arr, affine, start, size, step=(1, 1, 1)):
    """Voxel crop keeping the world position of every kept voxel (the affine's origin moves)."""
    sl = tuple(slice(s, s + n, k) for s, n, k in zip(start, size, step))
    new_aff = affine.copy()
    new_aff[:3, 3] = affine[:3, :3] @ np.array(start, float) + affine[:3, 3]
    new_aff[:3, :3] = affine[:3, :3] * np.array(step, float)[None]
    return img_arr[sl], new_aff


def write_dataset_json(folder: Path, channels, labels, n, regions_class_order=None):
    d = {"channel_names": channels, "labels": labels, "numTraining": n, "file_ending": ".nii.gz"}
    if regions_class_order is not None:
        d["regions_class_order"] = regions_class_order
    (folder / "dataset.json").write_text(json.dumps(d, indent=2))


def make_liver(shared: Path, raw: Path, out_inputs: Path):
    """Dataset501: four 80x80x64 crops of liver117 (HU kept, affine moved with the crop), labels 0/1/2."""
    import nibabel as nib
    ct_img = nib.load(str(shared / "liver117/ct.nii.gz"))
    ct = np.asanyarray(ct_img.dataobj).astype(np.float32)
    seg = np.asanyarray(nib.load(str(shared / "liver117/seg.nii.gz")).dataobj).astype(np.uint8)
    aff = ct_img.affine
    ds = raw / "Dataset501_RefLiverCT"
    starts = [(24, 24, 32), (16, 32, 40), (32, 16, 24), (28, 28, 48)]
    for i, st in enumerate(starts):
        a, af = crop(ct, aff, st, (80, 80, 64))
        s, _ = crop(seg, aff, st, (80, 80, 64))
        save_nifti(ds / "imagesTr" / f"liver_{i:03d}_0000.nii.gz", a, af)
        save_nifti(ds / "labelsTr" / f"liver_{i:03d}.nii.gz", s, af, dtype=np.uint8)
    write_dataset_json(ds, {"0": "CT"}, {"background": 0, "liver": 1, "tumour": 2}, len(starts))
    # inputs: one 1 mm crop (smaller than the patch along z, so the sliding window pads), one with
    # every other slice (1x1x2 mm)
    a, af = crop(ct, aff, (40, 44, 52), (48, 40, 24))
    save_nifti(out_inputs / "A" / "liver_0100_0000.nii.gz", a, af)
    a, af = crop(ct, aff, (34, 38, 44), (40, 36, 32), step=(1, 1, 2))
    save_nifti(out_inputs / "A" / "liver_0101_0000.nii.gz", a, af)
    # E: same voxels twice, qform = the crop's affine, sform = rotated 90 degrees about z and moved
    a, af = crop(ct, aff, (48, 48, 52), (32, 32, 24))
    rot = np.array([[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    sf = rot @ af
    sf[:3, 3] += [12.5, -7.25, 3.0]
    save_nifti(out_inputs / "E" / "liver_0200_0000.nii.gz", a, af, qform=af, sform=sf, qcode=1, scode=1)
    save_nifti(out_inputs / "E" / "liver_0201_0000.nii.gz", a, af, qform=af, sform=sf, qcode=1, scode=2)


def brain_volumes(shared: Path):
    """colin27 at 1 mm: T1 (skull-stripped), a synthetic second contrast, labels 1-3 from T1 thresholds."""
    import nibabel as nib
    from scipy.ndimage import gaussian_filter, binary_fill_holes
    img = nib.load(str(shared / "colin27/t1_brain.nii.gz"))
    t1 = np.asanyarray(img.dataobj).astype(np.float32)
    mask = binary_fill_holes(t1 > 0)
    smooth = gaussian_filter(t1, 1.5)
    inside = smooth[mask]
    lo, hi = np.percentile(inside, [30, 65])
    lab = np.zeros(t1.shape, np.uint8)
    lab[mask] = 1
    lab[mask & (smooth > lo)] = 2
    lab[mask & (smooth > hi)] = 3
    yy = np.linspace(0.8, 1.2, t1.shape[1], dtype=np.float32)[None, :, None]
    t2 = np.where(mask, (smooth.max() + 10 - gaussian_filter(t1, 1.0)) * yy, 0).astype(np.float32)
    return t1 * mask, t2, lab, img.affine


def resample_to_grid(vol, src_aff, dst_aff, shape, order):
    from scipy.ndimage import affine_transform
    m = np.linalg.inv(src_aff) @ dst_aff
    return affine_transform(vol, m[:3, :3], m[:3, 3], output_shape=shape, order=order, mode="constant", cval=0)


def brain_grid(src_aff, lo_mm, hi_mm, spacing):
    """RAS grid from world corner lo_mm to hi_mm (voxel centres) with the given voxel size."""
    spacing = np.asarray(spacing, float)
    shape = tuple(int(np.floor((h - l) / s)) + 1 for l, h, s in zip(lo_mm, hi_mm, spacing))
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = lo_mm
    return aff, shape


def make_brain(shared: Path, raw: Path, out_inputs: Path):
    """Datasets 502 (labels) and 503 (regions): colin27 resampled to 10.5 x 3 x 3 mm (x thick)."""
    t1, t2, lab, aff = brain_volumes(shared)
    world_lo = aff[:3, :3] @ np.zeros(3) + aff[:3, 3]
    world_hi = aff[:3, :3] @ (np.array(t1.shape) - 1.0) + aff[:3, 3]
    lo, hi = np.minimum(world_lo, world_hi) - 10, np.maximum(world_lo, world_hi) + 10
    train_spacing = (10.5, 3.0, 3.0)
    shifts = [(0, 0, 0), (3.0, -2.5, 1.5), (-4.0, 2.0, -2.0), (1.5, 3.5, 3.0)]
    gains = [1.0, 1.15, 0.9, 1.05]
    for dsname, labels, order in [
            ("Dataset502_RefBrainMR", {"background": 0, "dark": 1, "mid": 2, "bright": 3}, None),
            ("Dataset503_RefBrainRegions",
             {"background": 0, "whole": [1, 2, 3], "core": [2, 3], "inner": [3]}, [1, 2, 3])]:
        ds = raw / dsname
        for i, (sh, g) in enumerate(zip(shifts, gains)):
            gaff, shape = brain_grid(aff, lo + np.array(sh), hi + np.array(sh), train_spacing)
            c0 = resample_to_grid(t1, aff, gaff, shape, 1) * g
            c1 = resample_to_grid(t2, aff, gaff, shape, 1) / g
            lb = resample_to_grid(lab, aff, gaff, shape, 0)
            if i == 3:  # one mirrored subject
                c0, c1, lb = c0[::-1], c1[::-1], lb[::-1]
            save_nifti(ds / "imagesTr" / f"brain_{i:03d}_0000.nii.gz", c0, gaff)
            save_nifti(ds / "imagesTr" / f"brain_{i:03d}_0001.nii.gz", c1, gaff)
            save_nifti(ds / "labelsTr" / f"brain_{i:03d}.nii.gz", lb, gaff, dtype=np.uint8)
        write_dataset_json(ds, {"0": "T1", "1": "T2"}, labels, len(shifts), regions_class_order=order)
    # the input: 9 x 4 x 4 mm, a tighter box (still with zero background around the brain)
    nz = np.argwhere(t1 > 0)
    blo = aff[:3, :3] @ nz.min(0) + aff[:3, 3]
    bhi = aff[:3, :3] @ nz.max(0) + aff[:3, 3]
    gaff, shape = brain_grid(aff, np.minimum(blo, bhi) - 12, np.maximum(blo, bhi) + 12, (9.0, 4.0, 4.0))
    save_nifti(out_inputs / "B" / "brain_0100_0000.nii.gz", resample_to_grid(t1, aff, gaff, shape, 1), gaff)
    save_nifti(out_inputs / "B" / "brain_0100_0001.nii.gz", resample_to_grid(t2, aff, gaff, shape, 1), gaff)


# ----------------------------------------------------------------------------------------- plans
def narrow_configuration(plans: dict, case: dict):
    cfg = plans["configurations"][case["config"]]
    a = cfg["architecture"]["arch_kwargs"]
    n = case["stages"]
    assert a["n_stages"] >= n, (a["n_stages"], n)
    a["n_stages"] = n
    a["features_per_stage"] = list(case["features"])
    for k in ("kernel_sizes", "strides", "n_conv_per_stage", "n_blocks_per_stage"):
        if k in a:
            a[k] = a[k][:n]
    a["n_conv_per_stage_decoder"] = a["n_conv_per_stage_decoder"][:n - 1]
    if "blocks" in case:
        a["n_blocks_per_stage"] = list(case["blocks"])
    divisor = np.prod(np.array(a["strides"]), 0)
    assert all(p % d == 0 for p, d in zip(case["patch"], divisor)), (case["patch"], divisor)
    cfg["patch_size"] = list(case["patch"])
    cfg["batch_size"] = case["batch"]
    return cfg


def plan_dataset(dataset_id: int, planner: str, plans_name: str, cases: list, work: Path, threads: int):
    """Fingerprint + plan (nnU-Net's API), narrow the plans, then nnU-Net's preprocessing."""
    env = nnunet_env(work, threads, n_proc_da=1)
    code = f"""
import json, sys
from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess
sys.path.insert(0, {str(HERE)!r})
import make_reference as mr
from pathlib import Path
pre = Path({str(work / 'nnUNet_preprocessed')!r})
name = [p.name for p in pre.iterdir() if p.name.startswith('Dataset{dataset_id}_')] if pre.exists() else []
if not name or not (pre / name[0] / 'dataset_fingerprint.json').exists():
    extract_fingerprints([{dataset_id}], num_processes=1, check_dataset_integrity=True, clean=True, verbose=False)
    name = [p.name for p in pre.iterdir() if p.name.startswith('Dataset{dataset_id}_')]
plan_experiments([{dataset_id}], {planner!r})
pf = pre / name[0] / ({plans_name!r} + '.json')
plans = json.loads(pf.read_text())
json.dump(plans, open(str(pf).replace('.json', '.as_planned.json'), 'w'), indent=1)
cases = json.loads({json.dumps(json.dumps(cases))})
for case in cases:
    mr.narrow_configuration(plans, case)
pf.write_text(json.dumps(plans, indent=1))
preprocess([{dataset_id}], {plans_name!r}, configurations=[c['config'] for c in cases], num_processes=[1],
           verbose=False)
"""
    run([PY, "-c", code], env, log=work / f"plan_{dataset_id}_{plans_name}.log")


def write_splits(work: Path, dataset_name: str, n_cases: int, prefix: str):
    keys = [f"{prefix}_{i:03d}" for i in range(n_cases)]
    splits = [{"train": keys[:3], "val": keys[3:]}, {"train": keys[1:], "val": keys[:1]}]
    (work / "nnUNet_preprocessed" / dataset_name / "splits_final.json").write_text(json.dumps(splits, indent=1))


# ----------------------------------------------------------------------------------------- training
def cmd_train(args):
    """Child process: nnU-Net's own trainer, a few short epochs on the CPU."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json, join
    from nnunetv2.paths import nnUNet_preprocessed
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    class RefShortTrainer(nnUNetTrainer):
        def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                     device: torch.device = torch.device("cpu")):
            super().__init__(plans, configuration, fold, dataset_json, device)
            self.num_epochs = args.epochs
            self.num_iterations_per_epoch = args.iters
            self.num_val_iterations_per_epoch = 2
            self.save_every = 10 ** 6

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    name = maybe_convert_to_dataset_name(args.dataset)
    base = join(nnUNet_preprocessed, name)
    plans = load_json(join(base, args.plans + ".json"))
    plans["continue_training"] = False
    trainer = RefShortTrainer(plans, args.config, args.fold, load_json(join(base, "dataset.json")),
                              torch.device("cpu"))
    trainer.run_training()
    print("trained:", trainer.output_folder)


def export_model(work: Path, dataset_name: str, case: dict, dest_root: Path) -> Path:
    """Copy the trained folder as nnU-Net reads it; trainer_name -> nnUNetTrainer, no optimizer state."""
    import torch
    src = work / "nnUNet_results" / dataset_name / f"RefShortTrainer__{case['plans']}__{case['config']}"
    dst = dest_root / f"nnUNetTrainer__{case['plans']}__{case['config']}"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in ("dataset.json", "plans.json", "dataset_fingerprint.json"):
        shutil.copy(src / f, dst / f)
    for fold in case["folds"]:
        ck = torch.load(src / f"fold_{fold}" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
        ck.pop("optimizer_state", None)
        ck.pop("grad_scaler_state", None)
        ck["trainer_name"] = "nnUNetTrainer"
        (dst / f"fold_{fold}").mkdir()
        torch.save(ck, dst / f"fold_{fold}" / "checkpoint_final.pth")
    return dst


# ----------------------------------------------------------------------------------------- float32
def apply_float32_patch():
    import inspect
    import textwrap
    import nnunetv2.inference.predict_from_raw_data as m
    name = FLOAT32_PATCH["function"].split(".")[1]
    src = textwrap.dedent(inspect.getsource(getattr(m.nnUNetPredictor, name)))
    for r in FLOAT32_PATCH["replacements"]:
        assert src.count(r["old"]) == r["count"], (r, src.count(r["old"]))
        src = src.replace(r["old"], r["new"])
    namespace = m.__dict__
    exec(compile(src, m.__file__ + " (float32 patch)", "exec"), namespace)
    setattr(m.nnUNetPredictor, name, namespace[name])
    return src


def cmd_predict_float32(cli_args):
    """Child process: nnUNetv2_predict_from_modelfolder with FLOAT32_PATCH applied first."""
    apply_float32_patch()
    from nnunetv2.inference.predict_from_raw_data import predict_entry_point_modelfolder
    sys.argv = ["nnUNetv2_predict_from_modelfolder"] + cli_args
    predict_entry_point_modelfolder()


# ----------------------------------------------------------------------------------------- intermediates
def cmd_intermediates(args):
    """Child process: every stage nnU-Net computes for one input, stock and float32."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape
    from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero
    from nnunetv2.preprocessing.resampling.default_resampling import compute_new_shape, determine_do_sep_z_and_axis
    from acvl_utils.cropping_and_padding.padding import pad_nd_image

    torch.set_num_threads(1)
    files = [str(f) for f in args.files]
    pred = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                           perform_everything_on_device=False, device=torch.device("cpu"), allow_tqdm=False)
    pred.initialize_from_trained_model_folder(args.model, [int(f) for f in args.folds], "checkpoint_final.pth")
    pm, cm, lm = pred.plans_manager, pred.configuration_manager, pred.label_manager
    rw = pm.image_reader_writer_class()
    raw, props = rw.read_images(files)
    data = raw.astype(np.float32)
    transposed = data.transpose([0, *[i + 1 for i in pm.transpose_forward]])
    spacing_t = [props["spacing"][i] for i in pm.transpose_forward]
    cropped, nonzero_seg, bbox = crop_to_nonzero(np.ascontiguousarray(transposed))
    target = list(cm.spacing) if len(cm.spacing) == 3 else [spacing_t[0], *cm.spacing]
    new_shape = compute_new_shape(cropped.shape[1:], spacing_t, target)
    preprocessor = cm.preprocessor_class(verbose=False)
    zscore = []
    for c in range(cropped.shape[0]):
        im = cropped[c].astype(np.float32)
        mask = nonzero_seg[0] >= 0 if cm.use_mask_for_norm[c] else np.ones(im.shape, bool)
        zscore.append({"mean": float(im[mask].mean()), "std": float(im[mask].std()), "n_voxels": int(mask.sum())})
    normalized = preprocessor._normalize(cropped.copy(), nonzero_seg, cm,
                                         pm.foreground_intensity_properties_per_channel)
    resampled = cm.resampling_fn_data(normalized.copy(), new_shape, spacing_t, target)
    pre, _, pre_props = preprocessor.run_case(files, None, pm, cm, pred.dataset_json)
    assert np.array_equal(pre, resampled), "staged preprocessing differs from DefaultPreprocessor.run_case"
    x = torch.from_numpy(pre).to(dtype=torch.float32, memory_format=torch.contiguous_format)

    padded, _ = pad_nd_image(x, cm.patch_size, "constant", {"value": 0}, True, None)
    spatial = padded.shape[1:] if len(cm.patch_size) == 3 else padded.shape[2:]
    steps = compute_steps_for_sliding_window(spatial, cm.patch_size, 0.5)
    g16 = compute_gaussian(tuple(cm.patch_size), sigma_scale=1. / 8, value_scaling_factor=10,
                           dtype=torch.float16, device=torch.device("cpu")).numpy()

    out = {"normalized": normalized, "nonzero_seg": nonzero_seg, "preprocessed": pre,
           "gaussian_float16": g16}
    spacing_export = list(cm.spacing) if len(cm.spacing) == len(pre_props["shape_after_cropping_and_before_resampling"]) \
        else [spacing_t[0], *cm.spacing]
    for tag in ("stock", "float32"):
        if tag == "float32":
            apply_float32_patch()
        logits = pred.predict_logits_from_preprocessed_data(x).cpu()
        out[f"logits_{tag}"] = logits.numpy()
        if tag == "float32":  # the stock one is the same float64 computation stored as float16
            out["logits_resampled_float32"] = np.asarray(cm.resampling_fn_probabilities(
                logits.numpy(), pre_props["shape_after_cropping_and_before_resampling"], spacing_export, spacing_t))
        seg, probs = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits, pm, cm, lm, pre_props, return_probabilities=True)
        ref = np.load(Path(args.outputs) / f"{tag}_{args.compare}" / f"{args.case}.npz")["probabilities"]
        out[f"matches_cli_{tag}"] = np.array(np.array_equal(ref, probs))
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest / "stages.npz", **out)

    def sep_z(cur, new, kwargs):
        do, axis = determine_do_sep_z_and_axis(kwargs.get("force_separate_z"), cur, new)
        return {"do_separate_z": bool(do), "axis": None if axis is None else int(axis)}
    diff = np.abs(out["logits_stock"].astype(np.float32) - out["logits_float32"])
    info = {
        "case": args.case,
        "logits_stock_vs_float32": {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()),
                                    "argmax_index": [int(i) for i in np.unravel_index(diff.argmax(), diff.shape)],
                                    "max_abs_logit": float(np.abs(out["logits_float32"]).max())}, "input_files": [Path(f).name for f in files],
        "reader": type(rw).__name__,
        "sitk_stuff": {k: list(v) for k, v in props["sitk_stuff"].items()},
        "spacing_read": [float(s) for s in props["spacing"]],
        "raw_shape": list(raw.shape), "raw_dtype": str(raw.dtype),
        "transpose_forward": list(pm.transpose_forward), "transpose_backward": list(pm.transpose_backward),
        "spacing_transposed": [float(s) for s in spacing_t],
        "shape_before_cropping": [int(s) for s in pre_props["shape_before_cropping"]],
        "bbox_used_for_cropping": [[int(a), int(b)] for a, b in pre_props["bbox_used_for_cropping"]],
        "shape_after_cropping_and_before_resampling":
            [int(s) for s in pre_props["shape_after_cropping_and_before_resampling"]],
        "target_spacing": [float(s) for s in target], "new_shape": [int(s) for s in new_shape],
        "normalization_schemes": cm.normalization_schemes, "use_mask_for_norm": cm.use_mask_for_norm,
        "foreground_intensity_properties_per_channel": pm.foreground_intensity_properties_per_channel,
        "zscore_stats_float32_numpy": zscore,
        "resampling_fn_data": cm.configuration["resampling_fn_data"],
        "resampling_fn_data_kwargs": cm.configuration["resampling_fn_data_kwargs"],
        "resampling_fn_probabilities": cm.configuration["resampling_fn_probabilities"],
        "resampling_fn_probabilities_kwargs": cm.configuration["resampling_fn_probabilities_kwargs"],
        "separate_z_forward": sep_z(spacing_t, target, cm.configuration["resampling_fn_data_kwargs"]),
        "separate_z_export": sep_z(spacing_export, spacing_t, cm.configuration["resampling_fn_probabilities_kwargs"]),
        "export_resampling_from_spacing": [float(s) for s in spacing_export],
        "patch_size": list(cm.patch_size), "padded_shape": list(padded.shape[1:]),
        "sliding_window_steps": [list(map(int, s)) for s in steps],
        "n_tiles": int(np.prod([len(s) for s in steps]) * (padded.shape[1] if len(cm.patch_size) == 2 else 1)),
        "tile_step_size": 0.5, "mirror_axes": list(pred.allowed_mirroring_axes),
        "folds": [int(f) for f in args.folds],
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in out.items()},
        "notes": {
            "normalized": "after transpose_forward, crop_to_nonzero and normalisation, before resampling (float32)",
            "nonzero_seg": "crop_to_nonzero's seg: 0 inside the filled nonzero mask, -1 outside (int8)",
            "preprocessed": "DefaultPreprocessor.run_case output: the network input (float32)",
            "logits_*": "predict_logits_from_preprocessed_data (mirroring on, folds averaged): stock is float16",
            "logits_resampled_float32": "resampling_fn_probabilities of logits_float32 to "
                                        "shape_after_cropping_and_before_resampling, before the softmax/sigmoid and "
                                        "before the crop is reverted (stock: the same float64 math on the float16 "
                                        "logits, stored into a float16 array)",
            "gaussian_float16": "compute_gaussian(patch, 1/8, value_scaling_factor=10, dtype=float16) as stock uses it; "
                                "the float32 variant's is the same float64 map cast to float32, zeros replaced by its "
                                "smallest nonzero value",
            "matches_cli_*": "convert_predicted_logits_to_segmentation_with_correct_shape on these logits equals the "
                             "CLI's saved probabilities (variant " + args.compare + ") exactly",
        },
    }
    (dest / "properties.json").write_text(json.dumps(info, indent=1, default=float))
    print(json.dumps({k: info[k] for k in ("separate_z_forward", "separate_z_export", "n_tiles")}))


# ----------------------------------------------------------------------------------------- manifest
def nifti_summary(path: Path):
    import nibabel as nib
    img = nib.load(str(path))
    a = np.asanyarray(img.dataobj)
    h = img.header
    d = {"shape": list(a.shape), "dtype": str(a.dtype), "zooms": [float(z) for z in h.get_zooms()],
         "qform_code": int(h["qform_code"]), "sform_code": int(h["sform_code"]),
         "qform": np.round(img.get_qform(), 6).tolist(), "sform": np.round(img.get_sform(), 6).tolist(),
         "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
    if a.dtype.kind in "ui":
        u, c = np.unique(a, return_counts=True)
        d["label_counts"] = {str(int(k)): int(v) for k, v in zip(u, c)}
    else:
        d.update(min=float(a.min()), max=float(a.max()), mean=float(a.mean()))
    return d


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    return o


def output_summary(folder: Path, case: str):
    import pickle
    probs = np.load(folder / f"{case}.npz")["probabilities"]
    with open(folder / f"{case}.pkl", "rb") as f:
        props = pickle.load(f)
    return {"segmentation": nifti_summary(folder / f"{case}.nii.gz"),
            "probabilities": {"shape": list(probs.shape), "dtype": str(probs.dtype),
                              "channel_sums": [float(probs[c].sum(dtype=np.float64)) for c in range(len(probs))],
                              "max": float(probs.max()), "min": float(probs.min())},
            "pkl_properties": jsonable(props)}


def compare(a: Path, b: Path, case: str):
    import nibabel as nib
    pa, pb = (np.load(p / f"{case}.npz")["probabilities"] for p in (a, b))
    sa, sb = (np.asanyarray(nib.load(str(p / f"{case}.nii.gz")).dataobj) for p in (a, b))
    return {"max_abs_probability_difference": float(np.abs(pa - pb).max()),
            "mean_abs_probability_difference": float(np.abs(pa - pb).mean()),
            "voxels_with_different_label": int((sa != sb).sum())}


def versions():
    from importlib.metadata import version
    names = ["nnunetv2", "torch", "numpy", "scipy", "scikit-image", "SimpleITK", "nibabel",
             "dynamic_network_architectures", "batchgenerators", "acvl_utils"]
    v = {n: version(n) for n in names}
    v["python"] = sys.version.split()[0]
    return v


def describe_models(out: Path):
    """Add to manifest.json what each checkpoint holds: top-level keys, parameter names and shapes."""
    import torch
    manifest = json.loads((out / "manifest.json").read_text())
    models = {}
    for ck_path in sorted((out / "models").glob("*/*/fold_*/checkpoint_final.pth")):
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        w = ck["network_weights"]
        models[str(ck_path.relative_to(out))] = {
            "sha256": hashlib.sha256(ck_path.read_bytes()).hexdigest()[:16],
            "keys": sorted(ck.keys()), "trainer_name": ck["trainer_name"],
            "current_epoch": ck["current_epoch"], "configuration": ck["init_args"]["configuration"],
            "fold": ck["init_args"]["fold"],
            "inference_allowed_mirroring_axes": jsonable(ck["inference_allowed_mirroring_axes"]),
            # the state dict names some tensors twice (decoder.encoder.*, all_modules.*): count storages once
            "n_parameters": int(sum({v.data_ptr(): v.numel() for v in w.values()
                                     if v.dtype.is_floating_point}.values())),
            "n_state_dict_entries": len(w),
            "network_weights": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                                for k, v in w.items()}}
    manifest["checkpoints"] = models
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


# ----------------------------------------------------------------------------------------- driver
def intermediates_entry(k: str, c: dict, model_dir: Path, in_dir: Path, out: Path, work: Path, env: dict):
    """Stage arrays for one input, with the folds of the case's widest TTA variant (A: 0 and 1)."""
    suffix = "tta_folds01" if "stock_tta_folds01" in c["variants"] else "tta"
    folds = VARIANTS["stock_" + suffix][0].split()
    ic = c["intermediates"]
    dest = out / "intermediates" / k / ic
    run([PY, __file__, "intermediates", "--model", model_dir, "--folds", *folds, "--case", ic,
         "--outputs", out / "outputs" / k, "--compare", suffix, "--dest", dest,
         "--files", *sorted(in_dir.glob(f"{ic}_*.nii.gz"))], env, log=work / f"intermediates_{k}.log")
    return {"case": ic, "folder": str(dest.relative_to(out)), "folds": [int(f) for f in folds],
            "mirroring": True, "compared_with": ["stock_" + suffix, "float32_" + suffix],
            "properties": json.loads((dest / "properties.json").read_text())}


def main_all(args):
    shared, work, out = Path(args.shared), Path(args.work), Path(args.out).resolve()
    cases = [c for c in args.cases.split(",")]
    if work.exists():
        shutil.rmtree(work)
    (work / "nnUNet_raw").mkdir(parents=True)
    env = nnunet_env(work, args.threads)
    for sub in ("models", "inputs", "outputs", "intermediates"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    t0 = time.time()
    make_liver(shared, work / "nnUNet_raw", out / "inputs")
    make_brain(shared, work / "nnUNet_raw", out / "inputs")
    names = {501: "Dataset501_RefLiverCT", 502: "Dataset502_RefBrainMR", 503: "Dataset503_RefBrainRegions"}
    prefixes = {501: "liver", 502: "brain", 503: "brain"}
    print(f"data made in {time.time() - t0:.0f} s", flush=True)

    trained = {k: v for k, v in CASES.items() if "model_of" not in v and k in cases}
    groups = {}
    for k, c in trained.items():
        groups.setdefault((c["dataset"], c["plans"]), []).append(c)
    for (ds, plans), cs in groups.items():
        planner = next(c["planner"] for c in cs if c["planner"]) if any(c["planner"] for c in cs) else None
        t = time.time()
        plan_dataset(ds, planner, plans, cs, work, args.threads)
        write_splits(work, names[ds], 4, prefixes[ds])
        print(f"planned+preprocessed {names[ds]} {plans} in {time.time() - t:.0f} s", flush=True)

    model_dirs = {}
    for k, c in trained.items():
        for fold in c["folds"]:
            t = time.time()
            run([PY, __file__, "train", "--dataset", c["dataset"], "--plans", c["plans"], "--config", c["config"],
                 "--fold", fold, "--epochs", args.epochs, "--iters", args.iters, "--seed", 1000 + fold,
                 "--threads", args.threads], env, log=work / f"train_{k}_{fold}.log")
            print(f"trained {k} fold {fold} in {time.time() - t:.0f} s", flush=True)
        model_dirs[k] = export_model(work, names[c["dataset"]], c, out / "models" / k)

    manifest = {"generator": "Tests/References/nnunet/make_reference.py", "versions": versions(),
                "float32_patch": FLOAT32_PATCH, "paths_relative_to": "Tests/References/nnunet",
                "training": {"trainer": "nnUNetTrainer subclass RefShortTrainer (num_epochs, "
                                        "num_iterations_per_epoch, num_val_iterations_per_epoch changed only)",
                             "epochs": args.epochs, "iterations_per_epoch": args.iters, "device": "cpu",
                             "exported_as": "trainer_name 'nnUNetTrainer', optimizer_state and "
                                            "grad_scaler_state removed"},
                "environment": {k: env[k] for k in ("nnUNet_def_n_proc", "nnUNet_n_proc_DA", "nnUNet_compile",
                                                     "OMP_NUM_THREADS")},
                "cases": {}}
    for k in cases:
        c = CASES[k]
        model_case = c.get("model_of", k)
        mc = CASES[model_case]
        model_dir = out / "models" / model_case / f"nnUNetTrainer__{mc['plans']}__{mc['config']}"
        in_dir = out / "inputs" / c["inputs"]
        case_ids = sorted({p.name[:-len("_0000.nii.gz")] for p in in_dir.glob("*_0000.nii.gz")})
        entry = {"covers": c["covers"], "model_folder": str(model_dir.relative_to(out)),
                 "trainer": "nnUNetTrainer", "plans": mc["plans"], "configuration": mc["config"],
                 "folds_available": mc["folds"], "input_folder": str(in_dir.relative_to(out)),
                 "inputs": {cid: {p.name: nifti_summary(p) for p in sorted(in_dir.glob(f"{cid}_*.nii.gz"))}
                            for cid in case_ids},
                 "variants": {}}
        plans_json = json.loads((model_dir / "plans.json").read_text())
        cfgj = plans_json["configurations"][mc["config"]]
        entry["plan_summary"] = {"patch_size": cfgj["patch_size"], "spacing": cfgj["spacing"],
                                 "normalization_schemes": cfgj["normalization_schemes"],
                                 "use_mask_for_norm": cfgj["use_mask_for_norm"],
                                 "transpose_forward": plans_json["transpose_forward"],
                                 "network_class_name": cfgj["architecture"]["network_class_name"],
                                 "n_stages": cfgj["architecture"]["arch_kwargs"]["n_stages"],
                                 "features_per_stage": cfgj["architecture"]["arch_kwargs"]["features_per_stage"]}
        for v in c["variants"]:
            folds, tta, f32 = VARIANTS[v]
            o = out / "outputs" / k / v
            cli = ["-i", str(in_dir.relative_to(out)), "-o", str(o.relative_to(out)), "-m",
                   str(model_dir.relative_to(out)), "-f", *folds.split(), "-device", "cpu", "-npp", "1", "-nps", "1",
                   "--save_probabilities", "--disable_progress_bar"] + (["--disable_tta"] if not tta else [])
            cmd = ([PY, Path(__file__).resolve(), "predict-float32"] if f32 else
                   [BIN / "nnUNetv2_predict_from_modelfolder"]) + cli
            t = time.time()
            run(cmd, env, cwd=out, log=work / f"predict_{k}_{v}.log")
            print(f"predicted {k} {v} in {time.time() - t:.0f} s", flush=True)
            for extra in ("dataset.json", "plans.json"):  # nnU-Net copies these next to its outputs
                (o / extra).unlink(missing_ok=True)
            shown = (["python", "make_reference.py", "predict-float32"] if f32 else
                     ["nnUNetv2_predict_from_modelfolder"]) + cli
            entry["variants"][v] = {"folds": [int(f) for f in folds.split()], "mirroring": tta,
                                    "float32_accumulation": f32, "command": shown,
                                    "outputs": {cid: output_summary(o, cid) for cid in case_ids}}
        for v in c["variants"]:
            if v.startswith("float32"):
                s = v.replace("float32", "stock")
                entry["variants"][v]["vs_" + s] = {cid: compare(out / "outputs" / k / v, out / "outputs" / k / s, cid)
                                                    for cid in case_ids}
        if "stock_notta" in entry["variants"]:
            entry["variants"]["stock_notta"]["vs_stock_tta"] = {
                cid: compare(out / "outputs" / k / "stock_notta", out / "outputs" / k / "stock_tta", cid)
                for cid in case_ids}
        t = time.time()
        entry["intermediates"] = intermediates_entry(k, c, model_dir, in_dir, out, work, env)
        print(f"intermediates {k} in {time.time() - t:.0f} s", flush=True)
        manifest["cases"][k] = entry
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    describe_models(out)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"done in {time.time() - t0:.0f} s, {total / 2 ** 20:.1f} MiB in {out}")


def main():
    if sys.argv[1:2] == ["predict-float32"]:  # the rest are nnUNetv2_predict_from_modelfolder's arguments
        return cmd_predict_float32(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd")
    a = sub.add_parser("all", help="(default) rebuild everything")
    for q in (p, a):
        q.add_argument("--shared", default=str(HERE.parents[2].parent / "shared" / "data"))
        q.add_argument("--work", default="/tmp/volseg_nnunet_reference")
        q.add_argument("--out", default=str(HERE), help="where models/ inputs/ outputs/ intermediates/ and "
                                                       "manifest.json go (wiped first); default: beside this script")
        q.add_argument("--cases", default=",".join(CASES))
        q.add_argument("--threads", type=int, default=1)
        q.add_argument("--epochs", type=int, default=TRAIN_EPOCHS)
        q.add_argument("--iters", type=int, default=TRAIN_ITERS)
    t = sub.add_parser("train")
    for n, ty in (("dataset", int), ("plans", str), ("config", str), ("fold", int), ("epochs", int),
                  ("iters", int), ("seed", int), ("threads", int)):
        t.add_argument("--" + n, type=ty, required=True)
    sub.add_parser("predict-float32", help="nnUNetv2_predict_from_modelfolder ARGS with FLOAT32_PATCH")
    i = sub.add_parser("intermediates")
    for n in ("model", "case", "outputs", "dest", "compare"):
        i.add_argument("--" + n, required=True)
    i.add_argument("--folds", nargs="+", required=True)
    i.add_argument("--files", nargs="+", required=True)
    sub.add_parser("describe-models", help="only refresh manifest.json's checkpoints section")
    args = p.parse_args()
    if args.cmd == "describe-models":
        return describe_models(HERE)
    {"train": cmd_train, "intermediates": cmd_intermediates}.get(
        args.cmd, main_all)(args)


if __name__ == "__main__":
    main()
