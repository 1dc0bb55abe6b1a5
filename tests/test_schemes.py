"""Scheme names resolve through the installed torchao, whatever its API generation."""

from __future__ import annotations

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


def test_installed_torchao_table_covers_every_scheme():
    rows = schemes.resolution_table()
    assert [r["scheme"] for r in rows] == list(schemes.SCHEMES)
    by_name = {r["scheme"]: r for r in rows}
    assert by_name["int8wo"]["status"] == "available"
    assert by_name["bf16"]["resolved"] == "—"


def test_every_scheme_offered_is_a_real_choice_and_the_readme_lists_them_all():
    # Static-activation schemes were stubs that always skipped (no calibration pass): not offered.
    assert not {"fp8static", "int8static"} & schemes.SCHEMES.keys()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    [row] = [line for line in readme.splitlines() if line.startswith("| `--quant` |")]
    assert set(re.findall(r"`([^`]+)`", row.split("|")[3])) == set(schemes.SCHEMES)
