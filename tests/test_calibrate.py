"""`diffbench calibrate`: the proxy's quality gates derived from stored quality logs, as a CLI command (exit codes
0 written or up to date, 1 stale, 2 bad input)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from diffbench.face import cli
from diffbench.spec.gates import DEFAULT_THRESHOLDS

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "baselines" / "cpu" / "quality-calibration"


@pytest.fixture
def in_repository(monkeypatch):
    monkeypatch.chdir(ROOT)  # the committed calibration lists its inputs relative to the repository root


def test_write_then_check_round_trips_in_a_temporary_folder(in_repository, tmp_path, capsys):
    thresholds = tmp_path / "thresholds.toml"
    shutil.copy(DEFAULT_THRESHOLDS, thresholds)
    inputs = json.loads((COMMITTED / "calibration.json").read_text())["inputs"]
    args = ["calibrate", *inputs, "--out", str(tmp_path / "out"), "--thresholds", str(thresholds)]
    assert cli.main([*args, "--write"]) == cli.OK
    assert (tmp_path / "out" / "calibration.json").read_text() == (COMMITTED / "calibration.json").read_text()
    assert thresholds.read_text() == DEFAULT_THRESHOLDS.read_text()  # the committed block is what the runs give
    assert cli.main([*args, "--check"]) == cli.OK
    thresholds.write_text(thresholds.read_text().replace("# From ", "# from ", 1))  # inside the block
    capsys.readouterr()
    assert cli.main([*args, "--check"]) == cli.REGRESSION  # 1: stale
    assert "stale" in capsys.readouterr().err


def test_a_file_that_is_no_quality_log_is_a_usage_error(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(benchmarks=[])))
    assert cli.main(["calibrate", str(other), "--out", str(tmp_path)]) == cli.USAGE
    assert "neither a quality log" in capsys.readouterr().err


def test_without_inputs_it_needs_a_committed_calibration(tmp_path, capsys):
    assert cli.main(["calibrate", "--out", str(tmp_path)]) == cli.USAGE
    assert "no FILEs given" in capsys.readouterr().err
