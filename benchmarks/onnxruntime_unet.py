"""The bench-unet network's forward in ONNX Runtime (CPU), timed the way `volseg bench unet
--only forward` times ours: the PyTorch network of pytorch_unet.py exported to ONNX, run by an
InferenceSession with all graph optimisations and the given intra-op threads.

    python benchmarks/onnxruntime_unet.py [--patch 128] [--threads 2] [--runs 3]

Needs torch, onnx and onnxruntime from PyPI. Prints JSON with forward_ms and peak_rss_bytes.
"""
import argparse, json, os, resource, statistics, sys, tempfile, time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_unet import BenchUNet  # noqa: E402

import onnxruntime as ort  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--patch", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--runs", type=int, default=3)
a = ap.parse_args()
torch.manual_seed(0)
net = BenchUNet().eval()
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "bench_unet.onnx")
    # Exported at a small size with dynamic spatial axes, so the export itself stays cheap.
    torch.onnx.export(net, torch.randn(1, 4, 32, 32, 32), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {2: "d", 3: "h", 4: "w"}, "y": {2: "d", 3: "h", 4: "w"}}, opset_version=17,
                      dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).standard_normal((1, 4, a.patch, a.patch, a.patch), dtype=np.float32)
session.run(None, {"x": x})
times = []
for _ in range(a.runs):
    start = time.perf_counter()
    session.run(None, {"x": x})
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps({"threads": a.threads, "onnxruntime": ort.__version__, "forward_ms": round(statistics.median(times), 1),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
