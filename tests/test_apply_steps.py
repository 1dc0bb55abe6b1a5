"""One record + one apply step: a dimension's record says what it needs of the machine (`Dimension.needs`, checked
by measure.capabilities.skip_reason) and where its apply step runs in a build (`Dimension.apply_order`, the step
itself in build/steps.py); build walks the steps in that order."""

from __future__ import annotations

import dataclasses

from diffbench.build import steps
from diffbench.measure import capabilities
from diffbench.measure.capabilities import Target
from diffbench.spec import dimensions
from diffbench.spec.dimensions import APPLIED, BY_NAME, DIMENSIONS, Needs
from diffbench.spec.matrix import Scenario

CPU, H100 = Target("cpu"), Target("cuda", (9, 0), "NVIDIA H100 80GB HBM3", 1)


def test_every_applied_dimension_has_its_step_and_every_step_its_record():
    assert set(steps.STEPS) == {d.name for d in APPLIED}
    # what the steps rely on: offloading hooks before the rest, compile last (it traces what the others made)
    assert [d.name for d in APPLIED] == ["offload", "vae", "attention", "cache", "parallel", "compile"]


def test_build_walks_the_steps_in_the_records_order(monkeypatch):
    walked = []
    for name in steps.STEPS:
        monkeypatch.setitem(steps.STEPS, name, lambda pipe, scenario, options, name=name: walked.append(name))
    steps.apply_all(object(), Scenario("flux-dev", "bf16"), None)
    assert walked == [d.name for d in APPLIED]


def test_a_new_step_is_placed_by_its_record_alone(monkeypatch):
    """A record with an apply_order joins the walk where its number puts it (here: vae moved after compile)."""
    moved = tuple(dataclasses.replace(d, apply_order=99) if d.name == "vae" else d for d in DIMENSIONS)
    monkeypatch.setattr(steps, "APPLIED", tuple(sorted((d for d in moved if d.apply_order is not None),
                                                       key=lambda d: d.apply_order)))
    walked = []
    for name in steps.STEPS:
        monkeypatch.setitem(steps.STEPS, name, lambda pipe, scenario, options, name=name: walked.append(name))
    steps.apply_all(object(), Scenario("flux-dev", "bf16"), None)
    assert walked[-1] == "vae"


def test_a_records_needs_are_what_skip_reason_checks(monkeypatch):
    """Giving a record needs is all it takes for its values to be skipped where they cannot run."""
    tiling = Scenario("flux-dev", "bf16", vae="tiling")
    assert capabilities.skip_reason(tiling, CPU) is None  # the vae record needs nothing
    needy = dataclasses.replace(BY_NAME["vae"], needs=lambda mode: Needs(f"vae {mode}", cuda=mode != "default"))
    monkeypatch.setattr(capabilities, "DIMENSIONS", tuple(needy if d.name == "vae" else d for d in DIMENSIONS))
    assert capabilities.skip_reason(tiling, CPU) == "vae tiling needs a CUDA device"
    assert capabilities.skip_reason(tiling, H100) is None
    assert capabilities.skip_reason(Scenario("flux-dev", "bf16"), CPU) is None


def test_each_kind_of_need_gives_its_reason():
    unmet = capabilities.unmet
    assert unmet(Needs("x", unavailable=lambda: "x: not installed", cuda=True), CPU) == "x: not installed"
    assert unmet(Needs("x", cuda=True, cuda_for=" to do it"), CPU) == "x needs a CUDA device to do it"
    assert unmet(Needs("x", min_sm=(10, 0)), H100) == "x needs SM 10.0+, NVIDIA H100 80GB HBM3 is SM 9.0"
    assert "needs 2; this process sees 1" in unmet(Needs("x", gpus=2), H100)
    assert "on a CPU" in unmet(Needs("x", gpus=2), CPU)
    assert unmet(Needs("x", cuda=True, min_sm=(9, 0), gpus=1), H100) is None
    assert unmet(dimensions.NEEDS_NOTHING, CPU) is None
