"""The bench-unet network in PyTorch, timed the way `volseg bench unet` times ours.

    python benchmarks/pytorch_unet.py [--patch 128] [--threads 2] [--only forward|train|volume] [--json]

4 stages 16-32-64-128, InstanceNorm (affine), LeakyReLU 0.01, stride-2 first conv per stage,
transposed conv k2 s2 up, concat skips, 4 inputs, 4 classes, 1x1x1 head, all convs with bias:
1,403,316 parameters. Prints the same JSON keys as volseg (times are medians after warm-up).
"""
import argparse, json, resource, statistics, time
import torch
import torch.nn as nn


def stage(cin, cout, stride):
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01),
        nn.Conv3d(cout, cout, 3, padding=1), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01))


class BenchUNet(nn.Module):
    def __init__(self, cin=4, classes=4, widths=(16, 32, 64, 128)):
        super().__init__()
        self.encoder = nn.ModuleList(stage(cin if i == 0 else widths[i - 1], w, 1 if i == 0 else 2) for i, w in enumerate(widths))
        self.up = nn.ModuleList(nn.ConvTranspose3d(widths[l + 1], widths[l], 2, stride=2) for l in reversed(range(len(widths) - 1)))
        self.decoder = nn.ModuleList(stage(2 * widths[l], widths[l], 1) for l in reversed(range(len(widths) - 1)))
        self.head = nn.Conv3d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, s in enumerate(self.encoder):
            x = s(x)
            if i < len(self.encoder) - 1:
                skips.append(x)
        for up, dec in zip(self.up, self.decoder):
            x = dec(torch.cat([up(x), skips.pop()], 1))
        return self.head(x)


def median_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["forward", "train", "volume"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = BenchUNet()
    assert sum(p.numel() for p in net.parameters()) == 1403316
    result = {"threads": a.threads, "torch": torch.__version__}
    x = torch.randn(1, 4, a.patch, a.patch, a.patch)
    if a.only in (None, "forward"):
        with torch.no_grad():
            net.eval()
            result["forward_ms"] = median_ms(lambda: net(x), 1, a.runs)
    if a.only in (None, "train"):
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
        target = torch.randint(0, 4, (1, a.patch, a.patch, a.patch))
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), target)
            loss.backward()
            opt.step()
        result["train_step_ms"] = median_ms(step, 1, a.runs)
    if a.only in (None, "volume"):
        big = torch.randn(1, 4, 160, 240, 240)
        with torch.no_grad():
            net.eval()
            result["brats_forward_ms"] = median_ms(lambda: net(big), 1, max(1, a.runs - 1))
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result) if a.json else result)


if __name__ == "__main__":
    main()
