"""The results file's typed records (store/schema.py): round trips, the schema version, and every key a writer
puts in a results file declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffbench.store import results
from diffbench.store.schema import (SCHEMA_VERSION, FailureRecord, InterruptedRecord, ScenarioRecord, SchemaError,
                                    SessionRecord, SkipRecord)

ROOT = Path(__file__).resolve().parents[1]
VERSION_0 = ROOT / "baselines" / "nvidia-h200" / "relayer" / "after-1.json"  # written before schema_version


def test_a_scenario_record_round_trips_through_json():
    record = ScenarioRecord(scenario="flux-dev-bf16-eager-nofuse-bs1", model="flux-dev", fuse_qkv=False, batch=1,
                            inductor_flags={"max_autotune": False}, output_shape=[1, 64, 64, 3],
                            quality={"ssim": {"mean": 0.99, "min": 0.98}}, peak_reserved_gib=None)
    data = json.loads(json.dumps(record.to_json()))
    assert ScenarioRecord.from_json(data, strict=True) == record
    # optional keys written only with a value are left out; the others are written as null, as always
    assert "bare_step_s" not in data and "serialization" not in data and "parallel" not in data
    assert data["peak_reserved_gib"] is None and data["frames"] is None


def test_a_session_record_round_trips_through_json():
    session = SessionRecord(
        schema_version=SCHEMA_VERSION,
        failures=(FailureRecord("a", "t::test_latency[a]", "call", "OutOfMemoryError", "oom", 79.1, None),),
        skipped=(SkipRecord("b", "t::test_latency[b]", "setup", "fp8dqrow needs a CUDA device"),),
        serialization=[], quantization_cost=[], memory_cap_gib=None, command=["pytest", "benchmarks"],
        session_wall_s=1.5, interrupted=InterruptedRecord("c", "t::test_latency[c]", "call", 2.0))
    data = json.loads(json.dumps(session.to_json()))
    assert data["schema_version"] == SCHEMA_VERSION and "quality_controls" not in data
    assert data["failures"][0]["traceback"] is None
    assert SessionRecord.from_json(data, strict=True) == session


def test_an_undeclared_key_is_refused_when_strict():
    with pytest.raises(SchemaError, match="undeclared keys new_key"):
        ScenarioRecord.from_json({"scenario": "s", "new_key": 1}, strict=True)
    with pytest.raises(TypeError):  # a writer building the record with an undeclared key
        ScenarioRecord(scenario="s", new_key=1)


def test_a_version_0_file_is_still_read():
    data = json.loads(VERSION_0.read_text())
    assert "schema_version" not in data["diffbench"]
    read = results.load(VERSION_0)
    assert read.schema_version == 0 and read.measurements
    for m in read.measurements.values():
        assert m.record.to_json() == m.info  # every key of today's format is a declared field


def test_a_newer_schema_version_is_refused(tmp_path):
    data = json.loads(VERSION_0.read_text())
    data["diffbench"]["schema_version"] = SCHEMA_VERSION + 1
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(data))
    with pytest.raises(results.ResultsError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        results.load(path)
    data["diffbench"]["schema_version"] = SCHEMA_VERSION
    path.write_text(json.dumps(data))
    assert results.load(path).schema_version == SCHEMA_VERSION


@pytest.mark.slow
def test_every_key_a_cpu_run_writes_is_declared(suite):
    suite.runpytest_subprocess("benchmarks", "--models", "flux-dev", "--quant", "bf16", "--steps", "1",
                               "--rounds", "1", "--benchmark-json", "out.json")
    data = json.loads((suite.path / "out.json").read_text())
    assert data["benchmarks"] and data["diffbench"]["schema_version"] == SCHEMA_VERSION
    for bench in data["benchmarks"]:
        assert ScenarioRecord.undeclared(bench["extra_info"]) == []
    assert SessionRecord.undeclared(data["diffbench"]) == []
    session = SessionRecord.from_json(data["diffbench"], strict=True)  # its failures and skips too
    assert results.load(suite.path / "out.json").schema_version == SCHEMA_VERSION
    assert session.version == SCHEMA_VERSION
