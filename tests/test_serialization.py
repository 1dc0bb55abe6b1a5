"""Serialization round trip: quantized denoisers saved with safetensors reload to the same outputs."""

from __future__ import annotations

import json


def test_round_trip_per_scheme(suite):
    result = suite.runpytest_subprocess("serialization", "benchmarks", "--models", "flux-dev", "--quant",
                                        "bf16,int8wo,int8dq", "--steps", "2", "--rounds", "1",
                                        "--benchmark-json", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=6)
    data = json.loads((suite.path / "out.json").read_text())
    trips = {r["scenario"].split("-")[2]: r for r in data["diffbench"]["serialization"]}
    assert set(trips) == {"bf16", "int8wo", "int8dq"}
    assert all(r["pixel_diff_max"] == 0 and r["load_s"] > 0 for r in trips.values())
    assert trips["int8wo"]["file_bytes"] < 0.8 * trips["bf16"]["file_bytes"]  # int8 weights are saved as int8
    assert all("serialization" in b["extra_info"] for b in data["benchmarks"])


def test_tolerance_is_data(suite):
    (suite.path / "strict.toml").write_text("[default]\nssim_min = 0.9\n[serialization]\npixel_diff_max = -1\n")
    result = suite.runpytest_subprocess("serialization", "--models", "flux-dev", "--quant", "int8wo",
                                        "--steps", "2", "--thresholds", "strict.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*differ by up to 0/255, tolerance -1.0 (strict.toml)*"])
