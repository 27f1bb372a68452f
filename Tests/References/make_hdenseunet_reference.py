"""Reference for VolSeg's H-DenseUNet, from the same network written in PyTorch (run once; output
committed as hdenseunet_reference.json):

    /path/to/venv-with-torch/bin/python Tests/References/make_hdenseunet_reference.py

The network follows the reference Keras code (xmengli/H-DenseUNet: denseunet.py for the 2D
decoder's skip additions, hybridnet.py for the 2D-to-3D transformation, the 3D DenseNet and the
fusion), in torchvision's DenseNet naming. It records:
- parameter counts of both presets for (1 in, 3 classes) and (4 in, 4 classes) (`volseg models`'
  default), and the 2D encoder's count, which must equal torchvision's densenet161 `features`
  (28,681,000 parameters minus the 2208 x 1000 + 1000 classifier = 26,472,000);
- the small preset's state-dict names and shapes;
- the small preset's evaluation-mode outputs (fused logits and stage-1 2D scores) for a slab, with
  every parameter and running statistic filled by a formula both sides compute (`fill` below),
  every 10th value stored;
- training-mode gradients of the weighted cross-entropy, stages 1 and 3 (see the end of the file).
"""
import json, math
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(rank, cin, cout, k, stride=1, bias=True):
    cls = nn.Conv2d if rank == 2 else nn.Conv3d
    return cls(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=bias)


def bn(rank, c, eps):
    return (nn.BatchNorm2d if rank == 2 else nn.BatchNorm3d)(c, eps=eps)


class DenseLayer(nn.Module):
    def __init__(self, rank, cin, bottleneck, growth):
        super().__init__()
        self.norm1, self.conv1 = bn(rank, cin, 1e-5), conv(rank, cin, bottleneck, 1, bias=False)
        self.norm2, self.conv2 = bn(rank, bottleneck, 1e-5), conv(rank, bottleneck, growth, 3, bias=False)

    def forward(self, x):
        return self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


class DenseBlock(nn.Module):
    def __init__(self, rank, cin, layers, growth, factor):
        super().__init__()
        for i in range(layers):
            self.add_module("denselayer%d" % (i + 1), DenseLayer(rank, cin + i * growth, factor * growth, growth))

    def forward(self, x):
        for layer in self.children():
            x = torch.cat([x, layer(x)], 1)
        return x


class Transition(nn.Module):
    def __init__(self, rank, cin, cout):
        super().__init__()
        self.norm, self.conv = bn(rank, cin, 1e-5), conv(rank, cin, cout, 1, bias=False)
        self.window = (2, 2) if rank == 2 else (1, 2, 2)

    def forward(self, x):
        pool = F.avg_pool2d if len(self.window) == 2 else F.avg_pool3d
        return pool(self.conv(F.relu(self.norm(x))), self.window)


class Encoder(nn.Module):
    def __init__(self, rank, cin, init, blocks, growth, factor=4, compression=0.5):
        super().__init__()
        self.rank = rank
        self.conv0, self.norm0 = conv(rank, cin, init, 7, stride=2, bias=False), bn(rank, init, 1e-5)
        c, self.widths = init, []
        for b, n in enumerate(blocks):
            self.add_module("denseblock%d" % (b + 1), DenseBlock(rank, c, n, growth, factor))
            c += n * growth
            self.widths.append(c)
            if b < len(blocks) - 1:
                self.add_module("transition%d" % (b + 1), Transition(rank, c, int(c * compression)))
                c = int(c * compression)
        self.norm5 = bn(rank, c, 1e-5)
        self.nblocks = len(blocks)

    def forward(self, x):
        stem = F.relu(self.norm0(self.conv0(x)))
        pool = F.max_pool2d if self.rank == 2 else F.max_pool3d
        h, box = pool(stem, 3, 2, 1), [stem]
        for b in range(self.nblocks):
            h = getattr(self, "denseblock%d" % (b + 1))(h)
            if b < self.nblocks - 1:
                box.append(h)
                h = getattr(self, "transition%d" % (b + 1))(h)
        box.append(F.relu(self.norm5(h)))
        return box


class DenseUNet2D(nn.Module):
    def __init__(self, cin, classes, init, blocks, growth, widths):
        super().__init__()
        self.features = Encoder(2, cin, init, blocks, growth)
        self.line0 = conv(2, self.features.widths[2], self.features.widths[3], 1)
        c = self.features.widths[3]
        for i, w in enumerate(widths):
            setattr(self, "conv_up%d" % i, conv(2, c, w, 3))
            setattr(self, "bn_up%d" % i, bn(2, w, 1e-3))
            c = w
        self.dropout = nn.Dropout(0.3)
        self.classifier = conv(2, c, classes, 1)

    def forward(self, x):
        box = self.features(x)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        h = F.relu(self.bn_up0(self.conv_up0(up(box[4]) + self.line0(box[3]))))
        for s in (1, 2, 3):
            h = F.relu(getattr(self, "bn_up%d" % s)(getattr(self, "conv_up%d" % s)(up(h) + box[3 - s])))
        f = F.relu(self.bn_up4(self.dropout(self.conv_up4(up(h)))))
        return f, self.classifier(f)


class DenseUNet3D(nn.Module):
    def __init__(self, cin, init, blocks, growth, widths):
        super().__init__()
        self.features = Encoder(3, cin, init, blocks, growth)
        c = self.features.widths[3]
        for i, w in enumerate(widths):
            setattr(self, "conv_up%d" % i, conv(3, c, w, 3))
            setattr(self, "bn_up%d" % i, bn(3, w, 1e-3))
            c = w

    def forward(self, x):
        h = self.features(x)[4]
        for s, scale in enumerate([(1, 2, 2)] * 3 + [(2, 2, 2)] * 2):
            up = F.interpolate(h, scale_factor=scale, mode="nearest")
            h = F.relu(getattr(self, "bn_up%d" % s)(getattr(self, "conv_up%d" % s)(up)))
        return h


class Fusion(nn.Module):
    def __init__(self, c, classes):
        super().__init__()
        self.conv, self.dropout, self.norm = conv(3, c, c, 3), nn.Dropout(0.3), bn(3, c, 1e-3)
        self.classifier = conv(3, c, classes, 1)

    def forward(self, f):
        return self.classifier(F.relu(self.norm(self.dropout(self.conv(f)))))


class HDenseUNet(nn.Module):
    def __init__(self, cin, classes, d2, w2, d3, w3, score_scale=250.0):
        super().__init__()
        self.dense2d = DenseUNet2D(3 * cin, classes, *d2, w2)
        self.dense3d = DenseUNet3D(cin + classes, *d3, w3)
        self.fusion = Fusion(w3[-1], classes)
        self.score_scale = score_scale

    def slices(self, x):
        n, c, d, h, w = x.shape
        index = (torch.arange(d)[:, None] + torch.tensor([-1, 0, 1])[None]).clamp(0, d - 1)  # [D, 3]
        s = x[:, :, index]  # [N, C, D, 3, H, W]
        return s.permute(0, 2, 3, 1, 4, 5).reshape(n * d, 3 * c, h, w)

    @staticmethod
    def volume(t, d):
        return t.reshape(-1, d, *t.shape[1:]).permute(0, 2, 1, 3, 4)

    def forward(self, x, stage=3):
        d = x.shape[2]
        f2, s2 = self.dense2d(self.slices(x))
        if stage == 1:
            return self.volume(s2, d)
        f2, s2 = self.volume(f2, d), self.volume(s2, d)
        f3 = self.dense3d(torch.cat([x, s2 * self.score_scale], 1))
        return self.fusion(f3 + f2)


def full(cin, classes):
    return HDenseUNet(cin, classes, (96, [6, 12, 36, 24], 48), [768, 384, 96, 96, 64],
                      (96, [3, 4, 12, 8], 32), [504, 224, 192, 96, 64])


def small(cin, classes):
    return HDenseUNet(cin, classes, (8, [1, 1, 1, 1], 4), [10, 12, 8, 8, 8], (8, [1, 1, 1, 1], 4), [8] * 5)


def count(m):
    return sum(p.numel() for p in m.parameters())


def fill(model):
    """Every tensor of the state dict (but num_batches_tracked) from a formula of its sorted ordinal
    and flat index, computed in float64: VolSeg's test computes the same."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for ordinal, name in enumerate(sorted(state)):
        t = state[name]
        i = torch.arange(t.numel(), dtype=torch.float64)
        s = torch.sin(0.7 * i + 0.3 * ordinal)
        if name.endswith("running_var"):
            v = 1 + 0.25 * (1 + s)
        elif name.endswith("running_mean") or (t.dim() == 1 and name.endswith("bias")):
            v = 0.1 * s
        elif t.dim() == 1:
            v = 1 + 0.1 * s
        else:
            v = s * math.sqrt(3.0 / (t.numel() // t.shape[0]))
        t.copy_(v.reshape(t.shape).to(t.dtype))


def slab(shape):
    n = math.prod(shape)
    return torch.sin(0.05 * torch.arange(n, dtype=torch.float64)).reshape(shape).float()


if __name__ == "__main__":
    torch.set_num_threads(2)
    out = {"parameter_counts": {}}
    for name, make in (("hdenseunet", full), ("hdenseunet-small", small)):
        for cin, classes in ((1, 3), (4, 4)):
            out["parameter_counts"]["%s/%d/%d" % (name, cin, classes)] = count(make(cin, classes))
    encoder2d = count(full(1, 3).dense2d.features)
    assert encoder2d == 28_681_000 - (2208 * 1000 + 1000), encoder2d  # torchvision densenet161 features
    out["densenet161_features"] = encoder2d

    model = small(1, 3).eval()
    fill(model)
    out["small_state"] = [[k, list(v.shape)] for k, v in model.state_dict().items()
                          if not k.endswith("num_batches_tracked")]
    shape = [1, 1, 4, 64, 32]
    x = slab(shape)
    with torch.no_grad():
        fused, stage1 = model(x, stage=3), model(x, stage=1)
    out["slab_shape"] = shape
    for key, y in (("fused", fused), ("stage1", stage1)):
        flat = y.double().flatten()
        out[key] = {"shape": list(y.shape), "every_10th": flat[::10].tolist(),
                    "sum": flat.sum().item(), "sum_of_squares": (flat * flat).sum().item()}
    # Gradients of the reference's weighted cross-entropy in training mode (dropout off, float64),
    # stage 1 (2D batch statistics) and stage 3 (2D running statistics, 3D batch statistics), each
    # from freshly filled weights: every parameter's gradient norm, the gradients of a few small
    # parameters in full, and every 10th value of the slab's gradient.
    model = small(1, 3).double()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    shape = [1, 1, 8, 64, 32]
    n = shape[0] * shape[2] * shape[3] * shape[4]
    target = torch.tensor([(i * 7 // 13) % 3 for i in range(n)]).reshape(shape[0], *shape[2:])
    weights = torch.tensor([0.78, 0.65, 8.57], dtype=torch.float64)
    out["gradients"] = {"slab_shape": shape, "loss_weights": weights.tolist()}
    for stage in (1, 3):
        fill(model)
        model.train()
        if stage == 3:
            model.dense2d.eval()
        x = slab(shape).double().requires_grad_()
        loss = F.cross_entropy(model(x, stage=stage), target, weight=weights)
        model.zero_grad()
        loss.backward()
        grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
        out["gradients"]["stage%d" % stage] = {
            "loss": loss.item(),
            "norms": {k: g.norm().item() for k, g in grads.items()},
            "full": {k: grads[k].flatten().tolist() for k in grads if grads[k].numel() <= 16},
            "slab_every_10th": x.grad.flatten()[::10].tolist(),
        }
    def rounded(v):  # 9 significant digits: float32 results are compared, the file stays small
        if isinstance(v, float):
            return float("%.9g" % v)
        if isinstance(v, list):
            return [rounded(e) for e in v]
        if isinstance(v, dict):
            return {k: rounded(e) for k, e in v.items()}
        return v

    out = rounded(out)
    json.dump(out, open(__file__.replace("make_hdenseunet_reference.py", "hdenseunet_reference.json"), "w"))
    print(json.dumps(out["parameter_counts"], indent=1), "densenet161 features", encoder2d)
