"""Case G of the nnU-Net references: a model whose plans read images with NibabelIOWithReorient
(reoriented to RAS on reading, back to the input's orientation on writing), on an input that is
far from RAS. Run after make_reference.py (it reuses case A's trained fold 0 and input):

    /work/venvs/nnunet/bin/python Tests/References/nnunet/make_reorient_reference.py

Writes models/G/ (case A's model folder, fold 0 only, with plans.json's image_reader_writer set to
NibabelIOWithReorient), inputs/G/liver_0300_0000.nii.gz (inputs/A/liver_0101_0000.nii.gz, 1 x 1 x 2
mm, with its voxel axes permuted and flipped by nibabel so that the file is stored as (S, L, P)
with the same world positions; sform_code 1, qform_code 0, so nibabel's affine is the sform),
outputs/G/{stock_notta,float32_notta}/ from nnUNetv2_predict_from_modelfolder (fold 0, no
mirroring, --save_probabilities; float32 through make_reference.py's patch), and adds case G to
manifest.json, which NNUNetReferenceTests iterates.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

here = Path(__file__).resolve().parent
python = Path(sys.executable)
model_a = here / "models/A/nnUNetTrainer__nnUNetPlans__3d_fullres"
model_g = here / "models/G/nnUNetTrainer__nnUNetPlans__3d_fullres"
shutil.rmtree(here / "models/G", ignore_errors=True)
(model_g / "fold_0").mkdir(parents=True)
for name in ["dataset.json", "dataset_fingerprint.json"]:
    shutil.copy(model_a / name, model_g / name)
shutil.copy(model_a / "fold_0/checkpoint_final.pth", model_g / "fold_0/checkpoint_final.pth")
plans = json.loads((model_a / "plans.json").read_text())
plans["image_reader_writer"] = "NibabelIOWithReorient"
(model_g / "plans.json").write_text(json.dumps(plans, indent=4))

inputs = here / "inputs/G"
shutil.rmtree(inputs, ignore_errors=True)
inputs.mkdir(parents=True)
source = nib.load(here / "inputs/A/liver_0101_0000.nii.gz")
# Input axis 0 (R) -> output axis 1 flipped, 1 (A) -> 2 flipped, 2 (S) -> 0: stored as (S, L, P).
moved = source.as_reoriented(np.array([[1, -1], [2, -1], [0, 1]]))
image = nib.Nifti1Image(np.asarray(moved.dataobj).astype(np.float32), moved.affine)
image.set_sform(moved.affine, code=1)
image.set_qform(None, code=0)
nib.save(image, inputs / "liver_0300_0000.nii.gz")
print("input axcodes", nib.aff2axcodes(image.affine), "shape", image.shape, "zooms", image.header.get_zooms())

variants = {"stock_notta": False, "float32_notta": True}
env = dict(os.environ, nnUNet_raw="/tmp/none", nnUNet_preprocessed="/tmp/none", nnUNet_results="/tmp/none",
           OMP_NUM_THREADS="2", nnUNet_n_proc_DA="0")
manifest = json.loads((here / "manifest.json").read_text())
entry = {"covers": "NibabelIOWithReorient plans (case A's fold 0) on an input stored as (S, L, P): reoriented to RAS "
                   "on reading and back on writing; 2 mm slices so both resamplings run",
         "model_folder": "models/G/nnUNetTrainer__nnUNetPlans__3d_fullres", "trainer": "nnUNetTrainer", "plans": "nnUNetPlans",
         "configuration": "3d_fullres", "folds_available": [0], "input_folder": "inputs/G", "variants": {}}
for name, float32 in variants.items():
    out = here / "outputs/G" / name
    shutil.rmtree(out, ignore_errors=True)
    cli = ["-i", "inputs/G", "-o", f"outputs/G/{name}", "-m", entry["model_folder"], "-f", "0", "-device", "cpu", "-npp", "1",
           "-nps", "1", "--save_probabilities", "--disable_progress_bar", "--disable_tta"]
    command = ([str(python), str(here / "make_reference.py"), "predict-float32"] if float32
               else [str(python.parent / "nnUNetv2_predict_from_modelfolder")]) + cli
    subprocess.run(command, cwd=here, env=env, check=True)
    for extra in ["dataset.json", "plans.json"]:
        (out / extra).unlink(missing_ok=True)
    seg = nib.load(out / "liver_0300.nii.gz")
    print(name, "output axcodes", nib.aff2axcodes(seg.affine), "affine equal to the input's:",
          bool(np.allclose(seg.affine, image.affine, atol=1e-4)), "labels", np.unique(np.asarray(seg.dataobj), return_counts=True))
    shown = (["python", "make_reference.py", "predict-float32"] if float32 else ["nnUNetv2_predict_from_modelfolder"]) + cli
    entry["variants"][name] = {"folds": [0], "mirroring": False, "float32_accumulation": float32, "command": shown}
manifest["cases"]["G"] = entry
(here / "manifest.json").write_text(json.dumps(manifest, indent=1))
