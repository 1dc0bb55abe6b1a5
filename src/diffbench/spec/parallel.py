"""Context parallelism as a matrix dimension (data): how the denoiser's sequence is split across GPUs.

Each layout is one diffusers `ContextParallelConfig(ulysses_degree=..., ring_degree=...)`, applied with the
denoiser's `enable_parallelism` (models whose denoiser class has a `_cp_plan`: FLUX and Wan in diffusers 0.42).
Ulysses splits the attention heads (all-to-all), ring passes key/value blocks around (point to point); the two
combine, and the GPU count a layout needs is their product. `build/parallel.py` starts one rank per GPU and
applies the layout; `rules.INVALID` and `capabilities.parallel_unavailable` skip what cannot run, with reasons.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParallelMode:
    name: str
    description: str
    ulysses_degree: int = 1
    ring_degree: int = 1

    @property
    def gpus(self) -> int:
        """The GPUs (processes) the layout runs on."""
        return self.ulysses_degree * self.ring_degree


PARALLEL_MODES: dict[str, ParallelMode] = {
    p.name: p
    for p in [
        ParallelMode("none", "one GPU, no context parallelism (the default)"),
        ParallelMode("ulysses2", "Ulysses (all-to-all over attention heads) on 2 GPUs", ulysses_degree=2),
        ParallelMode("ring2", "ring attention (key/value blocks passed around) on 2 GPUs", ring_degree=2),
        ParallelMode("ulysses4", "Ulysses on 4 GPUs", ulysses_degree=4),
        ParallelMode("ulysses2-ring2", "Ulysses 2 x ring 2 (unified) on 4 GPUs", ulysses_degree=2, ring_degree=2),
    ]
}
