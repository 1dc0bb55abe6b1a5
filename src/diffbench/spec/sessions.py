"""The device sessions' phases (data; `tools/gpu_session.sh PHASE` runs them): each phase is one or more pytest
runs of a named selection (`spec/selections.py`, narrowed by `-k` where a phase is a part of one), with the run
options it was measured with, on given GPUs, writing its JSON and log under $OUT for baselines/<gpu>/.

`python -m diffbench.spec.sessions PHASE` prints a phase as the shell lines the script evaluates (`suite` is the
script's function: a deadline, or a dry run that only collects); without PHASE, every phase and what it measures.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

COMMON = ("-p", "no:cacheprovider", "-rfEs")
H100_DURATIONS = ("--durations-from", "baselines/nvidia-h100-80gb-hbm3")  # balances workers by measured durations
NIGHTLY_CACHE = "/tmp/diffbench-nightly-compile"


@dataclass(frozen=True)
class Run:
    """One pytest run of a phase."""

    out: str  # $OUT/OUT.json and OUT.log, and OUT-quality.json when the quality suite runs
    selection: str  # a named selection
    options: tuple[str, ...] = ()  # what is not matrix: rounds, timeouts, compile cache, weights, workers
    keyword: str = ""  # -k: the part of the selection this run takes
    gpus: str | None = "0"  # CUDA_VISIBLE_DEVICES; None: every GPU of the machine
    suites: tuple[str, ...] = ("benchmarks",)
    env: tuple[tuple[str, str], ...] = ()  # more environment (a slowdown injected, another torchao on the path)

    def argv(self) -> list[str]:
        quality = ["--quality-json", f"$OUT/{self.out}-quality.json"] if "quality" in self.suites else []
        keyword = ["-k", self.keyword] if self.keyword else []
        return [*self.suites, *COMMON, "--selection", self.selection, *keyword, *self.options, *quality,
                "--benchmark-json", f"$OUT/{self.out}.json"]


@dataclass(frozen=True)
class Phase:
    name: str
    description: str
    runs: tuple[Run, ...]
    together: bool = False  # the runs at once (each on its own GPU), else one after another
    fresh_cache: str | None = None  # a compile cache emptied first: a cold run
    setup: str = ""  # a shell line run first (installing a carried wheel elsewhere)

    def shell(self) -> str:
        lines = [f"rm -rf {self.fresh_cache}"] if self.fresh_cache else []
        lines += [self.setup] if self.setup else []
        for run in self.runs:
            gpus = f"CUDA_VISIBLE_DEVICES={run.gpus} " if run.gpus is not None else ""
            gpus += "".join(f"{key}={value} " for key, value in run.env)
            args = " ".join(_quoted(arg) for arg in run.argv())
            lines.append(f'{gpus}suite {args} > "$OUT/{run.out}.log" 2>&1' + (" &" if self.together else ""))
            if not self.together:
                lines.append(f'tail -n 12 "$OUT/{run.out}.log"')
        if self.together:
            lines += ["wait", *(f'tail -n 12 "$OUT/{run.out}.log"' for run in self.runs)]
        return "\n".join(lines)


def _quoted(arg: str) -> str:
    """Shell-quoted, but $OUT and ${GPU:-0} left for the script to expand."""
    return f'"{arg}"' if "$OUT" in arg else shlex.quote(arg)


def _store(name: str, keyword: str, rounds: int) -> Phase:
    # eager int8dq (40 s a call, host-bound) with 1 round, the rest with 3, as the H100 store was made
    return Phase(name, f"issue 21, the store's part {keyword!r}, on GPU $GPU (default 0)", (
        Run(name, "store", ("--rounds", str(rounds), "--scenario-timeout", "600", "--compile-cache",
                            "/tmp/diffbench-store"), keyword=keyword, gpus="${GPU:-0}"),))


def _box(workers: int) -> Phase:
    cache = f"/tmp/diffbench-box-compile-{workers}"
    return Phase(f"box-n{workers}", f"issue 20: the box selection with -n {workers} and a new compile cache", (
        Run(f"box-n{workers}-cold", "box", ("-n", str(workers), "--rounds", "3", "--compile-cache", cache,
                                            *H100_DURATIONS, "--scenario-timeout", "400"),
            gpus="0" if workers == 0 else "0,1"),), fresh_cache=cache)


def _nightly(out: str, workers: int) -> Run:
    return Run(out, "nightly", (*(("-n", str(workers)) if workers else ()), "--compile-cache", NIGHTLY_CACHE,
                                "--scenario-timeout", "300"), gpus=None if workers else "0")


GATE_NIGHT = ("-p", "slowdown_plugin", "--rounds", "5", "--scenario-timeout", "400", "--compile-cache",
              "/tmp/diffbench-nights-compile")  # tools/ is on the path (tools/gpu_setup.sh): the slowdown plugin
AO017 = "/tmp/ao017"  # torchao 0.17.0, from the carried .whl/ao017/ (the GPU image has no tox)
DF041 = "/tmp/df041"  # diffusers 0.41.0, from the carried .whl/df041/


def _install(wheel_dir: str, target: str) -> str:
    """The shell line installing a carried wheel into a folder of its own, put first on PYTHONPATH by a run."""
    return (f'[ -n "${{DIFFBENCH_DRY_RUN:-}}" ] || [ -d {target} ] || python3 -m pip install -q --no-index '
            f"--no-deps --no-compile --target {target} {wheel_dir}/*.whl || exit 1")


FRONTIER_CACHE = "/tmp/diffbench-frontier-compile"


def _job(out: str, args: str, limit_s: int) -> str:
    """The shell line running a GPU job (`diffbench-jobs`) within `limit_s`, its JSON and log under $OUT."""
    return (f'[ -n "${{DIFFBENCH_DRY_RUN:-}}" ] || {{ timeout -s TERM {limit_s} python3 -m diffbench.jobs.cli {args} '
            f'"$OUT/{out}.json" > "$OUT/{out}.log" 2>&1; tail -n 5 "$OUT/{out}.log"; }}')


PROBE = _job("fp8-attention-probe", "fp8-attention-probe", 300)


def _frontier(out: str, keyword: str, timeout_s: int = 600) -> Run:
    """One of the frontier's scenarios in a process of its own (a cold compile with flux-fast's flags takes
    minutes); they share the compile cache."""
    return Run(out, "frontier", ("--rounds", "5", "--scenario-timeout", str(timeout_s), "--compile-cache",
                                 FRONTIER_CACHE), keyword=keyword)


def _proxy_quality(out: str, selection: str, suites: tuple[str, ...] = ("benchmarks", "quality")) -> Run:
    """A selection's benchmarks and quality on the trained proxy, against bf16 eager references made on the spot
    (a fresh machine has none)."""
    return Run(out, selection, ("--weights", "proxy", "--quality-prompts", "8", "--baselines-dir", "/tmp/proxy-refs",
                                "--update-baselines", "--scenario-timeout", "240", "--compile-cache",
                                "/tmp/diffbench-proxy-compile"), suites=suites)


# the frontier's scenario id after its compile mode with every step of flux-fast's taken (spec/selections.py)
EVERY_STEP = "fuse-bs1-attn-cudnn-fp8-compile-vae-inductor-flux-fast"
# the frontier's scenarios each in a process of its own, as the phases below share them
COMPILE_VAE = _frontier("frontier-steps-compile-vae", "regional-fuse-bs1-compile-vae")
INDUCTOR_FLUX_FAST = _frontier("frontier-steps-inductor-flux-fast", "regional-fuse-bs1-inductor-flux-fast")
EVERY_STEP_REGIONAL = _frontier("frontier-steps-regional-all", f"regional-{EVERY_STEP}")
ATTENTION_CUDAGRAPHS = _frontier("frontier-cudagraphs-attn",
                                 "compile-cudagraphs-fuse-bs1-attn-cudnn-fp8 and not compile-vae")
# every step under whole-model compile with CUDA graphs: its cold compile ran past the 171 s sessions had left it
EVERY_STEP_CUDAGRAPHS = _frontier("frontier-cudagraphs-all", f"compile-cudagraphs-{EVERY_STEP}", timeout_s=1200)


def _night(out: str, slowdown: str = "") -> Run:
    """One night of the gate's compiled scenarios (issue 32), with DIFFBENCH_SLOWDOWN when given."""
    return Run(out, "gate", GATE_NIGHT, keyword="regional", env=(("DIFFBENCH_SLOWDOWN", slowdown),) if slowdown else ())


PHASES: dict[str, Phase] = {
    p.name: p
    for p in [
        Phase("caches", "issue 22, two GPUs side by side: FLUX.1-dev (synthetic) with the fixed-schedule caches on "
              "GPU 0; every cache mode on the trained proxy, benchmarks and quality, on GPU 1", (
                  Run("flux-dev-caches", "caches-flux", ("--rounds", "3", "--scenario-timeout", "240",
                                                         "--compile-cache", "/tmp/diffbench-compile-0")),
                  Run("proxy-caches", "caches-proxy", (
                      "--weights", "proxy", "--quality-prompts", "8", "--baselines-dir", "/tmp/proxy-refs",
                      "--update-baselines", "--scenario-timeout", "240", "--compile-cache",
                      "/tmp/diffbench-compile-1"), gpus="1", suites=("benchmarks", "quality"))), together=True),
        Phase("taylorseer", "issue 22: the TaylorSeer runs the denoiser floor broke (FLUX.1-dev on GPU 0; the "
              "proxy's FBC and TaylorSeer timings on GPU 1)", (
                  Run("flux-dev-caches-taylorseer", "taylorseer-flux", (
                      "--rounds", "3", "--scenario-timeout", "240", "--compile-cache", "/tmp/diffbench-compile-0")),
                  Run("proxy-caches-adaptive", "taylorseer-proxy", (
                      "--weights", "proxy", "--scenario-timeout", "240", "--compile-cache",
                      "/tmp/diffbench-compile-1"), gpus="1")), together=True),
        Phase("parallel", "issue 20 (2 GPUs): benchmarks and quality (the parallel output against the one-GPU "
              "one); cold, it ran past 10 minutes", (
                  Run("flux-dev-parallel", "parallel-flux", (
                      "--rounds", "3", "--quality-prompts", "2", "--update-baselines", "--baselines-dir", "/tmp/refs",
                      "--scenario-timeout", "300"), gpus=None, suites=("benchmarks", "quality")),)),
        Phase("parallel-wan", "issue 20: the same for Wan2.1 (4 steps), compiled with graph breaks allowed", (
            Run("wan-parallel-breaks", "parallel-wan", ("--rounds", "3", "--scenario-timeout", "300"), gpus=None),)),
        _store("store-flux-eager", "flux-dev and eager and not int8dq", 3),
        _store("store-flux-regional", "flux-dev and regional", 3),
        _store("store-models", "not flux-dev", 3),
        _store("store-int8dq-eager", "flux-dev-int8dq and eager", 1),
        # the H200's catch-up phases, each within one of the four parts above (a new GPU kind needs none of them)
        _store("store-flux-rest", "flux-dev-int8wo-eager-fuse", 3),
        _store("store-int8dq-fuse", "flux-dev-int8dq-eager-fuse", 1),
        _store("store-zero-rows", "sdxl-fp8dq- or wan2.1-t2v-1.3b-fp8dq-", 3),
        Phase("store-n2", "the store but eager int8dq with -n 2 on a 2-GPU machine, balanced by the H100's "
              "durations", (
                  Run("store-n2", "store", ("-n", "2", *H100_DURATIONS, "--rounds", "3", "--scenario-timeout", "600",
                                            "--compile-cache", "/tmp/diffbench-store"),
                      keyword="not (flux-dev-int8dq and eager)", gpus="0,1"),)),
        _box(2),
        _box(0),
        Phase("nightly-n2", "the nightly selection with two workers, cold then warm (the same compile cache)",
              tuple(_nightly(f"nightly-n2-{run}", 2) for run in ("cold", "warm"))),
        Phase("nightly-n0-cold", "the nightly selection in one process on GPU 0, a new compile cache",
              (_nightly("nightly-n0-cold", 0),), fresh_cache=NIGHTLY_CACHE),
        Phase("nightly-n0-warm", "the nightly selection in one process on GPU 0, the cache an earlier phase left",
              (_nightly("nightly-n0-warm", 0),)),
        Phase("gate-nights", "issue 32: three nights of the gate selection's compiled scenarios, one process each",
              tuple(_night(f"night-{i}") for i in (1, 2, 3))),
        Phase("gate-slowed", "issue 32: the same with +10% GPU work (torch.cuda._sleep per denoiser call), then "
              "with +10% host time (a sleep per call), injected by tools/slowdown_plugin.py",
              (_night("gpu-slow-10", "'*=0.10:gpu'"), _night("host-slow-10", "'*=0.10:host'"))),
        Phase("upgrade", "issue 32: the upgrade selection under diffusers 0.41.0 (.whl/df041/, carried) with torchao "
              "0.18.0, then torchao 0.17.0 (.whl/ao017/) with diffusers 0.42.1, then both newest: each step's newer "
              "run last, so `diffbench gate OLDER.json NEWEST.json` gates it forward (a night is judged against the "
              "nights before it)",
              (Run("upgrade-diffusers-0.41", "upgrade", ("--rounds", "3"), keyword="not fp8dqrow-eager",
                   env=(("PYTHONPATH", f"{DF041}:$PYTHONPATH"),)),
               Run("upgrade-torchao-0.17", "upgrade", ("--rounds", "3"), keyword="not fp8dqrow-eager",
                   env=(("PYTHONPATH", f"{AO017}:$PYTHONPATH"),)),
               Run("upgrade-torchao-0.18", "upgrade", ("--rounds", "3"), keyword="not fp8dqrow-eager")),
              setup=f"{_install('.whl/ao017', AO017)}\n{_install('.whl/df041', DF041)}"),
        Phase("fp8-attention", "issue 35: the FP8 attention probe (its error and speed per shape, compiled tiny "
              "denoisers), FLUX.1-dev with FP8 against bf16 attention, and its quality cost on the trained proxy", (
                  Run("fp8-attention", "fp8-attention", ("--rounds", "5", "--scenario-timeout", "400",
                                                         "--compile-cache", FRONTIER_CACHE)),
                  _proxy_quality("fp8-attention-proxy", "fp8-attention-proxy")),
              setup=PROBE),
        Phase("fp8-attention-proxy-cudagraphs", "issue 35: FP8 attention's quality cost on the trained proxy under "
              "whole-model compile with CUDA graphs (the frontier's fastest row had quality measured eager and "
              "regional only)", (_proxy_quality("fp8-attention-proxy-cudagraphs", "fp8-attention-proxy-cudagraphs"),)),
        Phase("fp8-attention-proxy-modes", "issue 35: which compile mode or fused QKV makes fp8dqrow with FP8 "
              "attention lose a prompt on the trained proxy (quality only, a short session)",
              (_proxy_quality("fp8-attention-proxy-modes", "fp8-attention-proxy-modes", suites=("quality",)),)),
        Phase("frontier", "issue 35: flux-fast's steps alone and together with FP8 attention (spec/selections.py)", (
            Run("frontier", "frontier", ("--rounds", "5", "--scenario-timeout", "480", "--compile-cache",
                                         FRONTIER_CACHE)),)),
        Phase("fp8-attention-errors", "issue 35: the FP8 attention gate's error rates on the trained proxy: its "
              "scenarios rerun on 8 prompt sets (calibrate holds out those on prompts 32+), and bf16 eager with "
              "each of its mutations on every set",
              (), setup=_job("fp8-attention-errors", "quality-mutations --fp8-attention --mutations-json", 420)),
        Phase("prompt-sensitivity", "issue 35: which of the proxy's prompts bf16 eager loses to seeded noise on its "
              "attention outputs, at bf16's rounding (0.002), FP8 attention's error on random inputs (0.06) and "
              "between: a prompt near a bifurcation of the sampler (prompt 5 failed fp8dqrow with FP8 attention "
              "under whole-model compile alone)", (),
              setup=_job("prompt-sensitivity", "prompt-sensitivity --device cuda --sizes 0.002,0.01,0.03,0.06 "
                         "--seeds 8 --json", 300)),
        Phase("fp8-attention-modes-sets", "issue 35: fp8dqrow with FP8 attention eager, regional and whole-model "
              "compile on the proxy's 8 prompt sets (64 prompts): how many prompts each loses", (),
              setup=_job("fp8-attention-modes-sets", "quality-mutations --fp8-attention --scenarios "
                         "fp8dqrow:eager,fp8dqrow:regional,fp8dqrow:compile --mutations-json", 400)),
        Phase("fp8-attention-speed", "issue 35: FLUX.1-dev with FP8 against PyTorch's attention, speed and "
              "attention's profiled share only (a GPU kind's first FP8 attention rows, in a short session)", (
                  Run("fp8-attention-speed", "fp8-attention", ("--rounds", "5", "--scenario-timeout", "400",
                                                               "--compile-cache", FRONTIER_CACHE),
                      keyword="not sdpa-cudnn"),)),
        Phase("frontier-steps", "issue 35: flux-fast's steps not yet timed, each alone in its own process: the VAE "
              "compiled in channels_last, flux-fast's inductor flags, then every step with FP8 attention, regional "
              "and whole-model compile with CUDA graphs", (
                  COMPILE_VAE, INDUCTOR_FLUX_FAST, EVERY_STEP_REGIONAL,
                  _frontier("frontier-steps-cudagraphs-all", f"compile-cudagraphs-{EVERY_STEP}"))),
        Phase("frontier-cudagraphs", "issue 35: whole-model compile with CUDA graphs and FP8 attention, first "
              "alone (the capture its softmax-scale constants once broke), then with every step (flux-fast's flags, "
              "the VAE compiled): its cold compile ran past the 168 s an earlier session had left for it", (
                  ATTENTION_CUDAGRAPHS, EVERY_STEP_CUDAGRAPHS)),
        Phase("frontier-cudagraphs-all", "issue 35: whole-model compile with CUDA graphs and every step, alone (its "
              "cold compile ran past 171 s twice)", (EVERY_STEP_CUDAGRAPHS,)),
        Phase("frontier-first", "issue 35: a GPU kind's first frontier rows in one short session, fastest first: "
              "FP8 attention under whole-model compile with CUDA graphs, the VAE compiled, flux-fast's inductor "
              "flags, then every step with regional compile (cold: 175, 78, 194 and 363 s on the H100)", (
                  ATTENTION_CUDAGRAPHS, COMPILE_VAE, INDUCTOR_FLUX_FAST, EVERY_STEP_REGIONAL)),
        Phase("frontier-regional", "issue 35: the frontier's regional scenario with every step (FP8 attention, "
              "flux-fast's flags, the VAE compiled), alone: what a short device session can still time (its cold "
              "compile took 315 s on the H100)", (
                  Run("frontier-regional-all", "frontier", ("--rounds", "3", "--scenario-timeout", "480",
                                                            "--compile-cache", FRONTIER_CACHE),
                      keyword=f"regional-{EVERY_STEP}"),)),
    ]
}


if __name__ == "__main__":  # PHASE: its shell lines; no argument: every phase with what it measures
    if len(sys.argv) < 2:
        print("\n".join(f"{p.name}: {p.description}" for p in PHASES.values()))
    elif sys.argv[1] not in PHASES:
        sys.exit(f"unknown phase {sys.argv[1]!r}; phases: {', '.join(PHASES)}")
    else:
        print(PHASES[sys.argv[1]].shell())
