"""Writes the PyTorch checkpoints that TorchCheckpointTests reads, and expected.json.

Run from anywhere with a Python that has torch and numpy (made with torch 2.15.0, numpy 2.4.6):

    python Tests/References/torch/make_checkpoints.py

Every value is also written to expected.json in a canonical text form (see `canon`) that
TorchCheckpointTests renders from what VolSeg read, so a test compares every number, string,
shape and tensor element with what Python held before torch.save. Tensor elements are compared
as float32 bit patterns (floating dtypes, after PyTorch's own `.float()`) or int64 values.

Files that torch cannot be made to write are built here by hand, and say so:
- zip64.pth: torch writes a zip64 end-of-central-directory record on every file, but zip64
  extra fields (sizes and offsets of 0xFFFFFFFF in the headers) only past 4 GiB, so this file
  holds dtypes.pth's entries in a zip written by `write_zip64` with every size and offset in
  zip64 extra fields, unaligned.
- numpy_core.pth: numpy 2 writes `numpy._core.multiarray`; numpy 1 wrote `numpy.core.multiarray`,
  so nested.pth's pickle with the old module name (protocol 2 names globals as text, so the
  rename is a plain byte replacement).
- hostile/: pickles written opcode by opcode (never unpickled here) inside valid zips.
"""
import collections
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
import zlib

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(HERE, "hostile")
PICKLES = os.path.join(HERE, "pickles")


def float_bits(value):
    return "f%016x" % struct.unpack("<Q", struct.pack("<d", float(value)))[0]


def text(value):
    return '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\u{%x}" % ord(c) for c in value) + '"'


TORCH_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
               torch.float64: "float64", torch.int64: "int64", torch.int32: "int32", torch.int16: "int16",
               torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool"}


def canon_tensor(dtype_name, shape, floating, flat):
    if floating:
        values = ["x%08x" % struct.unpack("<I", struct.pack("<f", v))[0] for v in flat]
    else:
        values = ["%d" % v for v in flat]
    return "tensor(%s;%s;%s)" % (dtype_name, ",".join(str(s) for s in shape), ",".join(values))


def canon(obj):
    """The value as TorchCheckpointTests.canon renders a PickleValue."""
    if obj is None:
        return "N"
    if isinstance(obj, (bool, np.bool_)):
        return "T" if obj else "F"
    if isinstance(obj, (int, np.integer)):
        return "i%d" % int(obj)
    if isinstance(obj, (float, np.floating)):
        return float_bits(obj)
    if isinstance(obj, str):
        return "s" + text(obj)
    if isinstance(obj, (bytes, bytearray)):
        return "b" + bytes(obj).hex()
    if isinstance(obj, list):
        return "[" + ",".join(canon(x) for x in obj) + "]"
    if isinstance(obj, tuple):
        return "(" + ",".join(canon(x) for x in obj) + ")"
    if isinstance(obj, dict):
        return "{" + ",".join(canon(k) + ":" + canon(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (set, frozenset)):
        return "set(" + ",".join(sorted(canon(x) for x in obj)) + ")"
    if isinstance(obj, torch.Tensor):
        floating = obj.dtype.is_floating_point
        flat = (obj.detach().float() if floating else obj.detach().long()).contiguous().view(-1).tolist()
        return canon_tensor(TORCH_NAMES[obj.dtype], list(obj.shape), floating, flat)
    if isinstance(obj, np.ndarray):
        floating = obj.dtype.kind == "f"
        flat = (obj.astype(np.float32) if floating else obj.astype(np.int64)).reshape(-1).tolist()
        return canon_tensor(obj.dtype.name, list(obj.shape), floating, flat)
    if isinstance(obj, torch.device):
        return "device(%s)" % obj
    if isinstance(obj, torch.dtype):
        return "global(%s)" % obj
    if callable(obj):
        return "global(%s.%s)" % (obj.__module__, obj.__qualname__)
    raise TypeError(type(obj))


def seeded(shape, seed, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator).to(dtype)


def dtypes():
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), float("nan"), 1e-3])
    return {
        "float32": torch.cat([special, seeded([8], 1)]).view(2, 8),
        "float16": torch.tensor([0.0, -0.0, 1.0, 65504.0, 6e-8, -3.140625, float("inf"), float("nan")],
                                dtype=torch.float16).view(2, 2, 2),
        "bfloat16": torch.tensor([1.0, -2.0, 3.0e38, 1e-38, 0.1, float("-inf")], dtype=torch.bfloat16),
        "float64": torch.tensor([0.1, 1e-300, -1e300, 2.0 ** 60 + 1.0], dtype=torch.float64),
        "int64": torch.tensor([0, -1, 2 ** 62 + 3, -2 ** 63, 2 ** 63 - 1], dtype=torch.int64),
        "int32": torch.tensor([[-2 ** 31, 2 ** 31 - 1], [7, -7]], dtype=torch.int32),
        "int16": torch.tensor([-32768, 32767, 5], dtype=torch.int16),
        "int8": torch.tensor([-128, 127, 0], dtype=torch.int8),
        "uint8": torch.tensor([0, 1, 254, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
    }


def views():
    base = torch.arange(24, dtype=torch.float32)
    grid = base.view(4, 6)
    halves = torch.arange(6, dtype=torch.float16).view(2, 3)
    return {
        "base": base,
        "window": base[4:10].view(2, 3),
        "transposed": grid.t(),
        "sliced": grid[1:, ::2],
        "expanded": base[:3].view(3, 1).expand(3, 4),
        "half_transposed": halves.t(),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "base_again": base,
    }


def nested():
    shared = [1, "two"]
    return {
        "none": None,
        "flags": [True, False],
        "ints": [0, 1, -1, 255, 256, 65536, -2 ** 31, 2 ** 63 - 1, -2 ** 63, 2 ** 64, -2 ** 70, 2 ** 200],
        "floats": [0.0, -0.0, 1.5, 1e-300, float("inf"), float("nan"), 0.1],
        "strings": ["", "abc", "caf\u00e9", "\u65e5\u672c", "line\nbreak \\ 'quote' \"dq\"", "x" * 300],
        "bytes": [b"", b"\x00\xff\x80", b"y" * 40],
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "deep": {"a": {"b": {"c": [[], {}, (), [[1]]]}}},
        "int_keys": {1: "one", (2, 3): "pair"},
        "set": {1, 2, 3},
        "frozenset": frozenset(["a"]),
        "ordered": collections.OrderedDict([("z", 1), ("a", 2)]),
        "shared": [shared, shared],
        "numpy_float64": np.float64(0.8125),
        "numpy_float32": np.float32(-1.25),
        "numpy_int64": np.int64(-123456789012),
        "numpy_bool": np.bool_(True),
        "numpy_array": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "numpy_int_array": np.array([[1, -2], [3, 2 ** 40]], dtype=np.int64),
        "numpy_fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "device": torch.device("cuda", 0),
        "dtype": torch.float16,
        "tensor": torch.tensor([[1.0, 2.0]]),
    }


class TinyNet(torch.nn.Module):
    """Names like nnU-Net's PlainConvUNet (encoder.stages.0.0.convs.0.conv.weight, ...)."""

    def __init__(self):
        super().__init__()
        block = torch.nn.ModuleDict({
            "conv": torch.nn.Conv3d(1, 2, 3, padding=1),
            "norm": torch.nn.InstanceNorm3d(2, affine=True),
        })
        self.encoder = torch.nn.Module()
        self.encoder.stages = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Module()))
        self.encoder.stages[0][0].convs = torch.nn.ModuleList([block])
        self.decoder = torch.nn.Module()
        self.decoder.transpconvs = torch.nn.ModuleList([torch.nn.ConvTranspose3d(2, 2, 2, stride=2)])
        self.decoder.seg_layers = torch.nn.ModuleList([torch.nn.Conv3d(2, 3, 1)])
        self.decoder.bn = torch.nn.BatchNorm3d(2)


def trained_net(seed):
    torch.manual_seed(seed)
    net = TinyNet()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.99, nesterov=True, weight_decay=3e-5)
    loss = sum(p.square().sum() for p in net.parameters())
    loss.backward()
    optimizer.step()
    net.decoder.bn(torch.randn(2, 2, 2, 2, 2))
    return net, optimizer


def plans():
    return {
        "dataset_name": "Dataset003_Liver",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [1.0, 0.767578125, 0.767578125],
        "configurations": {
            "3d_fullres": {
                "data_identifier": "nnUNetPlans_3d_fullres",
                "batch_size": 2,
                "patch_size": [128, 128, 128],
                "spacing": [1.0, 0.767578125, 0.767578125],
                "architecture": {
                    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                    "arch_kwargs": {"n_stages": 6, "features_per_stage": [32, 64, 128, 256, 320, 320],
                                    "conv_op": "torch.nn.modules.conv.Conv3d", "kernel_sizes": [[3, 3, 3]] * 6,
                                    "strides": [[1, 1, 1]] + [[2, 2, 2]] * 5, "conv_bias": True,
                                    "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None},
                    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
                },
            },
        },
        "foreground_intensity_properties_per_channel": {"0": {"mean": 99.4, "percentile_00_5": -17.0}},
    }


def nnunet_v2():
    """What nnUNetTrainer.save_checkpoint writes as checkpoint_final.pth."""
    net, optimizer = trained_net(3)
    return {
        "network_weights": net.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "grad_scaler_state": None,
        "logging": {
            "mean_fg_dice": [np.float64(0.5), np.float64(0.625)],
            "ema_fg_dice": [np.float64(0.5), np.float64(0.5125)],
            "dice_per_class_or_region": [[0.25, 0.75], [0.5, 0.75]],
            "train_losses": [np.float64(-0.125), np.float64(-0.25)],
            "lrs": [0.01, 0.0099],
            "epoch_start_timestamps": [1700000000.25, 1700000100.5],
        },
        "_best_ema": np.float64(0.5125),
        "current_epoch": 1000,
        "init_args": {"plans": plans(), "configuration": "3d_fullres", "fold": 0,
                      "dataset_json": {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "tumor": 2},
                                       "numTraining": 131, "file_ending": ".nii.gz"},
                      "device": torch.device("cuda")},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }


def nnunet_v1():
    """What nnU-Net v1's NetworkTrainer.save_checkpoint (and STU-Net's) writes as model_final_checkpoint.model."""
    net, optimizer = trained_net(4)
    return {
        "epoch": 1000,
        "state_dict": collections.OrderedDict((k, v.cpu()) for k, v in net.state_dict().items()),
        "optimizer_state_dict": optimizer.state_dict(),
        "amp_grad_scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                            "growth_interval": 2000, "_growth_tracker": 7},
        "plot_stuff": ([0.5, 0.25], [0.625, 0.375], [], [np.float64(0.75)]),
        "best_stuff": (998, 0.125, np.float64(0.8125)),
    }


def zip_entries(path):
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info.filename)) for info in archive.infolist()]


def write_zip64(path, entries):
    """A stored zip whose every size and offset is in a zip64 extra field (0xFFFFFFFF in the header),
    with zip64 end records, as a writer does for entries past 4 GiB."""
    out = io.BytesIO()
    central = []
    for name, data in entries:
        offset = out.tell()
        crc = zlib.crc32(data)
        name_bytes = name.encode()
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(name_bytes), len(local_extra)) + name_bytes + local_extra + data)
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF,
                                   0xFFFFFFFF, len(name_bytes), len(extra), 0, 0, 0, 0, 0xFFFFFFFF)
                       + name_bytes + extra)
    directory_offset = out.tell()
    for record in central:
        out.write(record)
    directory_size = out.tell() - directory_offset
    end64 = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries),
                          directory_size, directory_offset))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


def write_stored_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)


def torch_layout(pickle_bytes, storages=()):
    return ([("archive/data.pkl", pickle_bytes), ("archive/byteorder", b"little")]
            + [("archive/data/%s" % key, data) for key, data in storages] + [("archive/version", b"3\n")])


class Sneaky:
    """A class of this script: pickling an instance writes NEWOBJ __main__.Sneaky."""

    def __init__(self):
        self.command = "echo sneaky"


def hostile():
    os.makedirs(HOSTILE, exist_ok=True)

    def at(name):
        return os.path.join(HOSTILE, name)

    # REDUCE os.system('echo pwned'): GLOBAL, a one-tuple, REDUCE. Never unpickled here.
    reduce_os_system = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
    write_stored_zip(at("reduce_os_system.pth"), torch_layout(reduce_os_system))
    # The same call hidden one level down, inside a dict of weights.
    nested_call = (b"\x80\x02}q\x00X\x0f\x00\x00\x00network_weightsq\x01cbuiltins\neval\nq\x02"
                   b"X\x04\x00\x00\x001+1 q\x03\x85q\x04Rq\x05s.")
    write_stored_zip(at("reduce_builtins_eval.pth"), torch_layout(nested_call))
    # INST and OBJ: the protocol 0/1 ways to call a class.
    write_stored_zip(at("inst_subprocess.pth"), torch_layout(b"(S'ls'\nisubprocess\nPopen\n."))
    write_stored_zip(at("obj_subprocess.pth"), torch_layout(b"(csubprocess\nPopen\nS'ls'\no."))
    # A pickled instance of a class that is no rebuilder: NEWOBJ then BUILD.
    write_stored_zip(at("newobj_custom_class.pth"), torch_layout(pickle.dumps({"x": Sneaky()}, protocol=2)))
    # Globals never called: placeholders, no error.
    buffer = io.BytesIO()
    torch.save({"counter_class": collections.Counter, "system": os.system, "x": 1}, buffer)
    with open(at("unknown_globals.pth"), "wb") as f:
        f.write(buffer.getvalue())
    # An opcode pickle does not have.
    write_stored_zip(at("unknown_opcode.pth"), torch_layout(b"\x80\x02}q\x00\xff."))
    # A tensor of 10 elements on a storage of 4.
    out_of_range = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                    b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00K\x0a\x85K\x01\x85\x89ccollections\nOrderedDict\n"
                    b")RtR.")
    write_stored_zip(at("storage_out_of_range.pth"), torch_layout(out_of_range, [("0", b"\x00" * 16)]))
    # The same tensor with its storage entry missing.
    write_stored_zip(at("missing_storage.pth"), torch_layout(out_of_range.replace(b"K\x0a\x85", b"K\x04\x85")))
    # Compressed data.pkl (torch never writes one).
    write_stored_zip(at("compressed.pth"), torch_layout(pickle.dumps({"a": 1}, protocol=2)), zipfile.ZIP_DEFLATED)
    # A zip without data.pkl.
    write_stored_zip(at("no_data_pkl.pth"), [("archive/byteorder", b"little"), ("archive/version", b"3\n")])
    # The first 600 bytes of a real checkpoint: the central directory is gone.
    with open(os.path.join(HERE, "dtypes.pth"), "rb") as f:
        whole = f.read()
    with open(at("truncated.pth"), "wb") as f:
        f.write(whole[:600])
    with open(at("not_a_zip.pth"), "wb") as f:
        f.write(b"this is a text file, not a checkpoint\n")
    # torch.save's format before 1.6 (still written with _use_new_zipfile_serialization=False).
    torch.save({"w": torch.ones(2)}, at("legacy.pth"), _use_new_zipfile_serialization=False)
    # The tar layout of torch < 0.4, which torch.load still recognises.
    with tarfile.open(at("legacy_tar.pth"), "w") as tar:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"\x80"))


def main():
    expected = {}

    def save(name, obj):
        torch.save(obj, os.path.join(HERE, name))
        expected[name] = canon(obj)

    save("dtypes.pth", dtypes())
    save("views.pth", views())
    save("nested.pth", nested())
    save("nnunet_v2.pth", nnunet_v2())
    save("nnunet_v1.model", nnunet_v1())

    write_zip64(os.path.join(HERE, "zip64.pth"), zip_entries(os.path.join(HERE, "dtypes.pth")))
    expected["zip64.pth"] = expected["dtypes.pth"]

    entries = zip_entries(os.path.join(HERE, "nested.pth"))
    renamed = [(name, data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray") if name.endswith("data.pkl") else data)
               for name, data in entries]
    assert renamed != entries
    write_stored_zip(os.path.join(HERE, "numpy_core.pth"), renamed)
    expected["numpy_core.pth"] = expected["nested.pth"]

    # Plain pickles of one object in every protocol, for the unpickler on its own.
    os.makedirs(PICKLES, exist_ok=True)
    plain = {key: value for key, value in nested().items() if not key.startswith(("numpy", "device", "dtype", "tensor"))}
    plain["bytearray"] = bytearray(b"ba\x00")
    plain["ordered_in_tuple"] = (collections.OrderedDict([("k", [1.25])]),)
    for protocol in range(6):
        name = "protocol%d.pkl" % protocol
        with open(os.path.join(PICKLES, name), "wb") as f:
            f.write(pickle.dumps(plain, protocol=protocol))
        expected["pickles/" + name] = canon(plain)

    hostile()
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "numpy": np.__version__, "values": expected}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
