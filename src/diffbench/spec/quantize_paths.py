"""The ways the quantization-cost tests put a quantized denoiser on the device, as data."""

from __future__ import annotations

from dataclasses import dataclass

from diffbench.spec.matrix import Scenario


@dataclass(frozen=True)
class QuantizePath:
    name: str
    steps: tuple[str, ...]  # names in build.quantization_paths.STEPS, run in order
    description: str
    needs_cuda: bool = False  # on the CPU it would only repeat the `cpu` path


QUANTIZE_PATHS: dict[str, QuantizePath] = {
    p.name: p
    for p in [
        QuantizePath("cpu", ("load", "quantize", "to_device"), "quantize_ on the CPU, then move"),
        QuantizePath("cuda", ("load", "to_device", "quantize"), "move the bf16 denoiser, then quantize_ there",
                     needs_cuda=True),
        QuantizePath("per-parameter", ("load", "quantize_onto_device"),
                     "quantize_(..., device=): each linear moved just before it is quantized", needs_cuda=True),
        QuantizePath("from_pretrained", ("load_quantized", "to_device"),
                     "from_pretrained with TorchAoConfig (quantized while loading), then move"),
    ]
}


@dataclass(frozen=True)
class QuantizationCase:
    """One test: a model's denoiser, a scheme, a path (the scenario's other dimensions play no part)."""

    scenario: Scenario
    path: QuantizePath

    @property
    def id(self) -> str:
        return f"{self.scenario.model}-{self.scenario.scheme}-quantize-{self.path.name}"
