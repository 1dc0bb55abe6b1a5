"""The releases of torch and diffusers whose internals diffbench relies on are the tested ones; others warn."""

from __future__ import annotations

import pytest
from packaging.version import Version

from diffbench.build import internals


def test_the_installed_torch_and_diffusers_are_tested_releases():
    """An upgrade past the tested releases fails here: test it, then widen the range (build/internals.py)."""
    assert internals.untested() == []
    assert {r.distribution for r in internals.RELIANCES} == {"torch", "diffusers"}


@pytest.mark.parametrize(("distribution", "version", "tested"), [
    ("torch", "2.11.0", True), ("torch", "2.14.1+cu130", True), ("torch", "2.15.0", False), ("torch", "2.10.0", False),
    ("diffusers", "0.39.0", True), ("diffusers", "0.42.1", True), ("diffusers", "0.43.0.dev0", False),
])
def test_a_release_outside_the_range_is_named_with_what_to_check(monkeypatch, distribution, version, tested):
    monkeypatch.setattr(internals, "installed", lambda name: Version(version) if name == distribution else None)
    messages = internals.untested()
    assert (messages == []) is tested
    if not tested:
        assert messages[0].startswith(f"{distribution} {Version(version)} is outside") and "check " in messages[0]


def test_the_plugin_warns_before_building_anything(monkeypatch):
    from diffbench.pytest_plugin import compat, plugin

    monkeypatch.setattr(internals, "untested", lambda: ["torch 2.15.0 is outside ...: check torch._inductor.config"])
    class Stop(Exception):
        pass

    def stop():
        raise Stop  # the rest of the process-wide setup is not this test's

    monkeypatch.setattr(plugin, "_quiet_progress_bars", stop)
    with pytest.warns(compat.UntestedVersionWarning, match="torch 2.15.0 is outside"), pytest.raises(Stop):
        plugin.prepare_runtime(None)
