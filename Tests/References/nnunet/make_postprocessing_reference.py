"""What nnUNetv2_apply_postprocessing writes for a postprocessing.pkl, for VolSeg's
`--postprocess nnunet` (Sources/VolSegNNUNet/NNUNetPostprocessing.swift).

    /work/venvs/nnunet/bin/python Tests/References/nnunet/make_postprocessing_reference.py

Writes postprocessing/ beside this script:
- `synthetic.nii.gz`: a 20x24x28 label map (written with SimpleITK, non-trivial spacing and
  origin) whose components probe the rules: a large and a small component of label 1; a voxel of
  label 1 touching the large one only at a corner (kept under full connectivity); two label-2
  components of equal size (a tie: nnU-Net keeps both); label 3 touching label 2 (one component of
  the region (2, 3)); label 4 in two pieces for background_label.
- `<name>.pkl`: postprocessing pickles made of nnU-Net's own function object and keyword
  arguments, pickled by nnU-Net's `save_pickle` as `determine_postprocessing` writes them, and
  `<name>_synthetic.nii.gz`: nnU-Net's `load_postprocess_save` of synthetic.nii.gz with it.
- `<name>_liver_0100.nii.gz` / `_liver_0101`: the same applied to nnU-Net's own predictions of
  case A (outputs/A/float32_notta), for the end-to-end test `segment -m models/A/... -f 0
  --disable_tta --postprocess nnunet -pp_pkl_file <name>.pkl`.
- `other_function.pkl`: nnU-Net's `apply_postprocessing` as a step, which VolSeg names as unsupported.
- `forbidden.pkl`: a pickle that calls os.system when Python loads it, which VolSeg must refuse
  without running anything.
"""
import os
import pickle

import numpy as np
import SimpleITK as sitk
from batchgenerators.utilities.file_and_folder_operations import save_pickle
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
from nnunetv2.postprocessing.remove_connected_components import (apply_postprocessing, load_postprocess_save,
                                                                 remove_all_but_largest_component_from_segmentation)

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "postprocessing")
os.makedirs(out, exist_ok=True)

seg = np.zeros((20, 24, 28), dtype=np.uint8)
seg[2:9, 3:12, 4:14] = 1           # large label-1 component
seg[9, 12, 14] = 1                 # corner contact with the large one
seg[15:17, 18:20, 20:22] = 1       # small label-1 component
seg[2:5, 16:19, 2:5] = 2           # label 2, 27 voxels
seg[12:15, 2:5, 22:25] = 2         # label 2, 27 voxels: a tie
seg[5:7, 16:19, 2:5] = 3           # label 3 touching the first label-2 block
seg[17:19, 2:4, 2:4] = 4           # label 4, 8 voxels
seg[10:11, 20:22, 10:11] = 4       # label 4, 2 voxels
image = sitk.GetImageFromArray(seg)
image.SetSpacing((0.8, 0.9, 2.5))
image.SetOrigin((-10.0, 20.0, 5.0))
sitk.WriteImage(image, os.path.join(out, "synthetic.nii.gz"))

fn = remove_all_but_largest_component_from_segmentation
variants = {
    # determine_postprocessing's first step: all foreground labels as one mask
    "foreground": ([fn], [{"labels_or_regions": [1, 2, 3, 4]}]),
    # its per-class steps, a region as a tuple, and the function's background_label argument
    "per_class": ([fn, fn, fn], [{"labels_or_regions": 1}, {"labels_or_regions": (2, 3)},
                                 {"labels_or_regions": 4, "background_label": 1}]),
    # one label whose two components tie for the largest: both stay
    "tie": ([fn], [{"labels_or_regions": 2}]),
    # case A's labels (1 liver, 2 tumour): foreground, then each label
    "liver": ([fn, fn, fn], [{"labels_or_regions": [1, 2]}, {"labels_or_regions": 1}, {"labels_or_regions": 2}]),
}
rw = SimpleITKIO()
for name, (fns, kwargs) in variants.items():
    save_pickle((fns, kwargs), os.path.join(out, f"{name}.pkl"))
    load_postprocess_save(os.path.join(out, "synthetic.nii.gz"), os.path.join(out, f"{name}_synthetic.nii.gz"), rw, fns, kwargs)
for case in ["liver_0100", "liver_0101"]:
    fns, kwargs = variants["liver"]
    load_postprocess_save(os.path.join(here, "outputs/A/float32_notta", case + ".nii.gz"),
                          os.path.join(out, f"liver_{case}.nii.gz"), rw, fns, kwargs)


# A function nnU-Net has but never writes into postprocessing.pkl: VolSeg names it as unsupported.
save_pickle(([apply_postprocessing], [{"pp_fns": [], "pp_fn_kwargs": []}]), os.path.join(out, "other_function.pkl"))


class Forbidden:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


with open(os.path.join(out, "forbidden.pkl"), "wb") as f:
    pickle.dump(([Forbidden()], [{"labels_or_regions": 1}]), f)

for name in sorted(os.listdir(out)):
    if name.endswith(".nii.gz"):
        a = sitk.GetArrayFromImage(sitk.ReadImage(os.path.join(out, name)))
        print(name, "voxels per label", {int(v): int((a == v).sum()) for v in np.unique(a)})
