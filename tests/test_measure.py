"""The denoiser floor: its first-step calls are captured without touching a compiled graph, then timed alone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from diffbench.build import compilation
from diffbench.measure import instruments, runner


class Scheduler:
    def step(self, out):
        return out


class TwoCallsPerStep:
    """A pipeline whose denoiser runs twice per step (as true classifier-free guidance does)."""

    def __init__(self, steps: int = 3):
        self.scheduler = Scheduler()
        self.denoiser = torch.nn.Linear(4, 4)
        self.steps = steps

    def __call__(self):
        x = torch.ones(1, 4)
        for t in range(self.steps):
            x = self.scheduler.step(self.denoiser(x) + self.denoiser(x * t))
        return x


def test_first_step_calls_of_a_whole_model_compiled_denoiser():
    torch.compiler.reset()
    pipe = TwoCallsPerStep()
    pipe.denoiser.compile(backend="eager", fullgraph=True)
    with torch.no_grad():
        pipe()  # compiles
    calls = instruments.first_step_calls(pipe, pipe.denoiser, pipe)
    assert len(calls) == 2 and calls[0][0][0].shape == (1, 4)
    assert not pipe.denoiser._forward_pre_hooks
    assert "step" not in vars(pipe.scheduler)  # the class's step is back
    # Timing the compiled denoiser alone on those inputs reuses its graph: no recompilation.
    with compilation.recompiles_forbidden(True):
        assert instruments.bare_forward_s(pipe.denoiser, calls[0], "cpu", repeats=3) > 0
    torch.compiler.reset()


def test_step_times_one_per_step():
    pipe = TwoCallsPerStep(steps=4)
    assert len(instruments.step_times(pipe, pipe, "cpu")) == 4


def test_the_floor_is_the_denoiser_alone_times_its_calls_per_step():
    """runner.denoiser_floor (recorded on CUDA only, where a tight loop is a floor) on the two-calls pipeline."""
    pipe = TwoCallsPerStep()
    built = SimpleNamespace(pipe=pipe, scenario=SimpleNamespace(spec=SimpleNamespace(denoiser="denoiser"),
                                                                cache="none", parallel="none"))
    with torch.no_grad():
        floor = runner.denoiser_floor(built, pipe, step_s=1.0, device="cpu", compiled=False)
    assert floor["denoiser_calls_per_step"] == 2 and 0 < floor["bare_step_s"] < 1.0
    assert floor["step_overhead_pct"] == pytest.approx(100 * (1.0 - floor["bare_step_s"]) / floor["bare_step_s"])


def test_a_calls_gpu_time_counts_attention_kernels_once_and_names_the_longest():
    # (start, end, name) in the profiler's microseconds: two attention kernels overlapping on two streams, a GEMM,
    # and an inductor kernel whose name lists an attention op (not attention: inductor's own)
    events = [(0, 400, "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_fp8_kernel0"),
              (300, 500, "pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits>"),
              (500, 1500, "sm90_xmma_gemm_e4m3bf16_e4m3f32"),
              (1500, 1600, "triton_poi_fused__scaled_dot_product_attention_0")]
    gpu = instruments.gpu_time_of(events)
    assert gpu.busy_s == pytest.approx(1600e-6) and gpu.attention_s == pytest.approx(500e-6)
    assert gpu.communication_s == 0 and gpu.compute_s == pytest.approx(1600e-6)
    assert [name for name, _ in gpu.top_kernels][:2] == ["sm90_xmma_gemm_e4m3bf16_e4m3f32",
                                                         "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_fp8_kernel0"]
    assert gpu.top_kernels[0][1] == pytest.approx(1000e-6)
    long_name = [(0, 1, "x" * 1000)]
    assert len(instruments.gpu_time_of(long_name).top_kernels[0][0]) == instruments.KERNEL_NAME_CHARS
