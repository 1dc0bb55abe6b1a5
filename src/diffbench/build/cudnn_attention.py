"""FP8 (e4m3) attention through cuDNN's graph API (`nvidia-cudnn-frontend`, `import cudnn`), for `--attention
cudnn-fp8` (spec/attention.py).

The path, per call of `scaled_dot_product_attention` that qualifies (`fp8_sdpa_eligible`):
1. Q, K and V are quantized to float8_e4m3fn per tensor with scales computed on the fly: scale = 448 / amax,
   descale = amax / 448 (`quantize_e4m3`). These are ordinary torch ops, so under torch.compile inductor fuses
   them with whatever produced Q/K/V (norms, RoPE).
2. `diffbench::fp8_sdpa` (a `torch.library.custom_op`, with a fake implementation for dynamo and inductor) runs
   cuDNN's `sdpa_fp8` forward on the quantized tensors. On CUDA it builds one cuDNN graph per (device, shapes,
   strides, softmax scale) and caches it. cuDNN quantizes the softmax probabilities to e4m3 itself for P·V
   (scale_s = 448: they lie in [0, 1]).
   Output: FP8 O with scale_o = 448 / amax(V) (|O| <= amax(V): each output row is a convex combination of V's
   rows, so it cannot overflow), dequantized to the queries' dtype by `fp8_sdpa` in torch ops, which inductor
   fuses with what follows. cuDNN's bf16 O for FP8 inputs is Blackwell-only (cuDNN 9.19 on an H100: "sdpa fp8
   forward with HALF/BFLOAT16 output is only supported on Blackwell architecture with cuDNN version 9.13.0 and
   newer"), so FP8 O everywhere keeps one path and a static output type for the fake implementation.
   Elsewhere (CPU: the tests' seam) the op runs `reference_fp8_sdpa`, the same math in float32 with the same
   quantized probabilities and output, so its graph, shapes, strides and quantization are testable without a GPU.
3. `attention_bshd` is the backend function build/attention.py registers with diffusers' attention dispatcher
   (diffusers hands backends (batch, seq, heads, head_dim) tensors): qualifying calls (`fp8_sdpa_eligible`: no
   mask, dropout or causal mask, half precision, head_dim a multiple of 16 up to 256) take 1.+2., the others
   torch's SDPA, as diffusers' native backend would. Decided at trace time, so a compiled block holds the custom
   op in its graph with no graph break.

Layout: Q/K/V reach the op as (batch, heads, seq, head_dim) views of (batch, seq, heads, head_dim) memory. The
quantized copies keep that memory order, cuDNN gets the real strides (only the last dimension must be
contiguous), and the output is allocated in (batch, seq, heads, head_dim) memory, which is what diffusers
permutes it back to. The fake implementation gives the same strides.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from diffbench.build import attention_mutation

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0  # torch.finfo(torch.float8_e4m3fn).max
# An all-zero tensor has amax 0: its scale would be 448/0. Any positive floor gives zeros back exactly.
AMAX_FLOOR = 1e-12
# The probabilities P = exp(S - rowmax) lie in [0, 1]: cuDNN multiplies them by scale_s before the e4m3 cast
# (cuDNN frontend docs, "Amax S": 448 for E4M3 without dropout).
SCALE_S = E4M3_MAX
HEAD_DIMS = range(16, 257, 16)  # cuDNN FP8 SDPA: head_dim a multiple of 16, at most 256
FRONTEND = "nvidia-cudnn-frontend"
MIN_SM = (9, 0)


def quantize_e4m3(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tensor e4m3 quantization: (x * 448/amax rounded to e4m3, the descale amax/448 as a float32 (1,1,1,1)
    tensor). The strides of x are kept (elementwise ops preserve a dense layout)."""
    amax = x.detach().abs().amax().float().clamp(min=AMAX_FLOOR)
    scale = E4M3_MAX / amax
    # clamp: float32 rounding can put the largest element a hair above 448, and torch's e4m3 cast does not saturate
    quantized = (x.float() * scale).clamp(-E4M3_MAX, E4M3_MAX).to(E4M3)
    return quantized, (1.0 / scale).reshape(1, 1, 1, 1)


def _output_like(q: torch.Tensor, v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The output, shaped (batch, heads, seq_q, head_dim_v), laid out in (batch, seq_q, heads, head_dim_v) memory."""
    batch, heads, seq_q, _ = q.shape
    return q.new_empty((batch, seq_q, heads, v.shape[-1]), dtype=dtype).transpose(1, 2)


def reference_fp8_sdpa(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, scale: float) -> torch.Tensor:
    """cuDNN's FP8 attention in float32: dequantized Q, K, V; the unnormalized probabilities exp(S - rowmax)
    quantized to e4m3 with scale_s = 448 as cuDNN does for P·V; normalized by the row sums; O times scale_o
    rounded to e4m3."""
    q, k, v = (t.float() * d for t, d in ((q8, descale_q), (k8, descale_k), (v8, descale_v)))
    scores = (q @ k.transpose(-2, -1)) * scale
    p = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    p8 = (p * SCALE_S).to(E4M3).float() / SCALE_S
    out = (p8 @ v) / p.sum(dim=-1, keepdim=True)
    return _output_like(q8, v8, E4M3).copy_((out * scale_o).clamp(-E4M3_MAX, E4M3_MAX))


@torch.library.custom_op("diffbench::fp8_sdpa", mutates_args=())
def fp8_sdpa_op(q8: torch.Tensor, k8: torch.Tensor, v8: torch.Tensor, descale_q: torch.Tensor,
                descale_k: torch.Tensor, descale_v: torch.Tensor, scale_o: torch.Tensor, scale: float) -> torch.Tensor:
    """Attention of e4m3 Q/K/V (batch, heads, seq, head_dim) with per-tensor descales (float32, (1, 1, 1, 1));
    returns O * scale_o in e4m3, laid out in (batch, seq, heads, head_dim) memory."""
    if q8.device.type == "cuda":
        return _cudnn_fp8_sdpa(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, scale)
    return reference_fp8_sdpa(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, scale)


@fp8_sdpa_op.register_fake
def _fp8_sdpa_fake(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, scale):
    return _output_like(q8, v8, E4M3)


def fp8_sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """SDPA with Q/K/V quantized to e4m3 per tensor: same shapes and dtype as F.scaled_dot_product_attention."""
    softmax_scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    (q8, dq), (k8, dk), (v8, dv) = (quantize_e4m3(t) for t in (query, key, value))
    descale_o = dv
    if (mutation := attention_mutation.active()) is not None:  # a deliberate break, for the gates to catch
        q8, k8, v8, dq, descale_o = mutation.apply(q8, k8, v8, dq, descale_o)
    o8 = fp8_sdpa_op(q8, k8, v8, dq, dk, dv, 1.0 / dv, softmax_scale)  # scale_o = 448 / amax(V): see above
    return (o8.float() * descale_o).to(query.dtype)


def fp8_sdpa_eligible(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                      enable_gqa=False) -> bool:
    """Whether cuDNN's FP8 forward takes this SDPA call as it is: no mask, dropout or causal mask, one K/V head
    per query head, 4-D half-precision inputs with a head_dim cuDNN supports (decided at trace time: all static)."""
    tensors = (query, key, value)
    return (attn_mask is None and not dropout_p and not is_causal and not enable_gqa
            and all(isinstance(t, torch.Tensor) and t.dim() == 4 for t in tensors)
            and all(t.dtype in (torch.bfloat16, torch.float16) for t in tensors)
            and query.shape[1] == key.shape[1] == value.shape[1]
            and query.shape[-1] == key.shape[-1] and query.shape[-1] in HEAD_DIMS and value.shape[-1] in HEAD_DIMS)


def attention_bshd(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask=None, dropout_p: float = 0.0,
                   is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False) -> torch.Tensor:
    """Attention on (batch, seq, heads, head_dim) tensors, as diffusers' dispatcher hands them to a backend: FP8
    where `fp8_sdpa_eligible`, else torch's SDPA (what diffusers' native backend runs)."""
    q, k, v = (t.transpose(1, 2) for t in (query, key, value))
    if fp8_sdpa_eligible(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa):
        out = fp8_sdpa(q, k, v, scale)
    else:
        if attn_mask is not None and attn_mask.ndim == 2:  # (batch, seq_kv) → broadcast over heads and queries
            attn_mask = attn_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                                             scale=scale, enable_gqa=enable_gqa)
    return out.transpose(1, 2)


# ---- the cuDNN side (CUDA only; `import cudnn` happens on first use) ----

def unavailable() -> str | None:
    """Why this process cannot run cuDNN's FP8 attention (None when it can): names what is missing."""
    if not torch.cuda.is_available():
        return "attention cudnn-fp8 needs a CUDA device"
    sm = torch.cuda.get_device_capability()
    if sm < MIN_SM:
        return (f"attention cudnn-fp8 needs SM {'.'.join(map(str, MIN_SM))}+ (cuDNN's FP8 SDPA), "
                f"{torch.cuda.get_device_name()} is SM {'.'.join(map(str, sm))}")
    if not torch.backends.cudnn.is_available():
        return "attention cudnn-fp8 needs cuDNN, which this torch build does not have"
    try:
        import cudnn  # noqa: F401
    except ImportError as exc:
        return (f"attention cudnn-fp8 needs the {FRONTEND} package (pip install 'diffbench[fp8-attention]'): "
                f"{exc}")
    except Exception as exc:  # the frontend can fail to find or load libcudnn
        return f"attention cudnn-fp8: {FRONTEND} does not load: {type(exc).__name__}: {exc}"
    return None


@dataclass
class _Plan:
    graph: object
    tensors: tuple  # q, k, v, descale_q, descale_k, descale_v, descale_s, scale_s, scale_o, o
    workspace_size: int


_plans: dict[tuple, _Plan] = {}
_handles: dict[int, object] = {}
_lock = threading.Lock()


def _softmax_scales(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """descale_s and scale_s, made on every call: a tensor cached across calls would outlive a CUDA graph's
    capture in its memory pool, which torch's CUDA graph trees refuse ("2 tensor(s) in the cudagraph pool not
    tracked as outputs": whole-model compile with CUDA graphs on the H100, fp8-attention/frontier.log)."""
    return like.new_full((1, 1, 1, 1), 1.0 / SCALE_S), like.new_full((1, 1, 1, 1), SCALE_S)


def _handle(device: torch.device):
    import cudnn

    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _handles:
        with torch.cuda.device(index):
            _handles[index] = cudnn.create_handle()
    return _handles[index]


def _build_plan(handle, q8, k8, v8, out: torch.Tensor, scale: float) -> _Plan:
    import cudnn

    e4m3, fp32 = cudnn.data_type.FP8_E4M3, cudnn.data_type.FLOAT
    graph = cudnn.pygraph(io_data_type=e4m3, intermediate_data_type=fp32, compute_data_type=fp32, handle=handle)
    q, k, v = (graph.tensor(name=n, dim=list(t.shape), stride=list(t.stride()), data_type=e4m3)
               for n, t in (("q", q8), ("k", k8), ("v", v8)))
    scalars = [graph.tensor(name=n, dim=[1, 1, 1, 1], stride=[1, 1, 1, 1], data_type=fp32)
               for n in ("descale_q", "descale_k", "descale_v", "descale_s", "scale_s", "scale_o")]
    common = dict(q=q, k=k, v=v, descale_q=scalars[0], descale_k=scalars[1], descale_v=scalars[2],
                  descale_s=scalars[3], scale_s=scalars[4], scale_o=scalars[5], attn_scale=scale,
                  use_causal_mask=False, name="fp8_sdpa")
    try:  # newer frontends name it generate_stats; older ones is_inference (its opposite)
        o, _stats, amax_s, amax_o = graph.sdpa_fp8(generate_stats=False, **common)
    except TypeError:
        o, _stats, amax_s, amax_o = graph.sdpa_fp8(is_inference=True, **common)
    o.set_output(True).set_dim(list(out.shape)).set_stride(list(out.stride())).set_data_type(e4m3)
    # Amax_S and Amax_O stay virtual: nothing reads them, and the frontend warns that a declared Amax_S keeps the
    # graph off its faster engines.
    for amax in (amax_s, amax_o):
        amax.set_output(False).set_dim([1, 1, 1, 1]).set_stride([1, 1, 1, 1]).set_data_type(fp32)
    graph.validate()
    graph.build_operation_graph()
    graph.create_execution_plans([cudnn.heur_mode.A, cudnn.heur_mode.FALLBACK])
    graph.check_support()
    graph.build_plans()
    return _Plan(graph, (q, k, v, *scalars, o), graph.get_workspace_size())


def _plan(handle, q8, k8, v8, out, scale) -> _Plan:
    key = (out.device.index, tuple(q8.shape), q8.stride(), tuple(k8.shape), k8.stride(), tuple(v8.shape),
           v8.stride(), out.stride(), scale)
    with _lock:
        if key not in _plans:
            try:
                _plans[key] = _build_plan(handle, q8, k8, v8, out, scale)
            except Exception as exc:
                raise RuntimeError(f"cuDNN FP8 SDPA: no plan for q{tuple(q8.shape)} k{tuple(k8.shape)} "
                                   f"v{tuple(v8.shape)} (strides {q8.stride()}, {k8.stride()}, {v8.stride()}): "
                                   f"{type(exc).__name__}: {exc}") from exc
        return _plans[key]


def _cudnn_fp8_sdpa(q8, k8, v8, descale_q, descale_k, descale_v, scale_o, scale):
    import cudnn

    # cuDNN needs each head's vector contiguous; anything else is copied once
    q8, k8, v8 = (t if t.stride(-1) == 1 else t.contiguous() for t in (q8, k8, v8))
    device = q8.device
    handle = _handle(device)
    cudnn.set_stream(handle=handle, stream=torch.cuda.current_stream(device).cuda_stream)
    out = _output_like(q8, v8, E4M3)
    plan = _plan(handle, q8, k8, v8, out, scale)
    q, k, v, dq, dk, dv, ds, ss, so, o = plan.tensors
    scalar = {t: s.float().contiguous() for t, s in ((dq, descale_q), (dk, descale_k), (dv, descale_v), (so, scale_o))}
    descale_s, scale_s = _softmax_scales(scalar[so])
    pack = {q: q8, k: k8, v: v8, ds: descale_s, ss: scale_s, o: out, **scalar}
    workspace = torch.empty(max(plan.workspace_size, 1), dtype=torch.uint8, device=device)
    plan.graph.execute(pack, workspace, handle=handle)
    return out
