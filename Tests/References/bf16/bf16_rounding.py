"""PyTorch's Float32 -> bfloat16 rounding (round to nearest even), the reference for
ComputePrecisionTests: `python bf16_rounding.py > bf16_rounding.json` (torch 2.15, CPU)."""
import json, struct
import torch

values = [1.0, 1.00390625, 1.005859375, 1.0078125, 1.01171875, 3.14159265, -2.7, 0.1, -0.3333333, 65504.0,
          1e-3, 123456.789, -7.5e-5, 3.3895313892515355e+38, 3.4e38, -3.4e38, 0.0, -0.0, 2.5e-38, 1.17549435e-38, 5e-40, -1e-39]
generator = torch.Generator().manual_seed(0)
values += (torch.randn(44, generator=generator) * 10).tolist()
x = torch.tensor(values, dtype=torch.float32)
y = x.to(torch.bfloat16).to(torch.float32)
bits = lambda t: [struct.unpack('<I', struct.pack('<f', v))[0] for v in t.tolist()]
print(json.dumps({"torch": torch.__version__, "input_bits": bits(x), "bf16_bits": bits(y)}))
