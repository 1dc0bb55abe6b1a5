"""GPU probe of `--attention cudnn-fp8` (docs/fp8-attention.md): run on an H100/H200 with nvidia-cudnn-frontend
installed, from the project root:

    diffbench-jobs fp8-attention-probe OUT.json

Prints and writes to OUT.json: the environment; (a) per shape of FLUX.1-dev and Wan2.1 (measure/fp8_attention.py),
the FP8 attention's SQNR against bf16 SDPA and its latency against bf16 SDPA on torch's cuDNN kernel (CUDA
events, median of 20); (b) a tiny attention module with the FP8 mode inside, compiled with fullgraph=True
(inductor): that it compiles with no graph break (dynamo's counters) and matches eager. Every step records its
own exception and the rest still run; the JSON is rewritten after each step. Exit status 0 when every step ran.
"""

from __future__ import annotations

import json
import platform
import sys
import traceback
from pathlib import Path

import torch


def _step(results: dict, name: str, out: Path, fn) -> None:
    print(f"== {name}", flush=True)
    try:
        results[name] = fn()
    except Exception as exc:  # one failure must not lose the other steps
        results[name] = dict(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:])
    print(json.dumps(results[name], indent=1, default=str)[:3000], flush=True)
    out.write_text(json.dumps(results, indent=1, default=str))


def environment() -> dict:
    from importlib import metadata

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    from diffbench.build import cudnn_attention

    return dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
                torch_cudnn=torch.backends.cudnn.version(), frontend=version("nvidia-cudnn-frontend"),
                diffusers=version("diffusers"), torchao=version("torchao"),
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                sm=torch.cuda.get_device_capability() if torch.cuda.is_available() else None,
                unavailable=cudnn_attention.unavailable())


def backend_version() -> dict:
    import cudnn

    return dict(cudnn_backend=cudnn.backend_version())


class TinyAttention(torch.nn.Module):
    """Projections, then the backend function diffbench registers with diffusers' dispatcher, called as the
    dispatcher calls it: (batch, seq, heads, head_dim) tensors."""

    def __init__(self, dim: int = 512, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, x):
        from diffbench.build.cudnn_attention import attention_bshd

        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(-3)
        return self.out(attention_bshd(q, k, v).flatten(-2))


def _graph_breaks_and_ops(fn, *args, **kwargs) -> tuple[dict, int, list[str]]:
    """Compile fn's graphs with dynamo only (an eager backend): graph breaks, frames and the ops they hold."""
    from torch._dynamo.testing import CompileCounterWithBackend
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    counter = CompileCounterWithBackend("eager")
    with torch.no_grad():
        fn(counter, *args, **kwargs)
    ops = sorted({str(n.target) for g in counter.graphs for n in g.graph.nodes if n.op == "call_function"})
    return dict(counters["graph_break"]), counter.frame_count, ops


def compiled_tiny_module() -> dict:
    from diffbench.measure.fp8_attention import sqnr_db

    torch.manual_seed(0)
    module = TinyAttention().to("cuda", torch.bfloat16)
    x = torch.randn(2, 1024, 512, device="cuda", dtype=torch.bfloat16)
    with torch.no_grad():
        eager = module(x)
        torch._dynamo.reset()
        compiled_fn = torch.compile(module, fullgraph=True)
        compiled, again = compiled_fn(x), compiled_fn(x)
    breaks, frames, ops = _graph_breaks_and_ops(lambda backend: torch.compile(module, backend=backend,
                                                                              fullgraph=True)(x))
    return dict(graph_breaks=breaks, frames=frames, fp8_op_in_graph=any("fp8_sdpa" in o for o in ops),
                max_abs_diff=(compiled - eager).abs().max().item(), sqnr_db_compiled_vs_eager=sqnr_db(eager, compiled),
                repeat_identical=bool(torch.equal(compiled, again)), finite=bool(torch.isfinite(compiled).all()))


def _tiny_denoiser_and_inputs(model: str):
    """The model's tiny denoiser (its spec's tiny config, random weights, bf16 on the GPU) and one call's inputs."""
    import diffusers

    from diffbench.spec.models import MODELS

    spec = MODELS[model]
    component = spec.components[spec.denoiser]
    config = component.tiny
    torch.manual_seed(0)
    denoiser = getattr(diffusers, component.cls)(**config).to("cuda", torch.bfloat16).eval()

    def randn(*shape):
        return torch.randn(*shape, device="cuda", dtype=torch.bfloat16)

    if component.cls == "FluxTransformer2DModel":
        image, text = 256, 32
        inputs = dict(hidden_states=randn(1, image, config["in_channels"]),
                      encoder_hidden_states=randn(1, text, config["joint_attention_dim"]),
                      pooled_projections=randn(1, config["pooled_projection_dim"]),
                      timestep=torch.tensor([0.5], device="cuda"), img_ids=torch.zeros(image, 3, device="cuda"),
                      txt_ids=torch.zeros(text, 3, device="cuda"),
                      guidance=torch.tensor([3.5], device="cuda") if config.get("guidance_embeds") else None)
    else:  # WanTransformer3DModel: (batch, channels, frames, height, width) latents, text embeddings
        inputs = dict(hidden_states=randn(1, config["in_channels"], 2, 16, 16),
                      timestep=torch.tensor([500], device="cuda"),
                      encoder_hidden_states=randn(1, 16, config["text_dim"]))
    return denoiser, dict(inputs, return_dict=False)


def compiled_tiny_denoiser(model: str) -> dict:
    """The model's tiny denoiser with --attention cudnn-fp8 pinned as the suite pins it, eager and regionally
    compiled (fullgraph, inductor): graph breaks, the op in the graphs, and compiled against eager."""
    from diffbench.build import attention
    from diffbench.measure.fp8_attention import sqnr_db
    from diffbench.spec.attention import ATTENTION_KERNELS

    denoiser, inputs = _tiny_denoiser_and_inputs(model)
    with torch.no_grad():
        bf16 = denoiser(**inputs)[0]
        attention.pin(ATTENTION_KERNELS["cudnn-fp8"], denoiser)
        eager = denoiser(**inputs)[0]

    def dynamo_only(backend):
        denoiser.compile_repeated_blocks(backend=backend, fullgraph=True)
        denoiser(**inputs)

    breaks, frames, ops = _graph_breaks_and_ops(dynamo_only)
    denoiser, inputs = _tiny_denoiser_and_inputs(model)  # a fresh one for inductor (same seed, same weights)
    attention.pin(ATTENTION_KERNELS["cudnn-fp8"], denoiser)
    torch._dynamo.reset()
    denoiser.compile_repeated_blocks(fullgraph=True)
    with torch.no_grad():
        compiled = denoiser(**inputs)[0]
    return dict(graph_breaks=breaks, frames=frames, fp8_op_in_graph=any("fp8_sdpa" in o for o in ops),
                sqnr_db_fp8_eager_vs_bf16=sqnr_db(bf16, eager), sqnr_db_compiled_vs_eager=sqnr_db(eager, compiled),
                finite=bool(torch.isfinite(compiled).all()))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    _step(results, "environment", out, environment)
    _step(results, "cudnn_backend", out, backend_version)
    from diffbench.measure import fp8_attention

    for shape in fp8_attention.model_shapes():
        _step(results, f"error: {shape.name}", out, lambda s=shape: fp8_attention.error(s, "cuda"))
        _step(results, f"latency: {shape.name}", out, lambda s=shape: fp8_attention.latency(s, "cuda"))
    _step(results, "compile: tiny attention, fullgraph, inductor", out, compiled_tiny_module)
    for model in ("flux-dev", "wan2.1-t2v-1.3b"):
        _step(results, f"compile: tiny {model} denoiser, regional fullgraph", out,
              lambda m=model: compiled_tiny_denoiser(m))
    failed = [name for name, value in results.items() if isinstance(value, dict) and "error" in value]
    print(f"wrote {out}; failed steps: {failed or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
