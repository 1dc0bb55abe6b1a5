"""Each pipeline-changing dimension's apply step, keyed by the dimension's name: `pipelines.build` walks them in
the order of the records' `apply_order` (`spec.dimensions.APPLIED`), after loading and quantizing. A step takes
the loaded pipeline, the scenario (it reads its own dimension's value) and the build options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diffbench.build import attention, caching, compilation, memory, parallel
from diffbench.build.built import BuildOptions
from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.spec.caching import CACHE_MODES
from diffbench.spec.compile_modes import COMPILE_MODES
from diffbench.spec.dimensions import APPLIED
from diffbench.spec.matrix import Scenario
from diffbench.spec.parallel import PARALLEL_MODES

Step = Callable[[Any, Scenario, BuildOptions], None]


def _offload(pipe, scenario: Scenario, options: BuildOptions) -> None:
    memory.apply_offload(pipe, scenario.offload, options.device)


def _vae(pipe, scenario: Scenario, options: BuildOptions) -> None:
    memory.apply_vae_mode(pipe, scenario.vae)


def _attention(pipe, scenario: Scenario, options: BuildOptions) -> None:
    attention.pin(ATTENTION_KERNELS[scenario.attention], getattr(pipe, scenario.spec.denoiser))


def _cache(pipe, scenario: Scenario, options: BuildOptions) -> None:
    caching.apply_cache(pipe, scenario.spec.denoiser, CACHE_MODES[scenario.cache])


def _parallel(pipe, scenario: Scenario, options: BuildOptions) -> None:
    parallel.apply(getattr(pipe, scenario.spec.denoiser), PARALLEL_MODES[scenario.parallel])


def _compile(pipe, scenario: Scenario, options: BuildOptions) -> None:
    compilation.compile_pipeline(pipe, COMPILE_MODES[scenario.compile], scenario.spec.denoiser,
                                 scenario.spec.repeated_blocks, scenario.compile_vae)


STEPS: dict[str, Step] = dict(offload=_offload, vae=_vae, attention=_attention, cache=_cache, parallel=_parallel,
                              compile=_compile)


def apply_all(pipe, scenario: Scenario, options: BuildOptions) -> None:
    """Every dimension's step, in the records' order."""
    for dimension in APPLIED:
        STEPS[dimension.name](pipe, scenario, options)
