"""Scenario ids, skip reasons and option validation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from diffbench.measure import capabilities
from diffbench.spec import matrix, rules
from diffbench.measure.capabilities import Target
from diffbench.spec.matrix import Scenario, UsageError
from diffbench.spec.models import MODELS
from diffbench.spec.schemes import SCHEMES

H100 = Target("cuda", (9, 0), "NVIDIA H100 80GB HBM3")
A100 = Target("cuda", (8, 0), "NVIDIA A100-SXM4-80GB")
CPU = Target("cpu")


def test_scenario_ids_are_stable():
    # Baseline files are keyed by these strings: changing the format breaks every saved baseline.
    assert Scenario("flux-dev", "fp8dqrow", "max-autotune", True, 1).id == "flux-dev-fp8dqrow-max-autotune-fuse-bs1"
    assert Scenario("flux-dev", "fp8dqrow", "compile", True, 1).id == "flux-dev-fp8dqrow-compile-fuse-bs1"
    assert Scenario("sdxl", "bf16", "eager", False, 16).id == "sdxl-bf16-eager-nofuse-bs16"


def test_ids_are_unique_across_the_whole_matrix():
    selection = matrix.Selection(tuple(MODELS), tuple(SCHEMES), ("eager", "compile", "max-autotune", "regional"),
                                 (False, True), matrix.BATCH_SIZES)
    ids = [s.id for s in selection.scenarios()]
    assert len(ids) == len(set(ids))


def test_every_seed_scheme_is_declared():
    seeds = {"bf16", "int8wo", "int8dq", "int4wo", "fp8wo", "fp8dq", "fp8dqrow", "autoquant", "fp6_e3m2",
             "fp5_e2m2", "fp4_e2m1", "uint4wo", "int4dq", "sparsify"}
    assert seeds <= set(SCHEMES)


@pytest.mark.parametrize("scheme, target, expected", [
    ("fp8dqrow", CPU, "fp8dqrow needs a CUDA device"),
    ("fp8dqrow", A100, "fp8dqrow needs SM 8.9+, NVIDIA A100-SXM4-80GB is SM 8.0"),
    ("mxfp8", H100, "mxfp8 needs SM 10.0+, NVIDIA H100 80GB HBM3 is SM 9.0"),
    ("int8wo", CPU, None),
    ("fp8dqrow", H100, None),
])
def test_hardware_skip_reasons(scheme, target, expected):
    assert capabilities.skip_reason(Scenario("flux-dev", scheme), target) == expected


def test_schemes_missing_from_torchao_are_reported_with_the_version():
    import torchao

    reason = capabilities.skip_reason(Scenario("flux-dev", "autoquant"), H100)
    assert reason == f"not in torchao {torchao.__version__}: autoquant"


def test_invalid_combinations_are_data(monkeypatch):
    """The suite's own rules.INVALID decides: skip_reason is the first listed rule that applies, and the fuse rule
    asks the installed diffusers' denoiser class (no list of models to keep up to date)."""
    import diffusers

    no_fuse, eager_only = ("the denoiser has no fuse_qkv_projections",
                           "compile_vae and inductor profiles apply to compiled scenarios: eager compiles nothing")
    for model, spec in MODELS.items():
        fuses = hasattr(getattr(diffusers, spec.components[spec.denoiser].cls), "fuse_qkv_projections")
        assert rules.skip_reason(Scenario(model, "bf16", fuse_qkv=True)) == (None if fuses else no_fuse), model
    fused = Scenario("flux-dev", "bf16", fuse_qkv=True)
    both = Scenario("flux-dev", "bf16", fuse_qkv=True, compile_vae=True)  # eager: the compile_vae rule applies too
    assert rules.skip_reason(fused) is None and rules.skip_reason(both) == eager_only
    with monkeypatch.context() as patch:  # a diffusers whose FLUX denoiser cannot fuse its projections
        patch.setattr(diffusers, "FluxTransformer2DModel", type("FluxTransformer2DModel", (), {}))
        assert rules.skip_reason(fused) == no_fuse
        assert rules.skip_reason(both) == no_fuse  # listed first, so its reason is the one given
        assert rules.skip_reason(Scenario("flux-dev", "bf16")) is None  # unfused: nothing to fuse
    assert rules.skip_reason(fused) is None


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UsageError, match="unknown model 'flux-pro'; valid: all, flux-dev"):
        matrix.parse_names("flux-dev,flux-pro", MODELS, "model")
    assert matrix.parse_names("all", ["a", "b"], "x") == ("a", "b")
    with pytest.raises(UsageError, match="positive integers"):
        matrix.parse_ints("1,x", "--batch")
    with pytest.raises(UsageError, match="positive integers"):
        matrix.parse_ints("0", "--batch")


def test_memory_dimensions_extend_ids_only_when_used():
    assert Scenario("flux-dev", "int8wo", offload="model").id == "flux-dev-int8wo-eager-nofuse-bs1-offload-model"
    assert Scenario("cogvideox-5b", "bf16", vae="tiling").id == "cogvideox-5b-bf16-eager-nofuse-bs1-vae-tiling"
    assert Scenario("flux-dev", "int8wo").id == "flux-dev-int8wo-eager-nofuse-bs1"


def test_compile_dimensions_extend_ids_only_when_used():
    regional = Scenario("flux-dev", "fp8dqrow", "regional", True, attention="sdpa-cudnn", compile_vae=True)
    assert regional.id == "flux-dev-fp8dqrow-regional-fuse-bs1-attn-sdpa-cudnn-compile-vae"
    tuned = Scenario("flux-dev", "fp8dqrow", "regional", True, inductor_profile="torchao")
    assert tuned.id == "flux-dev-fp8dqrow-regional-fuse-bs1-inductor-torchao"
    assert len({regional.build_key, tuned.build_key, Scenario("flux-dev", "fp8dqrow", "regional", True).build_key}) == 3


def test_compile_dimensions_need_a_compile_mode():
    reason = "compile_vae and inductor profiles apply to compiled scenarios: eager compiles nothing"
    assert rules.skip_reason(Scenario("flux-dev", "bf16", compile_vae=True)) == reason
    assert rules.skip_reason(Scenario("flux-dev", "bf16", inductor_profile="torchao")) == reason
    assert rules.skip_reason(Scenario("flux-dev", "bf16", "regional", compile_vae=True)) is None


@pytest.mark.parametrize("offload", ["model", "sequential", "group"])
def test_offload_needs_cuda(offload):
    assert capabilities.skip_reason(Scenario("flux-dev", "bf16", offload=offload), CPU) == \
        f"offload '{offload}' needs a CUDA device to offload from"
    assert capabilities.skip_reason(Scenario("flux-dev", "bf16", offload=offload), H100) is None


def test_known_failures_apply_by_version_and_gpu(monkeypatch):
    monkeypatch.setattr(capabilities.internals, "installed", dict(torchao="0.18.0", diffusers="0.42.1").get)
    reason, run = capabilities.expected_failure(Scenario("flux-dev", "int8dq", "regional"), H100)
    assert "torch._int_mm" in reason and run
    assert capabilities.expected_failure(Scenario("flux-dev", "int8dq", "regional"), CPU) is None
    assert capabilities.expected_failure(Scenario("flux-dev", "int8dq"), H100) is None  # eager works
    autotuned = Scenario("flux-dev", "int8dq", "regional", inductor_profile="max-autotune-gemm")
    assert capabilities.expected_failure(autotuned, H100) is None  # Triton templates take the 1-row matmuls
    regional_all_fp8 = Scenario("flux-dev", "fp8dqrow", "regional-all")
    assert "Float8Tensor" in capabilities.expected_failure(regional_all_fp8, H100)[0]
    assert capabilities.expected_failure(Scenario("flux-dev", "fp8dqrow", "regional"), H100) is None
    monkeypatch.setattr(capabilities.internals, "installed", dict(torchao="0.19.0", diffusers="0.42.1").get)
    assert capabilities.expected_failure(Scenario("flux-dev", "int8dq", "regional"), H100) is None
    assert capabilities.expected_failure(regional_all_fp8, H100) is None


@pytest.mark.parametrize("model", ["wan2.1-t2v-1.3b", "sdxl"])
@pytest.mark.parametrize("compile_mode", ["eager", "regional"])
def test_a_zero_row_text_context_is_a_known_failure_where_the_probe_finds_nan(monkeypatch, model, compile_mode):
    """SDXL's and Wan2.1's text contexts hold all-zero rows; a scheme whose linear turns such a row into NaN on this
    GPU (the probe) is a known failure for them, whatever the weights; other models and a fixed torchao run."""
    gpu = Target("cuda", (9, 0), "NVIDIA H200")
    found = "measured here with torchao 0.18.0: one fp8dqrow linear given an all-zero row"
    monkeypatch.setattr(capabilities, "_zero_row_gives_nan", lambda scheme, device: found if scheme == "fp8dqrow"
                        else None)
    fp8 = Scenario(model, "fp8dqrow", compile_mode)
    reason, run = capabilities.expected_failure(fp8, gpu, "synthetic", "benchmarks")
    assert "all-zero rows" in reason and found in reason and MODELS[model].zero_context_rows in reason
    assert reason.endswith("(pytorch/ao#4713)") and run
    assert capabilities.expected_failure(fp8, gpu, "real-weights", "benchmarks") is not None  # not the weights
    assert capabilities.expected_failure(fp8, Target("cpu"), "synthetic", "benchmarks") is None
    for scheme in ("bf16", "fp8dq"):  # the probe finds nothing (per-tensor scales)
        assert capabilities.expected_failure(Scenario(model, scheme, compile_mode), gpu, "synthetic") is None
    # FLUX.1-dev's text context has no zero row: its fp8dqrow ran finite (baselines/nvidia-h200/flux-dev.json)
    assert capabilities.expected_failure(Scenario("flux-dev", "fp8dqrow", compile_mode), gpu, "synthetic") is None
    monkeypatch.setattr(capabilities, "_zero_row_gives_nan", lambda scheme, device: None)  # a fixed torchao
    assert capabilities.expected_failure(fp8, gpu, "synthetic", "benchmarks") is None


def test_the_zero_row_probe_only_judges_cuda():
    assert capabilities.zero_row_gives_nan(Scenario("sdxl", "fp8dqrow"), CPU) is None


def test_a_probed_known_failure_holds_only_where_its_probe_confirms_it(monkeypatch):
    compiled_int8wo = Scenario("flux-dev", "int8wo", "regional")
    monkeypatch.setitem(capabilities.PROBES, "compiled_linear_slowdown", lambda s, t: "measured here: 90 ms vs 1 ms")
    reason, run = capabilities.expected_failure(compiled_int8wo, H100)
    assert "_weight_int8pack_mm" in reason and reason.endswith("measured here: 90 ms vs 1 ms (pytorch/pytorch#161680)")
    assert run is False  # pathological slowness: reported, not run
    assert capabilities.expected_failure(Scenario("flux-dev", "int8wo"), H100) is None
    monkeypatch.setitem(capabilities.PROBES, "compiled_linear_slowdown", lambda s, t: None)  # a fixed torch
    assert capabilities.expected_failure(compiled_int8wo, H100) is None


def test_the_compiled_linear_probe_only_judges_cuda():
    assert capabilities.compiled_linear_slowdown(Scenario("flux-dev", "int8wo", "regional"), CPU) is None


def test_a_not_run_known_failure_is_an_xfail_that_does_not_run(monkeypatch):
    from diffbench.pytest_plugin import plugin

    monkeypatch.setattr(capabilities, "expected_failure", lambda s, t, weights, suite: ("too slow here", False))
    source = SimpleNamespace(unavailable=lambda spec: None, name="tiny")
    settings = SimpleNamespace(selection=matrix.Selection(("flux-dev",), ("bf16",)), target=CPU,
                               build=SimpleNamespace(source=source), scenario_timeout=None)
    [param] = plugin.scenario_params(settings)
    [xfail] = [m for m in param.marks if m.name == "xfail"]
    assert xfail.kwargs == dict(reason="too slow here", strict=True, run=False)


def test_the_proxy_noise_known_failure_applies_where_its_probe_confirms(monkeypatch):
    """int8dq on the proxy under torch >= 2.12's noise: CPU quality only, and only when the probe confirms."""
    proxy_int8dq = Scenario("flux-dev", "int8dq")
    monkeypatch.setitem(capabilities.PROBES, "bf16_noise_drawn_in_float32", lambda s, t: "measured here: new noise")
    reason, run = capabilities.expected_failure(proxy_int8dq, CPU, "proxy", "quality")
    assert "bf16 noise" in reason and "measured here: new noise" in reason and run
    assert capabilities.expected_failure(proxy_int8dq, CPU, "proxy", "benchmarks") is None  # latency unaffected
    assert capabilities.expected_failure(proxy_int8dq, CPU, "tiny", "quality") is None
    assert capabilities.expected_failure(proxy_int8dq, H100, "proxy", "quality") is None  # measured on CPU only
    assert capabilities.expected_failure(Scenario("flux-dev", "int8wo"), CPU, "proxy", "quality") is None
    monkeypatch.setitem(capabilities.PROBES, "bf16_noise_drawn_in_float32", lambda s, t: None)
    assert capabilities.expected_failure(proxy_int8dq, CPU, "proxy", "quality") is None  # torch 2.11's noise


def test_the_noise_probe_confirms_from_torch_2_12_on():
    """Measured (baselines/cpu/int8dq-regression/bisect.txt): 2.11 drew bf16 noise in bf16, 2.12.1-2.14.1 in float32."""
    import torch
    from packaging.version import Version

    finding = capabilities.bf16_noise_drawn_in_float32(Scenario("flux-dev", "int8dq"), CPU)
    assert (finding is not None) == (Version(torch.__version__.split("+")[0]) >= Version("2.12"))


def test_the_bare_linear_probe_matches_the_measured_torch_range():
    """Measured (baselines/cpu/dependency-floors/): int8wo regional-all fails in dynamo on CPU with torch 2.11-2.13
    and torchao 0.18, and compiles with 2.14.1; the probe must say so on whichever torch is installed."""
    import torch
    from packaging.version import Version

    regional_all = Scenario("flux-dev", "int8wo", "regional-all")
    finding = capabilities.bare_quantized_linear_compile_error(regional_all, CPU)
    assert (finding is not None) == (Version(torch.__version__.split("+")[0]) < Version("2.14"))
    known = capabilities.expected_failure(regional_all, CPU, "tiny", "benchmarks")
    assert (known is not None) == (finding is not None)
    if finding:
        assert "Polyfill handler" in finding or "traceable" in finding
