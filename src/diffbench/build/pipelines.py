"""Scenario + weights source → a ready pipeline: load the weights, quantize and fuse, then each pipeline-changing
dimension's apply step (`steps`, in the records' order: offload → vae → attention → cache → context parallelism →
compile); and its teardown."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from diffbench.build import compilation, parallel, steps
from diffbench.build.built import Built, BuildOptions, teardown
from diffbench.build.weights import quantize
from diffbench.spec.matrix import Scenario
from diffbench.spec.schemes import SCHEMES


def resolve_components(scenario: Scenario, names: tuple[str, ...]) -> list[str]:
    spec = scenario.spec
    resolved = [spec.denoiser if n == "denoiser" else n for n in names]
    unknown = [n for n in resolved if n not in spec.components]
    if unknown:
        raise ValueError(f"{scenario.model} has no component {unknown}; it has {spec.component_names}")
    return resolved


def build(scenario: Scenario, options: BuildOptions) -> Built:
    started = time.perf_counter()
    spec = scenario.spec
    scheme_config = SCHEMES[scenario.scheme].torchao_config()
    components = resolve_components(scenario, options.quant_components) if scheme_config is not None else []
    configs = {name: scheme_config for name in components}
    # torchao tensors cannot be concatenated, so fusing QKV must happen before quantization (as in the seeds):
    # such scenarios load in bf16, fuse, then quantize_ with the same configs.
    fuse_first = scenario.fuse_qkv and bool(configs)
    # Offloaded pipelines start on the CPU, unless the source builds on the device (synthetic: random init is fast).
    load_device = options.device if scenario.offload == "none" or options.source.builds_on_device else "cpu"
    loaded = options.source.load(spec, {} if fuse_first else configs, load_device, options.dtype)
    pipe = loaded.pipe
    pipe.set_progress_bar_config(disable=True)
    if scenario.fuse_qkv:
        getattr(pipe, spec.denoiser).fuse_qkv_projections()
    quantize_s = quantize(pipe, configs, load_device) if fuse_first else loaded.quantize_s
    steps.apply_all(pipe, scenario, options)
    info = dict(
        load_s=loaded.load_s,
        quantize_s=quantize_s,
        quantized_by=("from_pretrained+TorchAoConfig" if options.source.quantizes_while_loading and not fuse_first
                      else "quantize_"),
        quantized_components=sorted(configs),
        weights=options.source.name,
        dtype=str(options.dtype).removeprefix("torch."),
        inductor_flags=compilation.inductor_flags(),
        build_s=time.perf_counter() - started,  # load + quantize + fuse + offload hooks + compile wrappers
    )
    return Built(scenario, pipe, info)


class PipelineCache:
    """Holds at most one built pipeline: consecutive scenarios with the same build key share it.

    The plugin orders tests by build key, so each pipeline is built once and torn down when the key changes.
    """

    def __init__(self, options: BuildOptions, on_built: Callable[[Built], None] | None = None,
                 builder: Callable[[Scenario, BuildOptions], Built] | None = None):
        self.options = options
        self.on_built = on_built  # what the caller records of a fresh build (the plugin: its memory), before any call
        self.builder = builder  # what builds (the plugin: its pytest_diffbench_build hook); None: `build`
        self._key: tuple | None = None
        self._built: Built | None = None
        self._stack: contextlib.ExitStack | None = None
        self._failed: tuple[tuple, BaseException] | None = None  # a failed build is not retried per batch size

    def get(self, scenario: Scenario) -> Built:
        key = scenario.build_key
        if self._failed and self._failed[0] == key:
            raise self._failed[1]
        if self._key != key:
            self.close()
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(compilation.inductor_profile(scenario.inductor_profile))
            self._stack.enter_context(compilation.eager_fallback_forbidden())
            try:
                # none for one GPU; the other ranks build with this module's `build`
                ranks = self._stack.enter_context(parallel.ranks(scenario, self.options, build))
                self._built = (self.builder or build)(scenario, self.options)
                if ranks is not None:
                    self._built.pipe = ranks.mirrored(self._built.pipe)
                if self.on_built is not None:
                    self.on_built(self._built)
            except BaseException as exc:
                self.close()
                self._failed = (key, exc)
                raise
            self._key = key
        assert self._built is not None
        self._built.scenario = scenario
        return self._built

    def close(self) -> None:
        self._built = None
        self._key = None
        teardown(self.options.device)
        if self._stack is not None:
            self._stack.close()
            self._stack = None
