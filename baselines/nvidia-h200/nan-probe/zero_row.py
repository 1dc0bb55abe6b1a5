"""The suite's probe for the fp8dqrow NaN (measure.capabilities.zero_row_gives_nan) on this GPU, for each fp8
scheme, and the same linear with torchao's activation_value_lb set (a floor under the per-row scale).

    python zero_row.py > zero_row.txt
"""

import torch
from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

from diffbench.build import internals
from diffbench.measure.capabilities import Target, zero_row_gives_nan
from diffbench.spec.matrix import Scenario

target = Target.detect("cuda")
print(f"{target.name}, torch {torch.__version__}, torchao {internals.installed('torchao')}")
for scheme in ("fp8dqrow", "fp8dq", "fp8wo", "int8dq"):
    print(f"{scheme}: {zero_row_gives_nan(Scenario('sdxl', scheme), target)}")
for lb in (None, 1e-12):
    linear = torch.nn.Linear(64, 64, device="cuda", dtype=torch.bfloat16)
    quantize_(linear, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow(), activation_value_lb=lb))
    x = torch.randn(2, 64, device="cuda", dtype=torch.bfloat16)
    x[1] = 0
    with torch.no_grad():
        out = linear(x)
    print(f"PerRow, activation_value_lb={lb}: zero row's output finite {bool(torch.isfinite(out[1]).all())}, "
          f"other row's finite {bool(torch.isfinite(out[0]).all())}")
