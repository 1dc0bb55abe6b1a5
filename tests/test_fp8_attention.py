"""--attention cudnn-fp8 on the CPU: the custom op's registration and fake implementation, the quantization math,
the diffusers dispatcher registration and its guard, the capability reasons, and the error measure.

The op's CPU kernel is `reference_fp8_sdpa` (the documented seam, build/cudnn_attention.py): the same
quantized math in float32, so everything but the cuDNN call runs here; diffbench-jobs fp8-attention-probe runs the rest
on a GPU.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.testing import CompileCounterWithBackend

from diffbench.build import attention, cudnn_attention
from diffbench.build.cudnn_attention import E4M3, E4M3_MAX, quantize_e4m3
from diffbench.measure import capabilities, fp8_attention
from diffbench.spec import rules
from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.spec.matrix import Scenario
from diffbench.spec.models import MODELS

KERNEL = ATTENTION_KERNELS["cudnn-fp8"]


def bshd(batch=1, seq=24, heads=2, head_dim=32, seed=0, dtype=torch.bfloat16):
    return torch.randn(batch, seq, heads, head_dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def bhsd_views(seq_q=24, seq_kv=24, heads=2, head_dim=32):
    """Q, K, V as diffusers' native backend hands them to SDPA: (b, h, s, d) views of (b, s, h, d) memory."""
    return tuple(bshd(seq=s, heads=heads, head_dim=head_dim, seed=i).transpose(1, 2)
                 for i, s in enumerate((seq_q, seq_kv, seq_kv)))


# ---- the quantization ----

def test_quantization_scales_by_amax_over_448_into_the_e4m3_range():
    x = bshd().transpose(1, 2) * 7
    quantized, descale = quantize_e4m3(x)
    amax = x.float().abs().amax()
    assert quantized.dtype == E4M3 and descale.dtype == torch.float32 and descale.shape == (1, 1, 1, 1)
    torch.testing.assert_close(descale.reshape(()), amax / E4M3_MAX)
    assert quantized.float().abs().max() == E4M3_MAX  # the largest element lands on e4m3's largest value
    expected = (x.float() * (E4M3_MAX / amax)).to(E4M3)  # the float reference: scale, then round to e4m3
    assert torch.equal(quantized.float(), expected.float())
    # e4m3 keeps 3 mantissa bits: a normal value is off by at most half a unit in the last place, 2^-4 relative
    normal = quantized.float().abs() >= 2.0 ** -6
    relative = ((quantized.float() * descale - x.float()).abs() / x.float().abs())[normal]
    assert relative.max() <= 2.0 ** -4 + 1e-6
    assert quantized.stride() == x.stride()  # the (b, s, h, d) memory order is kept


def test_an_all_zero_tensor_quantizes_to_zeros_with_a_finite_descale():
    quantized, descale = quantize_e4m3(torch.zeros(1, 2, 8, 16, dtype=torch.bfloat16))
    assert torch.equal(quantized.float(), torch.zeros(1, 2, 8, 16)) and torch.isfinite(descale).all()


def test_values_a_hair_above_the_range_saturate_instead_of_becoming_nan():
    quantized, _ = quantize_e4m3(torch.tensor([[[[1.0, -1.0, 0.5]]]], dtype=torch.float32))
    assert torch.isfinite(quantized.float()).all() and quantized.float().abs().max() == E4M3_MAX


# ---- the op ----

def test_the_op_is_registered_with_a_fake_implementation_that_matches_the_reference():
    q, k, v = bhsd_views(seq_q=24, seq_kv=16)
    (q8, dq), (k8, dk), (v8, dv) = (quantize_e4m3(t) for t in (q, k, v))
    args = (q8, k8, v8, dq, dk, dv, 1 / dv, 1 / math.sqrt(32))
    assert hasattr(torch.ops.diffbench, "fp8_sdpa")
    torch.library.opcheck(cudnn_attention.fp8_sdpa_op, args, test_utils="test_faketensor")
    real = cudnn_attention.fp8_sdpa_op(*args)
    with torch._subclasses.FakeTensorMode() as mode:
        fake = cudnn_attention.fp8_sdpa_op(*(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args))
    # O in e4m3 (cuDNN's FP8 O: Hopper has no half-precision O for FP8 inputs), dequantized by fp8_sdpa
    assert fake.shape == real.shape == (1, 2, 24, 32) and fake.dtype == real.dtype == E4M3
    # the output lives in (b, s, h, d) memory, where diffusers permutes it back to
    assert fake.stride() == real.stride() == real.transpose(1, 2).contiguous().transpose(1, 2).stride()


def test_fp8_attention_is_close_to_sdpa_and_keeps_shapes_and_dtype():
    q, k, v = bhsd_views(seq_q=40, seq_kv=24)
    out = cudnn_attention.fp8_sdpa(q, k, v)
    exact = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert out.shape == exact.shape and out.dtype == torch.bfloat16
    assert fp8_attention.sqnr_db(exact, out) > 20  # e4m3 Q/K/V/P: far from bf16's ~50 dB, far from noise's 0 dB
    scaled = cudnn_attention.fp8_sdpa(q, k, v, scale=0.05)
    assert fp8_attention.sqnr_db(F.scaled_dot_product_attention(q.float(), k.float(), v.float(), scale=0.05),
                                 scaled) > 20


def test_the_reference_quantizes_the_probabilities_as_cudnn_does():
    """Without P's e4m3 rounding the reference would be dequantized-input attention; with it, it differs."""
    q, k, v = bhsd_views()
    (q8, dq), (k8, dk), (v8, dv) = (quantize_e4m3(t) for t in (q, k, v))
    reference = cudnn_attention.reference_fp8_sdpa(q8, k8, v8, dq, dk, dv, 1 / dv, 32 ** -0.5).float() * dv
    dequantized = F.scaled_dot_product_attention(q8.float() * dq, k8.float() * dk, v8.float() * dv)
    assert reference.abs().max() <= v8.float().abs().max() * dv  # |O| <= amax(V): scale_o = 448/amax(V) is safe
    assert not torch.equal(reference, dequantized)
    assert fp8_attention.sqnr_db(dequantized, reference) > 25


@pytest.mark.parametrize("call, falls_back", [
    (dict(), False),
    (dict(attn_mask=torch.ones(1, 24, dtype=torch.bool)), True),
    (dict(dropout_p=0.1), True),
    (dict(is_causal=True), True),
])
def test_calls_cudnn_cannot_take_run_on_torch_sdpa(call, falls_back):
    q, k, v = (t.transpose(1, 2) for t in bhsd_views())
    out = cudnn_attention.attention_bshd(q, k, v, **call)
    torch.manual_seed(0)  # dropout draws
    if falls_back:
        mask = call.get("attn_mask")
        mask = mask[:, None, None, :] if mask is not None else None
        torch.manual_seed(0)
        sdpa = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), attn_mask=mask,
                                              dropout_p=call.get("dropout_p", 0.0),
                                              is_causal=call.get("is_causal", False)).transpose(1, 2)
        torch.manual_seed(0)
        out = cudnn_attention.attention_bshd(q, k, v, **call)
        assert torch.equal(out, sdpa)
    else:
        assert torch.equal(out, cudnn_attention.fp8_sdpa(*(t.transpose(1, 2) for t in (q, k, v))).transpose(1, 2))


def test_float32_and_unsupported_head_dims_are_not_eligible():
    q, k, v = bhsd_views()
    assert cudnn_attention.fp8_sdpa_eligible(q, k, v)
    assert not cudnn_attention.fp8_sdpa_eligible(q.float(), k.float(), v.float())
    small = tuple(t[..., :8] for t in (q, k, v))
    assert not cudnn_attention.fp8_sdpa_eligible(*small)


def test_the_op_compiles_into_one_graph_and_matches_eager():
    q, k, v = (t.transpose(1, 2) for t in bhsd_views(seq_q=32, seq_kv=16))
    torch._dynamo.reset()
    counter = CompileCounterWithBackend("eager")
    compiled = torch.compile(cudnn_attention.attention_bshd, backend=counter, fullgraph=True)(q, k, v)
    assert counter.frame_count == 1
    targets = [str(n.target) for g in counter.graphs for n in g.graph.nodes if n.op == "call_function"]
    assert "diffbench.fp8_sdpa.default" in targets
    assert torch.equal(compiled, cudnn_attention.attention_bshd(q, k, v))


# ---- diffusers' dispatcher ----

def test_the_backend_is_registered_with_diffusers_dispatcher_without_joining_its_own_list():
    from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

    assert attention.registry_unsupported() is None  # the installed diffusers is one the guard accepts
    member = attention.registered_backend(KERNEL.dispatcher_backend)
    assert isinstance(member, AttentionBackendName) and AttentionBackendName(KERNEL.dispatcher_backend) is member
    assert attention.registered_backend(KERNEL.dispatcher_backend) is member  # registered once
    assert KERNEL.dispatcher_backend not in {m.value for m in AttentionBackendName.__members__.values()}
    q, k, v = (t.transpose(1, 2) for t in bhsd_views())
    assert torch.equal(dispatch_attention_fn(q, k, v, backend=member), cudnn_attention.attention_bshd(q, k, v))


def test_a_diffusers_without_the_registry_internals_is_a_clear_reason(monkeypatch):
    from diffusers.models import attention_dispatch

    class Registry:  # a registry with register but no _backends
        register = staticmethod(lambda *a, **k: None)

    monkeypatch.setattr(attention_dispatch, "_AttentionBackendRegistry", Registry)
    reason = attention.registry_unsupported()
    assert reason and "_AttentionBackendRegistry._backends" in reason and "cannot be registered" in reason
    with pytest.raises(RuntimeError, match="_backends"):
        attention.registered_backend(KERNEL.dispatcher_backend)


def test_the_tiny_flux_denoiser_runs_fp8_attention_eager_and_regionally_compiled(tiny_flux):
    denoiser, inputs = tiny_flux
    with torch.no_grad():
        bf16 = denoiser(**inputs)[0]
        attention.pin(KERNEL, denoiser)
        fp8 = denoiser(**inputs)[0]
        torch._dynamo.reset()
        counter = CompileCounterWithBackend("eager")
        denoiser.compile_repeated_blocks(backend=counter, fullgraph=True)
        compiled = denoiser(**inputs)[0]
    assert not torch.equal(fp8, bf16) and fp8_attention.sqnr_db(bf16, fp8) > 20  # FP8 ran, and is close
    assert counter.frame_count == 2  # one graph per block class, no break
    assert sum("fp8_sdpa" in str(n.target) for g in counter.graphs for n in g.graph.nodes) == 2
    assert torch.equal(compiled, fp8)


# ---- capabilities and rules ----

def test_cudnn_fp8_is_skipped_with_what_is_missing(monkeypatch):
    from diffbench.spec import attention as spec_attention

    scenario = Scenario("flux-dev", "bf16", "regional", attention="cudnn-fp8")
    monkeypatch.setattr(spec_attention, "frontend_missing", lambda: "attention cudnn-fp8 needs the frontend")
    capabilities._unavailable.cache_clear()
    assert capabilities.skip_reason(scenario, capabilities.Target("cpu")) == "attention cudnn-fp8 needs the frontend"
    monkeypatch.setattr(spec_attention, "frontend_missing", lambda: None)  # the package there: the machine decides
    capabilities._unavailable.cache_clear()
    assert capabilities.skip_reason(scenario, capabilities.Target("cpu")) == "attention cudnn-fp8 needs a CUDA device"
    ampere = capabilities.Target("cuda", (8, 0), "NVIDIA A100")
    assert capabilities.skip_reason(scenario, ampere) == "attention cudnn-fp8 needs SM 9.0+, NVIDIA A100 is SM 8.0"
    capabilities._unavailable.cache_clear()


def test_the_availability_check_names_cuda_sm_cudnn_and_the_frontend(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cudnn_attention.unavailable() == "attention cudnn-fp8 needs a CUDA device"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA L4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 9))
    assert cudnn_attention.unavailable() == "attention cudnn-fp8 needs SM 9.0+ (cuDNN's FP8 SDPA), NVIDIA L4 is SM 8.9"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: False)
    assert "needs cuDNN" in cudnn_attention.unavailable()
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "cudnn", None)  # import cudnn → ImportError
    reason = cudnn_attention.unavailable()
    assert reason.startswith("attention cudnn-fp8 needs the nvidia-cudnn-frontend package")
    assert "diffbench[fp8-attention]" in reason


def test_cudnn_fp8_needs_the_dispatcher_and_no_context_parallelism():
    assert "dispatcher" in rules.skip_reason(Scenario("sdxl", "bf16", attention="cudnn-fp8"))
    assert rules.skip_reason(Scenario("flux-dev", "bf16", "regional", attention="cudnn-fp8")) is None
    reason = rules.skip_reason(Scenario("flux-dev", "bf16", "regional", attention="cudnn-fp8", parallel="ulysses2"))
    assert reason and "context parallelism" in reason


# ---- the error measure ----

def test_sqnr_is_infinite_for_equal_tensors_and_20_db_for_a_tenth_of_the_amplitude():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert fp8_attention.sqnr_db(x, x) == math.inf
    assert fp8_attention.sqnr_db(x, x * 1.1) == pytest.approx(20.0)


def test_the_shapes_come_from_the_model_specs():
    flux, wan_self, wan_cross = fp8_attention.model_shapes()
    config = MODELS["flux-dev"].components["transformer"].full
    assert (flux.heads, flux.head_dim) == (config["num_attention_heads"], config["attention_head_dim"])
    assert flux.seq_q == flux.seq_kv == (1024 // 16) ** 2 + 512  # 64x64 packed latents, then 512 T5 tokens
    assert wan_self.seq_q == wan_self.seq_kv == wan_cross.seq_q == 21 * (480 // 16) * (832 // 16)
    assert wan_cross.seq_kv == MODELS["wan2.1-t2v-1.3b"].inputs.extra["max_sequence_length"]


def test_the_error_record_on_the_reference_kernel():
    record = fp8_attention.error(fp8_attention.AttentionShape("small", 1, 2, 48, 32, 32), "cpu")
    assert record["finite"] and record["output_dtype"] == "bfloat16" and record["device"] == "cpu"
    assert 20 < record["sqnr_db_vs_bf16"] < record["bf16_sqnr_db_vs_fp32"]


def test_no_cudnn_call_keeps_a_tensor_alive_after_it_returns(monkeypatch):
    # Whole-model compile with CUDA graphs failed on the H100 while two softmax-scale constants were cached across
    # calls: made during a capture, they stayed in the graph's pool ("2 tensor(s) in the cudagraph pool not
    # tracked as outputs", baselines/nvidia-h100-80gb-hbm3/fp8-attention/frontier.log). Each call makes its own.
    from types import SimpleNamespace

    packs = []
    graph = SimpleNamespace(execute=lambda pack, workspace, handle: packs.append(dict(pack)))
    names = "q k v descale_q descale_k descale_v descale_s scale_s scale_o o".split()
    plan = cudnn_attention._Plan(graph, tuple(names), workspace_size=16)
    monkeypatch.setitem(sys.modules, "cudnn", SimpleNamespace(set_stream=lambda handle, stream: None))
    monkeypatch.setattr(cudnn_attention, "_handle", lambda device: "handle")
    monkeypatch.setattr(cudnn_attention, "_plan", lambda *args: plan)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: SimpleNamespace(cuda_stream=0))
    q, k, v = (torch.randn(1, 2, 8, 16) for _ in range(3))
    (q8, dq), (k8, dk), (v8, dv) = (cudnn_attention.quantize_e4m3(t) for t in (q, k, v))
    for _ in range(2):
        cudnn_attention._cudnn_fp8_sdpa(q8, k8, v8, dq, dk, dv, 1.0 / dv, 0.25)
    first, second = packs
    assert first["descale_s"].item() == pytest.approx(1 / 448) and first["scale_s"].item() == 448
    assert all(first[name] is not second[name] for name in ("descale_s", "scale_s", "o"))
    module_tensors = [name for name, value in vars(cudnn_attention).items()
                      if isinstance(value, torch.Tensor) or (isinstance(value, dict) and any(
                          isinstance(v, torch.Tensor) for v in value.values()))]
    assert module_tensors == []


# ---- the mutations its quality gates must catch (build/attention_mutation.py) ----

def _qkv(seed: int = 0):
    torch.manual_seed(seed)
    return [torch.randn(1, 2, 64, 32, dtype=torch.bfloat16) for _ in range(3)]


def test_each_fp8_attention_mutation_changes_what_it_says_and_only_within_its_block():
    from diffbench.build.attention_mutation import MUTATIONS, Fp8AttentionMutation, mutated

    q, k, v = _qkv()
    right = cudnn_attention.fp8_sdpa(q, k, v).float()
    with mutated(Fp8AttentionMutation("descale_o", 1.1, 1.0)):
        torch.testing.assert_close(cudnn_attention.fp8_sdpa(q, k, v).float(), right * 1.1, rtol=1e-2, atol=1e-3)
    hotter = cudnn_attention.fp8_sdpa(q, k, v, scale=1.2 / math.sqrt(32)).float()
    with mutated(Fp8AttentionMutation("descale_qk", 1.2, 1.0)):  # the scores x 1.2: a softmax scale x 1.2
        torch.testing.assert_close(cudnn_attention.fp8_sdpa(q, k, v).float(), hotter, rtol=1e-2, atol=1e-2)
    with mutated(Fp8AttentionMutation("element", "e5m2", "e4m3")):
        coarser = cudnn_attention.fp8_sdpa(q, k, v).float()
    assert 0 < (coarser - right).abs().max() < 0.5 * right.abs().max()  # worse, still attention
    assert torch.equal(cudnn_attention.fp8_sdpa(q, k, v).float(), right)  # outside a block: as before
    for mutation in MUTATIONS:  # every listed mutation moves the output
        with mutated(mutation):
            assert not torch.equal(cudnn_attention.fp8_sdpa(q, k, v).float(), right), mutation
    with pytest.raises(ValueError, match="unknown FP8 attention mutation 'descale_k'"):
        with mutated(Fp8AttentionMutation("descale_k", 1.1, 1.0)):
            cudnn_attention.fp8_sdpa(q, k, v)


def test_the_error_job_reruns_and_mutates_and_calibrate_judges_each_against_its_bounds(tmp_path):
    """`diffbench-jobs quality-mutations --fp8-attention` on the CPU (the op's reference kernel, two prompt sets of
    one prompt, bf16 eager only): calibrate derives from the reruns on the first prompts, holds the later ones out
    (checked, never calibrated from) and checks every mutation against the bounds it faces."""
    from diffbench.build.attention_mutation import MUTATIONS
    from diffbench.face import calibration
    from diffbench.jobs.quality_mutations import measure_fp8_attention

    log = tmp_path / "errors.json"
    measure_fp8_attention(2, 1, log, device="cpu", scenarios=(("bf16", "eager"),))
    rows = calibration.rows(log, calibration_prompts=1)  # prompt 0 calibrated from, prompt 1 held out
    assert [r["kind"] for r in rows] == ["attention", "same-code"] + ["mutation"] * 2 * len(MUTATIONS)
    assert [r["prompt_set"]["first"] for r in rows[:2]] == [0, 1]
    assert {r["attention"] for r in rows} == {"cudnn-fp8"}
    assert calibration.label(rows[1]) == "bf16 + attention cudnn-fp8 (same code, held out, prompts 1+)"
    root = Path(calibration.__file__).parents[3]
    inputs = [root / name for name in json.loads((root / calibration.OUT / "calibration.json").read_text())["inputs"]]
    base = [r for path in inputs for r in calibration.rows(path)]
    derived = calibration.derive(base + rows, 4.0, 1)
    without_held_out = calibration.derive(base + [r for r in rows if r["kind"] != "same-code"], 4.0, 1)
    assert derived == without_held_out  # the held-out rerun and the mutations are never calibrated from
    assert derived["attentions"]["cudnn-fp8"]["runs"] == calibration.derive(base, 4.0, 1)["attentions"][
        "cudnn-fp8"]["runs"] + 1  # the rerun on prompt 0 is
    checked = calibration.verdicts(base + rows, derived)
    mine = [c for c in checked if c["file"] == rows[0]["file"]]
    assert len(mine) == 1 + 2 * len(MUTATIONS)
    faced = calibration.faced_by(derived, "attention", "cudnn-fp8")
    for c in mine:
        assert {gate: v["bound"] for gate, v in c["gates"].items()} == {
            gate: bound for gate, bound in faced.items() if gate in c["gates"]}
        assert c["rejected"] == any(v["fails"] for v in c["gates"].values())
    block = "\n".join(calibration.component_block(derived, checked, "attention"))
    assert "bf16 eager + cudnn-fp8 (cpu): " in block and "of 1 prompt sets rejected" in block
    assert "cudnn-fp8 element e4m3 -> e5m2" in block and "of 2 prompt sets rejected" in block
