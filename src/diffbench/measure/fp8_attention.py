"""The FP8 attention's own error and speed (`--attention cudnn-fp8`, build/cudnn_attention.py): SQNR in dB
against bf16 SDPA on random inputs, and latency, per attention shape of the models that run it.

diffbench-jobs fp8-attention-probe runs these on a GPU and writes their records to JSON; the CPU tests run the same
functions on the reference kernel at small shapes.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from diffbench.build import cudnn_attention
from diffbench.spec.models import MODELS


@dataclass(frozen=True)
class AttentionShape:
    """One attention call: queries (batch, heads, seq_q, head_dim) against keys/values of seq_kv tokens."""

    name: str
    batch: int
    heads: int
    seq_q: int
    seq_kv: int
    head_dim: int

    def tensors(self, device: str, dtype: torch.dtype = torch.bfloat16, seed: int = 0):
        """Random Q, K, V as diffusers hands them to SDPA: (batch, heads, seq, head_dim) views of
        (batch, seq, heads, head_dim) memory."""
        generator = torch.Generator(device).manual_seed(seed)

        def draw(seq):
            return torch.randn(self.batch, seq, self.heads, self.head_dim, generator=generator, device=device,
                               dtype=dtype).transpose(1, 2)

        return draw(self.seq_q), draw(self.seq_kv), draw(self.seq_kv)


def model_shapes() -> list[AttentionShape]:
    """The attention calls of FLUX.1-dev and Wan2.1 at their default sizes, from their specs (batch 1)."""
    flux = MODELS["flux-dev"]
    flux_cfg, flux_in = flux.components[flux.denoiser].full, flux.inputs
    # FLUX: 8x VAE downsampling, then 2x2 patches packed into one token; the T5 tokens join the image tokens
    image_tokens = (flux_in.height // 16) * (flux_in.width // 16)
    text_tokens = flux_in.extra["max_sequence_length"]
    wan = MODELS["wan2.1-t2v-1.3b"]
    wan_cfg, wan_in = wan.components[wan.denoiser].full, wan.inputs
    # Wan: the causal VAE keeps frame 0 and compresses the rest 4x in time, 8x in space; patches (1, 2, 2)
    _, patch_h, patch_w = wan_cfg["patch_size"]
    video_tokens = ((wan_in.frames - 1) // 4 + 1) * (wan_in.height // 8 // patch_h) * (wan_in.width // 8 // patch_w)
    wan_text = wan_in.extra["max_sequence_length"]
    return [
        AttentionShape("flux-dev joint attention", 1, flux_cfg["num_attention_heads"], image_tokens + text_tokens,
                       image_tokens + text_tokens, flux_cfg["attention_head_dim"]),
        AttentionShape("wan2.1-t2v-1.3b self-attention", 1, wan_cfg["num_attention_heads"], video_tokens,
                       video_tokens, wan_cfg["attention_head_dim"]),
        AttentionShape("wan2.1-t2v-1.3b cross-attention", 1, wan_cfg["num_attention_heads"], video_tokens,
                       wan_text, wan_cfg["attention_head_dim"]),
    ]


def sqnr_db(reference: torch.Tensor, approximation: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum ref² / sum (ref - approx)²); inf when equal."""
    reference, approximation = reference.double(), approximation.double()
    noise = (reference - approximation).pow(2).sum().item()
    signal = reference.pow(2).sum().item()
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise)


def error(shape: AttentionShape, device: str, seed: int = 0) -> dict:
    """SQNR of FP8 attention against bf16 SDPA (torch's choice of kernel) on random inputs, and also against
    float32 SDPA (what bf16 itself loses), with whether the output is finite."""
    q, k, v = shape.tensors(device, seed=seed)
    with torch.no_grad():
        exact = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
        bf16 = F.scaled_dot_product_attention(q, k, v)
        fp8 = cudnn_attention.fp8_sdpa(q, k, v)
    return dict(asdict(shape), device=device, seed=seed, output_dtype=str(fp8.dtype).removeprefix("torch."),
                finite=bool(torch.isfinite(fp8).all()), sqnr_db_vs_bf16=sqnr_db(bf16, fp8),
                sqnr_db_vs_fp32=sqnr_db(exact, fp8), bf16_sqnr_db_vs_fp32=sqnr_db(exact, bf16))


def median_ms(fn, warmup: int = 3, rounds: int = 20) -> float:
    """Median of `rounds` CUDA-event timings of fn(), in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def latency(shape: AttentionShape, device: str = "cuda", rounds: int = 20) -> dict:
    """Median latency (CUDA events, `rounds` calls) on the same inputs of: FP8 attention eager (quantization
    included, unfused), compiled (inductor fuses the quantization), the cuDNN op alone on pre-quantized inputs,
    and bf16 SDPA pinned to torch's cuDNN kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = shape.tensors(device)
    op = cudnn_attention.fp8_sdpa_op
    with torch.no_grad():
        (q8, dq), (k8, dk), (v8, dv) = (cudnn_attention.quantize_e4m3(t) for t in (q, k, v))
        scale = 1.0 / math.sqrt(shape.head_dim)
        scale_o = 1.0 / dv
        kernel_ms = median_ms(lambda: op(q8, k8, v8, dq, dk, dv, scale_o, scale), rounds=rounds)
        eager_ms = median_ms(lambda: cudnn_attention.fp8_sdpa(q, k, v), rounds=rounds)
        compiled = torch.compile(cudnn_attention.fp8_sdpa, fullgraph=True)
        compiled_ms = median_ms(lambda: compiled(q, k, v), rounds=rounds)
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            bf16_ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v), rounds=rounds)
    return dict(asdict(shape), rounds=rounds, fp8_eager_ms=eager_ms, fp8_compiled_ms=compiled_ms,
                fp8_kernel_only_ms=kernel_ms, bf16_cudnn_ms=bf16_ms, speedup_compiled=bf16_ms / compiled_ms)
