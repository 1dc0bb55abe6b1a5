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
