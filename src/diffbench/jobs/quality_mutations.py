"""Measure the quality gates' mutations on the proxy (CPU, any torch), for `diffbench calibrate` to check the
derived bounds against: the records go to a quality log (`--mutations-json`), which calibrate then reads with the
committed runs (`diffbench calibrate --add LOG`).

    diffbench-jobs quality-mutations --int8-scales 1.03,0.97 --mutations-json LOG
    diffbench-jobs quality-mutations --caches --mutations-json LOG

`--int8-scales` runs the proxy's int8wo pipeline with every int8 weight scale of the denoiser multiplied by each
factor; `--caches` runs bf16 with each lossy step cache set to skip more than its mode says (CACHE_MUTATIONS).
Each is scored against bf16 eager exactly as `pytest quality` does.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def proxy_quality_session(prompts: int, path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """A quality session on the proxy (CPU, bf16 eager reference made in a temporary folder, no control) as
    `pytest quality` runs it: yields the session, a pipeline cache and the build options; on exit, writes the
    session's records to `path` as a quality log."""
    import tempfile

    from diffbench.measure import machine, quality
    from diffbench.spec import gates
    from diffbench.build.built import BuildOptions
    from diffbench.build.pipelines import PipelineCache
    from diffbench.spec.matrix import Scenario
    from diffbench.spec import proxy_scenes as scenes
    from diffbench.spec.proxy import CLIP_DIR
    from diffbench.measure.quality_session import QualityOptions, QualitySession, ReferenceWritten
    from diffbench.measure.runner import RunOptions
    from diffbench.build.sources import weights_source

    source = weights_source("proxy")
    with tempfile.TemporaryDirectory() as references:
        options = QualityOptions(references=Path(references),
                                 thresholds=gates.Thresholds.load(gates.DEFAULT_THRESHOLDS),
                                 prompts=tuple(scenes.evaluation_prompts()[:prompts]), control=None,
                                 clip_weights=str(CLIP_DIR))
        session = QualitySession(options, RunOptions("cpu", source), "proxy")
        build = BuildOptions(source, "cpu")
        cache = PipelineCache(build)
        try:
            session.reference(Scenario("flux-dev", "bf16"), cache.get)
        except ReferenceWritten:
            pass
        try:
            yield session, cache, build
        finally:
            cache.close()
    quality.write_log(path, session.records, dict(environment=machine.environment()))


def measure_mutations(factors: list[float], prompts: int, path: Path) -> None:
    """int8wo on the proxy with every int8 weight scale of the denoiser x factor, scored like `pytest quality`."""
    from diffbench.build.scale_mutation import scaled_int8_weights

    from diffbench.spec.matrix import Scenario

    with proxy_quality_session(prompts, path) as (session, cache, _):
        scenario = Scenario("flux-dev", "int8wo")
        for factor in factors:
            with scaled_int8_weights(cache.get(scenario).pipe.transformer, factor) as count:
                record = session.evaluate(scenario, cache.get)
            record.update(mutation=dict(factor=factor, int8_weights_scaled=count), evidence=None)
            print(f"int8wo x{factor}: SSIM min {record['metrics']['ssim']['min']:.4f}, PSNR min "
                  f"{record['metrics']['psnr']['min']:.2f} dB", flush=True)


# Each lossy cache set to skip more than its mode says: the setting its mode fixes, and the values tried (each
# reuses more denoiser work than the mode). A gate that passes one misses a cache that lost that much more.
CACHE_MUTATIONS = {
    "fbcache-0.12": ("threshold", (0.15, 0.2, 0.3)),
    "pab": ("spatial_attention_block_skip_range", (3, 4)),
    "fastercache": ("spatial_attention_block_skip_range", (3, 4)),
    "taylorseer-5": ("cache_interval", (6, 8, 10)),
}


def measure_cache_mutations(prompts: int, path: Path) -> None:
    """bf16 on the proxy with each cache of CACHE_MUTATIONS set to each value, scored like `pytest quality`."""
    import dataclasses

    from diffbench.build.pipelines import PipelineCache
    from diffbench.spec.caching import CACHE_MODES
    from diffbench.spec.matrix import Scenario

    with proxy_quality_session(prompts, path) as (session, _, build):
        for name, (setting, values) in CACHE_MUTATIONS.items():
            mode = CACHE_MODES[name]
            for value in values:
                # this process only: the mode's name now builds the mutated config
                CACHE_MODES[name] = dataclasses.replace(mode, kwargs={**mode.kwargs, setting: value})
                mutated = PipelineCache(build)  # a fresh build: the cache hooks are applied when it is made
                try:
                    record = session.evaluate(Scenario("flux-dev", "bf16", cache=name), mutated.get)
                finally:
                    mutated.close()
                    CACHE_MODES[name] = mode
                record.update(mutation=dict(setting=setting, mode_value=mode.kwargs[setting], value=value),
                              evidence=None)
                print(f"{name} {setting}={value}: work {record['cache_work']['computed_fraction']:.2f}, SSIM min "
                      f"{record['metrics']['ssim']['min']:.4f}, PSNR min {record['metrics']['psnr']['min']:.2f} dB",
                      flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diffbench-jobs quality-mutations", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--int8-scales", metavar="FACTORS", help="e.g. 1.03,0.97")
    what.add_argument("--caches", action="store_true", help="the lossy caches set to skip more (CACHE_MUTATIONS)")
    parser.add_argument("--mutations-json", type=Path, required=True, help="the quality log to write")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per run (default 8)")
    args = parser.parse_args(argv)
    if args.caches:
        measure_cache_mutations(args.prompts, args.mutations_json)
    else:
        measure_mutations([float(f) for f in args.int8_scales.split(",")], args.prompts, args.mutations_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
