"""torchao's float8 scale and quantize steps on a CPU, for an activation with one all-zero row (the arithmetic
behind the fp8dqrow NaN; the CUDA linear goes through the same two functions). Private torchao functions: this is
evidence, not suite code.

    python zero_row_cpu.py > zero_row_cpu.txt
"""

import torch
import torchao
from torchao.quantization.quant_primitives import _choose_scale_float8, _quantize_affine_float8

print(f"torch {torch.__version__}, torchao {torchao.__version__}")
x = torch.randn(2, 64, dtype=torch.bfloat16)
x[1] = 0
for lb in (None, 1e-12):  # activation_value_lb of Float8DynamicActivationFloat8WeightConfig becomes hp_value_lb
    scale = _choose_scale_float8(x, block_size=[1, 64], hp_value_lb=lb)
    q = _quantize_affine_float8(x, scale).float()
    print(f"hp_value_lb={lb}: per-row scales {scale.flatten().tolist()}, zero row quantized finite "
          f"{bool(torch.isfinite(q[1]).all())}, other row finite {bool(torch.isfinite(q[0]).all())}")
