"""Quantization cost: load a scheme's denoiser, quantize it and put it on the device, one path per test."""

from diffbench.build import quantization_paths
from diffbench.measure import quantization_cost


def test_quantization_cost(quantization_case, settings, quantization_cost_log):
    steps = quantization_paths.steps(quantization_case, settings.build)
    record = quantization_cost.measure_case(quantization_case, steps, settings.build)
    quantization_cost_log.append(record)
    assert record["quantized_tensors"] > 0, f"{quantization_case.id}: no weight came out quantized"
    if record["bf16_gib"] is not None:
        assert record["quantized_gib"] < record["bf16_gib"], (
            f"{quantization_case.id}: {record['quantized_gib']:.3f} GiB quantized, "
            f"not below the {record['bf16_gib']:.3f} GiB it started from")
