"""Measure the quality gates' error rates on the proxy, for `diffbench calibrate` to check the derived bounds
against: the records go to a quality log (`--mutations-json`), which calibrate then reads with the committed runs
(`diffbench calibrate --add LOG`).

    diffbench-jobs quality-mutations --int8-scales 1.03,0.97 --mutations-json LOG
    diffbench-jobs quality-mutations --caches --mutations-json LOG
    diffbench-jobs quality-mutations --fp8-attention --mutations-json LOG      (a GPU of SM 9.0+)

`--int8-scales` runs the proxy's int8wo pipeline with every int8 weight scale of the denoiser multiplied by each
factor; `--caches` runs bf16 with each lossy step cache set to skip more than its mode says (CACHE_MUTATIONS);
both on the CPU. `--fp8-attention` (CUDA) reruns the FP8 attention's scenarios, same code, on consecutive sets of
the evaluation prompts (the first the committed runs' prompts): calibrate derives from the sets on its first
CALIBRATION_PROMPTS prompts and holds the rest out, where each rejection is a false alarm. It also runs bf16 eager
with each of the attention's mutations (build/attention_mutation.py) on every set: each pass is a miss.
`--scenarios` reruns others instead (how many prompts a compile mode loses, set by set). Each is scored against
bf16 eager exactly as `pytest quality` does.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def quality_session(prompts: Sequence[str], device: str, references: Path, cache: Any) -> Any:
    """A quality session on the proxy as `pytest quality` runs it (no control), its bf16 eager reference made with
    `cache` (a PipelineCache) into the folder `references`."""
    from diffbench.build.sources import weights_source
    from diffbench.measure.quality_session import QualityOptions, QualitySession, ReferenceWritten
    from diffbench.measure.runner import RunOptions
    from diffbench.spec import gates
    from diffbench.spec.matrix import Scenario
    from diffbench.spec.proxy import CLIP_DIR

    options = QualityOptions(references=references, thresholds=gates.Thresholds.load(gates.DEFAULT_THRESHOLDS),
                             prompts=tuple(prompts), control=None, clip_weights=str(CLIP_DIR))
    session = QualitySession(options, RunOptions(device, weights_source("proxy")), "proxy")
    try:
        session.reference(Scenario("flux-dev", "bf16"), cache.get)
    except ReferenceWritten:
        pass
    return session


@contextlib.contextmanager
def proxy_pipelines(device: str) -> Iterator[tuple[Any, Any, Path]]:
    """The proxy's pipeline cache, its build options and a temporary folder for references."""
    import tempfile

    from diffbench.build.built import BuildOptions
    from diffbench.build.pipelines import PipelineCache
    from diffbench.build.sources import weights_source

    build = BuildOptions(weights_source("proxy"), device)
    cache = PipelineCache(build)
    with tempfile.TemporaryDirectory() as references:
        try:
            yield cache, build, Path(references)
        finally:
            cache.close()


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    from diffbench.measure import machine, quality

    quality.write_log(path, records, dict(environment=machine.environment()))


@contextlib.contextmanager
def proxy_quality_session(prompts: int, path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """One quality session on the CPU on the first `prompts` evaluation prompts: yields the session, a pipeline
    cache and the build options; on exit, writes the session's records to `path` as a quality log."""
    from diffbench.spec import proxy_scenes as scenes

    with proxy_pipelines("cpu") as (cache, build, references):
        session = quality_session(scenes.evaluation_prompts()[:prompts], "cpu", references, cache)
        yield session, cache, build
    write_log(path, session.records)


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


# The FP8 attention's scenarios rerun as they were calibrated from (fp8dqrow eager left out: the proxy's slowest
# by far, host-bound, and fp8dqrow regional carries the same two losses)
FP8_ATTENTION_SCENARIOS = (("bf16", "eager"), ("bf16", "regional"), ("fp8dqrow", "regional"))


def measure_fp8_attention(sets: int, prompts: int, path: Path, device: str = "cuda",
                          scenarios: Sequence[tuple[str, str]] = FP8_ATTENTION_SCENARIOS) -> None:
    """The FP8 attention's same-code reruns and mutations (module docstring) on `sets` sets of `prompts` prompts;
    the log is rewritten after each scenario, so a run stopped early keeps what it measured. On a CPU (the tests)
    the op runs its float32 reference kernel."""
    from diffbench.build.attention_mutation import MUTATIONS, mutated
    from diffbench.spec import proxy_scenes as scenes
    from diffbench.spec.matrix import Scenario

    evaluation = scenes.evaluation_prompts()
    if sets * prompts > len(evaluation):
        raise SystemExit(f"{sets} sets of {prompts} prompts need {sets * prompts}; the proxy has {len(evaluation)}")
    records: list[dict[str, Any]] = []

    def evaluate(session: Any, first: int, scenario: Any, cache: Any, **marks: Any) -> dict[str, Any]:
        record = session.evaluate(scenario, cache.get)
        record.update(prompt_set=dict(first=first, count=prompts), evidence=None, **marks)
        records.append(record)
        return record

    with proxy_pipelines(device) as (cache, _, references):
        sessions = [(first, quality_session(evaluation[first:first + prompts], device, references / str(first), cache))
                    for first in range(0, sets * prompts, prompts)]
        for scheme, compile_mode in scenarios:
            scenario = Scenario("flux-dev", scheme, compile_mode, attention="cudnn-fp8")
            for first, session in sessions:
                record = evaluate(session, first, scenario, cache, same_code=True)
                print(f"{scenario.id} prompts {first}+: {_worst(record)}", flush=True)
            write_log(path, records)
            if (scheme, compile_mode) != ("bf16", "eager"):
                continue
            for mutation in MUTATIONS:  # on the pipeline just built: eager, so each call takes the mutation
                with mutated(mutation):
                    for first, session in sessions:
                        record = evaluate(session, first, scenario, cache, mutation=dict(
                            setting=mutation.setting, mode_value=mutation.mode_value, value=mutation.value))
                        print(f"{scenario.id} {mutation.setting}={mutation.value} prompts {first}+: "
                              f"{_worst(record)}", flush=True)
                write_log(path, records)


def _scenarios(value: str) -> tuple[tuple[str, str], ...]:
    from diffbench.spec.compile_modes import COMPILE_MODES
    from diffbench.spec.schemes import SCHEMES

    pairs = tuple(tuple(pair.partition(":")[::2]) for pair in value.split(","))
    for scheme, compile_mode in pairs:
        if scheme not in SCHEMES or compile_mode not in COMPILE_MODES:
            raise argparse.ArgumentTypeError(f"{scheme}:{compile_mode}: SCHEME:COMPILE, schemes {', '.join(SCHEMES)}; "
                                             f"compile modes {', '.join(COMPILE_MODES)}")
    return pairs


def _worst(record: dict[str, Any]) -> str:
    failed = f", fails {', '.join(record['failures'])}" if record["failures"] else ""
    return (f"SSIM min {record['metrics']['ssim']['min']:.4f}, PSNR min {record['metrics']['psnr']['min']:.2f} dB"
            + failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diffbench-jobs quality-mutations", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--int8-scales", metavar="FACTORS", help="e.g. 1.03,0.97")
    what.add_argument("--caches", action="store_true", help="the lossy caches set to skip more (CACHE_MUTATIONS)")
    what.add_argument("--fp8-attention", action="store_true",
                      help="FP8 attention: same-code reruns on --sets prompt sets, and its mutations (CUDA)")
    parser.add_argument("--mutations-json", type=Path, required=True, help="the quality log to write")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per run (default 8)")
    parser.add_argument("--sets", type=int, default=8,
                        help="--fp8-attention: prompt sets, the first the calibrated runs' (default 8)")
    parser.add_argument("--scenarios", type=_scenarios, default=FP8_ATTENTION_SCENARIOS,
                        help="--fp8-attention: SCHEME:COMPILE,... rerun with FP8 attention (default "
                             f"{','.join(':'.join(s) for s in FP8_ATTENTION_SCENARIOS)}); the mutations run with "
                             "bf16:eager only")
    args = parser.parse_args(argv)
    if args.fp8_attention:
        from diffbench.build.cudnn_attention import unavailable

        if (reason := unavailable()) is not None:
            parser.error(reason)
        measure_fp8_attention(args.sets, args.prompts, args.mutations_json, scenarios=args.scenarios)
    elif args.caches:
        measure_cache_mutations(args.prompts, args.mutations_json)
    else:
        measure_mutations([float(f) for f in args.int8_scales.split(",")], args.prompts, args.mutations_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
