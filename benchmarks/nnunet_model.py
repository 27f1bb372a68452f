"""Makes an nnU-Net v2 trained-model folder for benchmarks/compare_nnunet.sh.

    python nnunet_model.py brats|liver OUT_DIR

The network is nnU-Net's own default 3d_fullres U-Net (PlainConvUNet, 6 stages, 32-320 features,
patch 128^3) built by nnU-Net's `get_network_from_plans` with its initial weights, saved in
nnU-Net's checkpoint layout; timing does not depend on the weights. brats: 4 channels (ZScore
inside the nonzero mask), labels 0-3. liver: 1 channel CT (CTNormalization), labels 0-2, target
spacing 1 x 0.8 x 0.8 mm so that both resamplings run.
"""
import json
import os
import sys

import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

kind, out = sys.argv[1], sys.argv[2]
channels = 4 if kind == "brats" else 1
classes = 4
arch = {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {
        "n_stages": 6, "features_per_stage": [32, 64, 128, 256, 320, 320],
        "conv_op": "torch.nn.modules.conv.Conv3d", "kernel_sizes": [[3, 3, 3]] * 6,
        "strides": [[1, 1, 1]] + [[2, 2, 2]] * 5, "n_conv_per_stage": [2] * 6, "n_conv_per_stage_decoder": [2] * 5,
        "conv_bias": True, "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None, "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True}},
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}
resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
probabilities = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}
configuration = {
    "data_identifier": "nnUNetPlans_3d_fullres", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
    "patch_size": [128, 128, 128], "median_image_size_in_voxels": [155, 240, 240],
    "spacing": [1.0, 1.0, 1.0] if kind == "brats" else [1.0, 0.8, 0.8],
    "normalization_schemes": ["ZScoreNormalization"] * 4 if kind == "brats" else ["CTNormalization"],
    "use_mask_for_norm": [True] * 4 if kind == "brats" else [False],
    "resampling_fn_data": "resample_data_or_seg_to_shape", "resampling_fn_seg": "resample_data_or_seg_to_shape",
    "resampling_fn_data_kwargs": resampling, "resampling_fn_seg_kwargs": dict(resampling, is_seg=True, order=1),
    "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
    "resampling_fn_probabilities_kwargs": probabilities, "architecture": arch, "batch_dice": False}
plans = {
    "dataset_name": "Dataset900_Bench", "plans_name": "nnUNetPlans", "original_median_spacing_after_transp": [1.0, 1.0, 1.0],
    "original_median_shape_after_transp": [155, 240, 240], "image_reader_writer": "SimpleITKIO",
    "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2], "configurations": {"3d_fullres": configuration},
    "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
    "foreground_intensity_properties_per_channel": {str(c): {"max": 1500.0, "mean": 100.0, "median": 100.0, "min": -1000.0,
                                                             "percentile_00_5": -50.0, "percentile_99_5": 250.0, "std": 60.0}
                                                    for c in range(channels)}}
names = ["T1", "T1ce", "T2", "FLAIR"] if kind == "brats" else ["CT"]
dataset = {"channel_names": {str(i): n for i, n in enumerate(names)},
           "labels": {"background": 0, "a": 1, "b": 2, "c": 3}, "numTraining": 1, "file_ending": ".nii.gz"}
folder = os.path.join(out, "nnUNetTrainer__nnUNetPlans__3d_fullres")
os.makedirs(os.path.join(folder, "fold_0"), exist_ok=True)
json.dump(plans, open(os.path.join(folder, "plans.json"), "w"), indent=1)
json.dump(dataset, open(os.path.join(folder, "dataset.json"), "w"), indent=1)
torch.manual_seed(0)
network = get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"], arch["_kw_requires_import"],
                                 channels, classes, allow_init=True, deep_supervision=False)
torch.save({"network_weights": network.state_dict(), "trainer_name": "nnUNetTrainer", "current_epoch": 1000,
            "inference_allowed_mirroring_axes": (0, 1, 2),
            "init_args": {"plans": plans, "configuration": "3d_fullres", "fold": 0, "dataset_json": dataset}},
           os.path.join(folder, "fold_0", "checkpoint_final.pth"))
print(folder)
