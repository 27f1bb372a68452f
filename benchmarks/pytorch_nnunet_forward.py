"""The network of an nnU-Net v2 model folder in PyTorch, one window forward, timed the way
`volseg bench nnunet` times ours (median of the runs after one warm-up, no gradients).

    python benchmarks/pytorch_nnunet_forward.py MODEL_DIR [--threads 2] [--repeats 3]

The network is built by nnU-Net's own get_network_from_plans from plans.json's 3d_fullres
architecture, with nnU-Net's initial weights (the time does not depend on them). Prints JSON.
"""
import argparse, json, statistics, time
import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(args.threads)
plans = json.load(open(f"{args.model}/plans.json"))
dataset = json.load(open(f"{args.model}/dataset.json"))
configuration = plans["configurations"]["3d_fullres"]
arch = configuration["architecture"]
channels = len(dataset["channel_names"])
network = get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"], arch["_kw_requires_import"],
                                 channels, len(dataset["labels"]), allow_init=True, deep_supervision=False).eval()
x = torch.randn(1, channels, *configuration["patch_size"])
times = []
with torch.no_grad():
    network(x)
    for _ in range(args.repeats):
        start = time.perf_counter()
        network(x)
        times.append((time.perf_counter() - start) * 1000)
print(json.dumps({"threads": args.threads, "input": list(x.shape), "torch": torch.__version__,
                  "forward_ms": round(statistics.median(times), 1)}))
