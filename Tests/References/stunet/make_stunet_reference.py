"""Writes the STU-Net / nnU-Net v1 files that STUNetCheckpointTests and the segment CLI tests read.

    STUNET_REPO=/path/to/uni-medical/STU-Net python Tests/References/stunet/make_stunet_reference.py

Made with torch 2.15.0 and numpy 2.4.6 from PyPI, and STU-Net's own network code
(nnUNet-1.7.1/nnunet/network_architecture/STUNet.py of uni-medical/STU-Net at 0652eaf), imported
from the checkout; only its two nnU-Net v1 imports (the He initialiser and the SegmentationNetwork
base class) are stood in for here, since the weights are overwritten anyway.

- tiny.model: what nnU-Net v1's `save_checkpoint` writes (torch.save of epoch, state_dict,
  optimizer_state_dict after one SGD step, lr_scheduler_state_dict, plot_stuff), for a narrow
  STU-Net (widths 4-8, two blocks in stage 1, 6 stages) with random weights.
- tiny.model.pkl: its plans as v1 pickles them (OrderedDict of init, name, plans; numpy arrays
  in the plans), two stages (the last one is used), four pool kernels in the plans (STU-Net's
  trainer pads them to five with [1, 1, 1]), z-score over the whole image.
- case.nii.gz: a 32 x 32 x 16 (x, y, z) MRI-like volume, no zero voxel, on the plans' spacing
  with a RAS affine, so VolSeg's preprocessing neither crops, reorients nor resamples it.
- expected.json: the torch network's logits on the z-scored case (the full volume is one window
  of the plans' patch), their argmax as labels, and the figures the plans hold.
- stunet_base_ep4k.model.pkl: STU-Net's published plans for STU-Net-B (plan_files/, Apache License 2.0),
  copied as shipped.
"""
import collections
import importlib.util
import json
import os
import pickle
import shutil
import sys
import types

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ["STUNET_REPO"]


def load_stunet_class():
    # STUNet.py imports two nnU-Net v1 names; stand-ins with the same role.
    initialization = types.ModuleType("nnunet.network_architecture.initialization")

    class InitWeights_He:
        def __init__(self, neg_slope):
            self.neg_slope = neg_slope

        def __call__(self, module):
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, a=self.neg_slope)

    initialization.InitWeights_He = InitWeights_He
    neural_network = types.ModuleType("nnunet.network_architecture.neural_network")
    neural_network.SegmentationNetwork = nn.Module
    for name in ["nnunet", "nnunet.network_architecture"]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[initialization.__name__] = initialization
    sys.modules[neural_network.__name__] = neural_network
    path = os.path.join(REPO, "nnUNet-1.7.1/nnunet/network_architecture/STUNet.py")
    spec = importlib.util.spec_from_file_location("stunet_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.STUNet


def main():
    torch.manual_seed(20261202)
    rng = np.random.default_rng(20261202)
    STUNet = load_stunet_class()
    plan_pools = [[2, 2, 2], [2, 2, 2], [1, 2, 2], [2, 2, 2]]
    pools = plan_pools + [[1, 1, 1]]  # STUNetTrainer.process_plans pads to five
    kernels = [[3, 3, 3]] * 6
    dims, depth = [4, 8, 8, 8, 8, 8], [1, 2, 1, 1, 1, 1]
    network = STUNet(1, 3, depth=depth, dims=dims, pool_op_kernel_sizes=pools, conv_kernel_sizes=kernels)
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if "norm" in name and name.endswith("weight"):
                parameter.copy_(1 + 0.2 * torch.randn_like(parameter))
            elif name.endswith("bias"):
                parameter.copy_(0.1 * torch.randn_like(parameter))
            else:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn_like(parameter) * (2.0 / fan_in) ** 0.5)
    network.eval()

    # One SGD step so the optimizer state holds momentum buffers, as a trained v1 file does.
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-9, momentum=0.99, nesterov=True)
    probe = torch.randn(1, 1, 16, 32, 32)
    network(probe)[0].sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    torch.save({
        "epoch": 3,
        "state_dict": network.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "lr_scheduler_state_dict": scheduler.state_dict(),
        "plot_stuff": ([0.9, 0.8, 0.7], [0.95, 0.85, 0.75], [0.1, 0.2, 0.3], []),
    }, os.path.join(HERE, "tiny.model"))

    spacing_zyx = np.array([2.0, 1.25, 1.0])
    plans = {
        "num_stages": 2, "num_modalities": 1, "modalities": {0: "MR"},
        "normalization_schemes": collections.OrderedDict([(0, "nonCT")]),
        "num_classes": 2, "all_classes": [1, 2], "base_num_features": 4,
        "use_mask_for_norm": collections.OrderedDict([(0, False)]),
        "keep_only_largest_region": None, "min_region_size_per_class": None, "min_size_per_class": None,
        "transpose_forward": [np.int64(0), 1, 2], "transpose_backward": [0, 1, 2],
        "data_identifier": "nnUNetData_plans_v2.1", "preprocessor_name": "GenericPreprocessor", "conv_per_stage": 2,
        "plans_per_stage": {
            0: {"batch_size": 2, "num_pool_per_axis": [2, 3, 3], "patch_size": np.array([8, 16, 16]),
                "current_spacing": spacing_zyx * 2, "original_spacing": spacing_zyx,
                "pool_op_kernel_sizes": [[2, 2, 2], [1, 2, 2]], "conv_kernel_sizes": [[3, 3, 3]] * 3,
                "do_dummy_2D_data_aug": np.False_},
            1: {"batch_size": 2, "num_pool_per_axis": [3, 4, 4], "patch_size": np.array([16, 32, 32]),
                "current_spacing": spacing_zyx, "original_spacing": spacing_zyx,
                "pool_op_kernel_sizes": plan_pools, "conv_kernel_sizes": [[3, 3, 3]] * 5,
                "do_dummy_2D_data_aug": np.False_},
        },
        "dataset_properties": {"intensityproperties": None},
    }
    info = collections.OrderedDict(init=("", 0, "", "", False, 0, True, False, True), name="STUNetTrainer_tiny",
                                   plans=plans)
    with open(os.path.join(HERE, "tiny.model.pkl"), "wb") as f:
        pickle.dump(info, f)

    # The case: (z, y, x) array order is nnU-Net's and VolSeg's [D, H, W].
    volume = (100 + 30 * rng.standard_normal((16, 32, 32))).astype(np.float32)
    volume[4:10, 8:20, 10:26] += 80
    volume = np.where(volume == 0, 1, volume).astype(np.float32)
    import nibabel as nib
    affine = np.diag([spacing_zyx[2], spacing_zyx[1], spacing_zyx[0], 1.0])
    affine[:3, 3] = [-20.0, 10.0, 5.0]
    image = nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, os.path.join(HERE, "case.nii.gz"))

    # nnU-Net v1's z-score without a mask: (x - mean) / (std + 1e-8) over the image.
    normalized = (volume - volume.mean()) / (volume.std() + 1e-8)
    with torch.no_grad():
        network._deep_supervision = False
        network.do_ds = False
        logits = network(torch.from_numpy(normalized[None, None].astype(np.float32)))[0].numpy()
    expected = {
        "torch": torch.__version__, "numpy": np.__version__, "stunet_commit": "0652eaf",
        "dims": dims, "depth": depth, "strides": pools, "classes": 3,
        "patch": [16, 32, 32], "spacing_xyz": spacing_zyx[::-1].tolist(),
        "logits_shape": list(logits.shape),
        "logits": [float(v) for v in logits.astype(np.float32).ravel()],
        "labels": [int(v) for v in logits.argmax(0).ravel()],
        "second_margin_min": float(np.min(np.sort(logits, 0)[-1] - np.sort(logits, 0)[-2])),
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f)
    shutil.copy(os.path.join(REPO, "plan_files/base_ep4k.model.pkl"), os.path.join(HERE, "stunet_base_ep4k.model.pkl"))


if __name__ == "__main__":
    main()
