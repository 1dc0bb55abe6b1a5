"""Scheme names resolve through the installed torchao, whatever its API generation."""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from diffbench.spec import schemes


@dataclass
class OldInt8Config:  # what a function-style torchao returned
    group_size: int | None = None


def test_old_function_style_api_resolves_and_missing_names_are_reported(monkeypatch):
    old = types.ModuleType("fake_torchao_old")
    old.int8_weight_only = lambda: OldInt8Config()
    old.autoquant = lambda model: model
    monkeypatch.setitem(sys.modules, "fake_torchao_old", old)
    monkeypatch.setattr(schemes, "TORCHAO_MODULES", ("fake_torchao_old",))
    ao = schemes.TorchAO()
    ao.__dict__["version"] = "0.9.0"  # cached_property slot
    table = {row["scheme"]: row for row in schemes.resolution_table(ao)}
    assert table["int8wo"] == dict(scheme="int8wo", status="available", resolved=f"{__name__}.OldInt8Config")
    assert table["fp8dqrow"]["status"] == "unavailable"
    assert table["fp8dqrow"]["resolved"].startswith("not in torchao 0.9.0: ")
    assert table["int8dq"]["resolved"].startswith("not in torchao 0.9.0: Int8DynamicActivationInt8WeightConfig")
    assert "wraps a compiled model" in table["autoquant"]["resolved"]  # present, but not a quantize_ config


def _in_torchao(name: str):
    """The object torchao exports under `name` in one of the modules the suite looks in, or None."""
    for module_name in schemes.TORCHAO_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _granularities(scheme: str) -> list:
    """A scheme's config's scale granularities (torchao may keep one per operand: activation, weight)."""
    granularity = schemes.SCHEMES[scheme].torchao_config().granularity
    return list(granularity) if isinstance(granularity, (list, tuple)) else [granularity]


def test_installed_torchao_table_covers_every_scheme():
    """Each row against the installed torchao itself: an available scheme names the config class torchao exports
    and builds it with the scheme's settings; an unavailable one names what this torchao really lacks."""
    import torchao

    by_name = {r["scheme"]: r for r in schemes.resolution_table()}
    assert list(by_name) == list(schemes.SCHEMES)  # every scheme, in order
    assert by_name["bf16"] == dict(scheme="bf16", status="available", resolved="—")
    assert by_name["int8wo"]["status"] == "available"  # the seeds' baseline scheme resolves on the floor torchao
    for name, row in by_name.items():
        if name == "bf16":
            continue
        if row["status"] == "available":
            module_name, _, class_name = row["resolved"].rpartition(".")
            cls = getattr(importlib.import_module(module_name), class_name)
            assert _in_torchao(class_name) is cls, name  # a class torchao exports, not a stand-in
            config = schemes.SCHEMES[name].torchao_config()
            assert type(config) is cls
            if dataclasses.is_dataclass(config) and hasattr(config, "set_inductor_config"):
                assert config.set_inductor_config is False, name  # the suite owns inductor's settings
        else:
            assert row["status"] == "unavailable"
            prefix = f"not in torchao {torchao.__version__}: "
            assert row["resolved"].startswith(prefix), row
            if name != "autoquant":  # present or not, autoquant is not a quantize_ config (the test above)
                lacking = row["resolved"][len(prefix):].split(" / ")
                assert all(_in_torchao(spelling) is None for spelling in lacking), row
    # The settings each scheme's description promises, on the real config objects.
    if by_name["fp8dqrow"]["status"] == "available":
        assert all(isinstance(g, _in_torchao("PerRow")) for g in _granularities("fp8dqrow"))
        assert all(isinstance(g, _in_torchao("PerTensor")) for g in _granularities("fp8dq"))
    if by_name["int4wo"]["status"] == "available":
        assert schemes.SCHEMES["int4wo"].torchao_config().group_size == 128


def test_every_scheme_offered_is_a_real_choice_and_the_options_page_lists_them_all():
    # Static-activation schemes were stubs that always skipped (no calibration pass): not offered.
    assert not {"fp8static", "int8static"} & schemes.SCHEMES.keys()
    options = (Path(__file__).resolve().parents[1] / "docs" / "options.md").read_text()
    [row] = [line for line in options.splitlines() if line.startswith("| `--quant` |")]
    assert set(re.findall(r"`([^`]+)`", row.split("|")[3])) == set(schemes.SCHEMES)
