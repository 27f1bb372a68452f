"""Reference values for VolSeg's optimizers, from torch.optim (run once; output committed).

    /path/to/venv-with-torch/bin/python Tests/References/make_optimizer_reference.py

Three steps of SGD (momentum 0.99, Nesterov, weight decay 3e-5, lr 1e-2) and AdamW (lr 1e-3,
weight decay 1e-2) on a fixed parameter with fixed gradients; float64 math, stored as lists.
"""
import json, torch

torch.manual_seed(0)
p0 = torch.randn(7, dtype=torch.float64)
grads = [torch.randn(7, dtype=torch.float64) for _ in range(3)]
out = {"initial": p0.tolist(), "gradients": [g.tolist() for g in grads]}
for name, make in [("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)),
                   ("adamw", lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2))]:
    p = torch.nn.Parameter(p0.clone())
    opt = make([p])
    steps = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        steps.append(p.detach().clone().tolist())
    out[name] = steps
json.dump(out, open(__file__.replace("make_optimizer_reference.py", "optimizer_reference.json"), "w"), indent=1)
