"""End-to-end: the real suite run by pytester, as a user runs it."""

from __future__ import annotations

import json
import re

from diffbench.measure import capabilities
from diffbench.spec.matrix import Scenario
from diffbench.spec.schemes import SCHEMES

EXTRA_INFO_FIELDS = {
    "scenario", "model", "scheme", "compile", "fuse_qkv", "batch", "weights",
    "model_memory_gib", "memory_source", "peak_memory_gib", "peak_reserved_gib", "weights_gib",
    "load_s", "quantize_s", "first_call_s", "step_s", "step_cv", "steps", "inductor_flags", "rounds_spread",
    "host_probe_s",
}


def test_benchmark_json_carries_every_field(suite):
    result = suite.runpytest_subprocess(
        "benchmarks", "-k", "int8wo or bf16", "--models", "flux-dev", "--quant", "bf16,int8wo,int8dq",
        "--batch", "1,2", "--steps", "2", "--rounds", "2", "--benchmark-json", "out.json", "-rs",
    )
    result.assert_outcomes(passed=4)
    data = json.loads((suite.path / "out.json").read_text())
    names = sorted(b["extra_info"]["scenario"] for b in data["benchmarks"])
    assert names == ["flux-dev-bf16-eager-nofuse-bs1", "flux-dev-bf16-eager-nofuse-bs2",
                     "flux-dev-int8wo-eager-nofuse-bs1", "flux-dev-int8wo-eager-nofuse-bs2"]
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        assert EXTRA_INFO_FIELDS <= info.keys(), EXTRA_INFO_FIELDS - info.keys()
        assert info["memory_source"] == "process_rss" and info["weights"] == "tiny"
        assert info["steps"] == 2 and bench["stats"]["rounds"] == 2
        assert info["output_shape"][0] == info["batch"]
        assert 0 < info["host_probe_s"] < 1  # 2000 tiny CPU additions: milliseconds
        phases = info["test_phases_s"]
        assert set(phases) == {"setup", "call", "teardown"} and phases["call"] > info["first_call_s"]
    env = data["machine_info"]["diffbench"]
    assert {"torch", "torchao", "diffusers", "transformers", "gpu", "weights"} <= env.keys()
    # Quantized memory is below bf16 memory for the same model.
    by_id = {b["extra_info"]["scenario"]: b["extra_info"] for b in data["benchmarks"]}
    int8wo, bf16 = (by_id[f"flux-dev-{s}-eager-nofuse-bs1"]["weights_gib"] for s in ("int8wo", "bf16"))
    assert int8wo < bf16


def test_cuda_only_schemes_are_skipped_with_their_reason_on_cpu(suite):
    result = suite.runpytest_subprocess("benchmarks", "--models", "flux-dev", "-k", "fp8dqrow or autoquant", "-rs",
                                        "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*flux-dev-autoquant-eager-nofuse-bs1*", "*flux-dev-fp8dqrow-eager-nofuse-bs1*"])
    result = suite.runpytest_subprocess("benchmarks", "--models", "flux-dev", "-k", "fp8dqrow or autoquant", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*fp8dqrow needs a CUDA device*"])
    result.stdout.fnmatch_lines(["*not in torchao *: autoquant*"])
    data_free = suite.runpytest_subprocess("benchmarks", "--quant", "int8wo,fp8dqrow", "--device", "cpu")
    assert data_free.ret == 4
    data_free.stderr.fnmatch_lines(["*--quant fp8dqrow needs a CUDA device and none is in use*"])
    # The schemes it offers instead are those that would run on this CPU, with the installed torchao.
    [offered] = re.findall(r"CPU-capable: ([^)]*)\)", data_free.stderr.str())
    cpu = capabilities.Target("cpu")
    runs_here = [s for s in SCHEMES if capabilities.skip_reason(Scenario("flux-dev", s), cpu) is None]
    assert offered.split(", ") == runs_here and {"bf16", "int8wo", "int8dq"} <= set(runs_here)
    assert ("int4dq" in runs_here) is (capabilities.scheme_unavailable("int4dq") is None)


def test_unknown_names_are_usage_errors(suite):
    result = suite.runpytest_subprocess("benchmarks", "--quant", "int8wo,int3")
    assert result.ret == 4  # pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown quantization scheme 'int3'; valid: all, bf16, int8wo*"])
    result = suite.runpytest_subprocess("benchmarks", "--models", "flux-pro")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown model 'flux-pro'; valid: all, flux-dev*"])
    result = suite.runpytest_subprocess("benchmarks", "--batch", "two")
    assert result.ret == 4
    result = suite.runpytest_subprocess("benchmarks", "--attention", "cudnn")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown attention kernel 'cudnn'; valid: all, sdpa, sdpa-cudnn*"])


def test_synthetic_weights_need_cuda(suite):
    result = suite.runpytest_subprocess("benchmarks", "--weights", "synthetic", "--device", "cpu")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--weights synthetic*needs --device cuda*"])


def test_regional_compile_cold_then_warm_from_the_kept_cache(suite, tmp_path):
    """Regional compilation on the tiny pipeline, twice with one --compile-cache: cold, then warm."""
    states = []
    for name in ("cold", "warm"):
        result = suite.runpytest_subprocess(
            "benchmarks", "--models", "flux-dev", "--quant", "int8wo", "--compile", "regional", "--steps", "2",
            "--rounds", "2", "--compile-cache", str(tmp_path / "cc"), "--benchmark-json", f"{name}.json")
        result.assert_outcomes(passed=1)
        [bench] = json.loads((suite.path / f"{name}.json").read_text())["benchmarks"]
        states.append(bench["extra_info"]["compile_cache"])
        assert bench["extra_info"]["compile"] == "regional"
        assert bench["extra_info"]["first_call_tuning_benchmarks"] == 0  # default profile: no coordinate descent
        assert str(tmp_path / "cc") in json.loads((suite.path / f"{name}.json").read_text())[
            "machine_info"]["diffbench"]["compile_cache_dir"]
    assert states == ["cold", "warm"]


def test_compile_vae_is_a_dimension(suite):
    """--compile-vae both: compiled scenarios with and without the VAE compiled; eager has nothing to compile."""
    result = suite.runpytest_subprocess(
        "benchmarks", "--models", "flux-dev", "--quant", "bf16", "--compile", "eager,regional-all", "--compile-vae",
        "both", "--steps", "2", "--rounds", "1", "--benchmark-json", "out.json", "-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["*eager compiles nothing*"])
    data = json.loads((suite.path / "out.json").read_text())
    compiled_vae = {b["extra_info"]["scenario"]: b["extra_info"]["compile_vae"] for b in data["benchmarks"]}
    assert compiled_vae == {"flux-dev-bf16-eager-nofuse-bs1": False, "flux-dev-bf16-regional-all-nofuse-bs1": False,
                            "flux-dev-bf16-regional-all-nofuse-bs1-compile-vae": True}
    # The denoiser floor is CUDA only (on a CPU a tight loop is no floor); test_measure.py tests it on CPU.
    assert not any("bare_step_s" in b["extra_info"] for b in data["benchmarks"])


def test_memory_modes(suite):
    """VAE tiling and slicing run on CPU; offload modes are skipped there with their reason."""
    result = suite.runpytest_subprocess(
        "benchmarks", "--models", "flux-dev,cogvideox-2b", "--quant", "int8wo", "--vae", "all", "--offload", "all",
        "--steps", "2", "--rounds", "1", "--benchmark-json", "out.json", "-rs")
    result.assert_outcomes(passed=6, skipped=18)
    result.stdout.fnmatch_lines(["*offload 'group' needs a CUDA device to offload from*"])
    data = json.loads((suite.path / "out.json").read_text())
    ids = {b["extra_info"]["scenario"] for b in data["benchmarks"]}
    assert "cogvideox-2b-int8wo-eager-nofuse-bs1-vae-tiling" in ids and "flux-dev-int8wo-eager-nofuse-bs1" in ids
    assert all("host_peak_rss_gib" in b["extra_info"] for b in data["benchmarks"])
    skipped = {s["scenario"] for s in data["diffbench"]["skipped"]}
    assert "flux-dev-int8wo-eager-nofuse-bs1-offload-sequential-vae-slicing" in skipped
