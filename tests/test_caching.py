"""Step caching (--cache): the dimension's ids and skips, its gates, the work it skipped, and the speed-quality
front of the report."""

from __future__ import annotations

import json

import pytest

from diffbench.face import fronts
from diffbench.spec import gates, rules
from diffbench.spec.caching import CACHE_MODES
from diffbench.spec.dimensions import BY_NAME, UsageError
from diffbench.spec.matrix import Scenario
from diffbench.store.results import Measurement


def test_the_cache_dimension_keeps_every_older_id_and_names_cached_ones():
    assert Scenario("flux-dev", "bf16").id == "flux-dev-bf16-eager-nofuse-bs1"
    assert "cache" not in Scenario("flux-dev", "bf16").params()  # older result keys unchanged
    cached = Scenario("flux-dev", "fp8dqrow", "regional", True, cache="fbcache-0.12")
    assert cached.id == "flux-dev-fp8dqrow-regional-fuse-bs1-cache-fbcache-0.12"
    assert cached.build_key != Scenario("flux-dev", "fp8dqrow", "regional", True).build_key
    assert BY_NAME["cache"].parse_option("all") == tuple(CACHE_MODES)
    with pytest.raises(UsageError, match="valid: all, none, fbcache-0.05"):
        BY_NAME["cache"].parse_option("fbcache")


@pytest.mark.parametrize(("model", "cache", "reason"), [
    ("sdxl", "pab", "not a CacheMixin"),
    ("pixart-sigma", "taylorseer-5", "not a CacheMixin"),
    ("flux-dev", "magcache", "magnitude ratios"),
    ("flux-dev", "textkv", "only to other denoisers"),  # diffusers 0.42.1 hooks NucleusMoE-Image blocks only
    ("wan2.1-t2v-1.3b", "textkv", "only to other denoisers"),
])
def test_what_cannot_cache_is_skipped_with_its_reason(model, cache, reason):
    assert reason in rules.skip_reason(Scenario(model, "bf16", cache=cache))


@pytest.mark.parametrize("compile_mode", ["regional", "regional-all", "max-autotune"])
@pytest.mark.parametrize("cache", ["fbcache-0.12", "taylorseer-5", "fastercache", "pab"])
def test_lossy_caches_skip_fullgraph_compile_modes_and_name_the_one_that_works(compile_mode, cache):
    reason = rules.skip_reason(Scenario("flux-dev", "bf16", compile_mode, cache=cache))
    assert "break the graph" in reason and "--compile regional-breaks" in reason
    assert rules.skip_reason(Scenario("flux-dev", "bf16", "regional-breaks", cache=cache)) is None


@pytest.mark.parametrize("model", ["flux-dev", "wan2.1-t2v-1.3b", "cogvideox-2b"])
def test_cache_mixin_denoisers_run_every_other_mode(model):
    runnable = {c for c in CACHE_MODES if rules.skip_reason(Scenario(model, "bf16", cache=c)) is None}
    assert runnable == {"none", "fbcache-0.05", "fbcache-0.12", "taylorseer-5", "fastercache", "pab"}


def test_every_mode_is_labelled_lossless_or_lossy_and_names_a_diffusers_config():
    import diffusers

    for mode in CACHE_MODES.values():
        assert mode.label in ("none", "lossless", "lossy, adaptive", "lossy, fixed schedule")
        assert mode.config is None or hasattr(diffusers, mode.config), mode.config
    assert CACHE_MODES["textkv"].lossless and CACHE_MODES["fbcache-0.12"].adaptive
    assert not CACHE_MODES["taylorseer-5"].adaptive


def test_a_lossy_cache_is_judged_by_its_own_bounds_after_the_scheme():
    table = gates.Thresholds({"default": {"ssim_min": 0.95}, "scheme": {"int8wo": {"ssim_min": 0.97}},
                              "weights": {"proxy": {"cache": {"pab": {"ssim_min": 0.9}}}}}, "test")
    bound = {g.key: g.bound for g in table.gates("flux-dev", "int8wo", "proxy", "pab")}
    assert bound == {"ssim_min": 0.9}
    assert {g.key: g.bound for g in table.gates("flux-dev", "int8wo", "proxy")} == {"ssim_min": 0.97}
    assert {g.key: g.bound for g in table.gates("flux-dev", "int8wo", "tiny", "pab")} == {"ssim_min": 0.97}


def test_the_committed_cache_bounds_reject_the_control_and_differ_by_mode():
    table = gates.Thresholds.load(gates.DEFAULT_THRESHOLDS)
    control = {g.key: g.bound for g in table.gates("flux-dev", "int2wo", "proxy")}
    taylorseer = {g.key: g.bound for g in table.gates("flux-dev", "bf16", "proxy", "taylorseer-5")}
    exact = {g.key: g.bound for g in table.gates("flux-dev", "bf16", "proxy")}
    assert taylorseer["ssim_min"] < exact["ssim_min"]  # its own, looser bounds from its measured loss
    assert taylorseer["ssim_min"] > 0.7129  # the int2wo control's best SSIM on the proxy stays rejected
    assert control  # the control has bounds of its own


def _measurement(name: str, median: float, ssim: float | None, work: dict | None = None) -> Measurement:
    info = {"scenario": name, "quality": {"ssim": {"mean": ssim}} if ssim is not None else {}}
    if work:
        info["cache_work"] = work
    return Measurement(name, info, median, median, median, median, (median,), median, median, 1)


def test_the_front_keeps_points_nothing_beats_on_both_speed_and_quality():
    found = [fronts.Point("a", 1.0, 0.99, False), fronts.Point("b", 0.8, 0.95, True),
             fronts.Point("c", 0.9, 0.90, True), fronts.Point("d", 0.7, 0.80, True)]
    assert [p.label for p in fronts.pareto(found)] == ["d", "b", "a"]


def test_the_front_places_weight_dependent_latencies_by_the_work_computed():
    lossy = dict(kind="lossy, adaptive", weight_dependent_latency=True, computed_fraction=0.6)
    drawn = fronts.points([_measurement("uncached", 2.0, 1.0), _measurement("fb", 1.0, 0.95, lossy)],
                          label=lambda m: m.scenario)
    found, x_name, metric = drawn
    assert [(p.x, p.lossy) for p in found] == [(1.0, False), (0.6, True)] and "work computed" in x_name
    timed = fronts.points([_measurement("uncached", 2.0, 1.0), _measurement("pab", 1.5, 0.97, dict(
        kind="lossy, fixed schedule", computed_fraction=0.8))], label=lambda m: m.scenario)
    assert [p.x for p in timed[0]] == [2.0, 1.5] and timed[1].startswith("latency")
    assert fronts.points([_measurement("alone", 1.0, 0.9)], label=lambda m: m.scenario) is None


@pytest.mark.slow  # builds tiny FLUX three times
def test_a_cached_benchmark_records_the_work_it_skipped(suite):
    result = suite.runpytest_subprocess("benchmarks", "--models", "flux-dev", "--quant", "bf16",
                                        "--cache", "none,taylorseer-5,fbcache-0.12", "--steps", "8", "--rounds", "2",
                                        "--compile", "eager,regional-breaks",
                                        "--benchmark-json", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=6)
    benchmarks = json.loads((suite.path / "out.json").read_text())["benchmarks"]
    info = {b["extra_info"]["scenario"]: b["extra_info"] for b in benchmarks}
    assert "cache_work" not in info["flux-dev-bf16-eager-nofuse-bs1"]
    taylorseer = info["flux-dev-bf16-eager-nofuse-bs1-cache-taylorseer-5"]["cache_work"]
    assert taylorseer["denoiser_calls"] == 8 and taylorseer["reused_calls"] >= 1
    assert 0 < taylorseer["computed_fraction"] < 1 and not taylorseer["weight_dependent_latency"]
    adaptive = info["flux-dev-bf16-eager-nofuse-bs1-cache-fbcache-0.12"]["cache_work"]
    assert adaptive["kind"] == "lossy, adaptive" and adaptive["weight_dependent_latency"]  # tiny: random weights
    # compiled with graph breaks, counted eagerly: the same schedule
    compiled = info["flux-dev-bf16-regional-breaks-nofuse-bs1-cache-taylorseer-5"]["cache_work"]
    assert compiled["reused_calls"] == taylorseer["reused_calls"]


@pytest.mark.slow  # builds tiny FLUX three times
@pytest.mark.parametrize("cache", ["none", "taylorseer-5", "fbcache-0.12"])
def test_the_denoiser_floor_is_left_out_for_a_cached_denoiser(cache, tmp_path):
    # On the H200 the floor (CUDA only) called FBC's and TaylorSeer's hooked denoiser outside the pipeline's cache
    # context: "No cache context is set" failed the scenario (baselines/nvidia-h200/caching/flux-dev-caches.json).
    from diffbench.build import pipelines
    from diffbench.build.built import BuildOptions
    from diffbench.build.sources import weights_source
    from diffbench.measure import runner

    source = weights_source("tiny", tmp_path, False)
    built = pipelines.build(Scenario("flux-dev", "bf16", cache=cache), BuildOptions(source=source, device="cpu"))
    call, _ = runner.pipeline_call(built, runner.RunOptions(device="cpu", source=source, steps=6))
    call()
    floor = runner.denoiser_floor(built, call, step_s=0.1, device="cpu", compiled=False)
    if cache == "none":
        assert floor["denoiser_calls_per_step"] == 1 and floor["bare_step_s"] > 0
    else:
        assert floor == {}


@pytest.mark.slow  # two proxy quality sessions, 8 prompts each
def test_two_caches_pass_their_gates_on_the_proxy_and_record_their_work(suite):
    args = ("quality", "--weights", "proxy", "--models", "flux-dev", "--quant", "bf16", "--quality-prompts", "8",
            "--baselines-dir", "store", "--quality-json", "q.json", "-p", "no:randomly", "--quality-control", "none")
    suite.runpytest_subprocess(*args).assert_outcomes(failed=1)  # the missing reference is written first
    result = suite.runpytest_subprocess(*args, "--cache", "pab,fbcache-0.12")
    result.assert_outcomes(passed=2)
    records = {r["cache"]: r for r in json.loads((suite.path / "q.json").read_text())["results"]}
    thresholds = gates.Thresholds.load(gates.DEFAULT_THRESHOLDS)
    for cache in ("pab", "fbcache-0.12"):
        assert records[cache]["gates"] == {g.key: g.bound for g in thresholds.gates("flux-dev", "bf16", "proxy", cache)}
        work = records[cache]["cache_work"]
        assert work["reused_calls"] >= 1 and work["computed_fraction"] < 1 and not work["weight_dependent_latency"]


def test_every_committed_cached_run_passes_the_gates_it_would_be_held_to():
    """The cache bounds come from bf16 runs alone: a bf16 cached run is held to them, a cached run of another
    scheme to the looser of its scheme's and its cache's. Every measured cached run (CPU and H200, bf16, int8wo
    and fp8dqrow) passes."""
    from pathlib import Path

    from diffbench.face import calibration as calibrate

    root = Path(__file__).resolve().parents[1]
    table = gates.Thresholds.load(gates.DEFAULT_THRESHOLDS)
    inputs = json.loads((root / "baselines/cpu/quality-calibration/calibration.json").read_text())["inputs"]
    cached = [r for path in inputs for r in calibrate.rows(root / path) if r["kind"] == "cache"]
    assert {r["scheme"] for r in cached} >= {"bf16", "int8wo", "fp8dqrow"} and len(cached) >= 40
    for r in cached:
        for g in table.gates("flux-dev", r["scheme"], "proxy", r["cache"]):
            assert g.passes(r["worst"][g.metric]), (r["file"], r["scheme"], r["cache"], g, r["worst"][g.metric])
