"""Quantization cost: every path loads, quantizes and moves the denoiser, timed step by step, into the JSON."""

from __future__ import annotations

import json

from diffbench.store import merge, results
from diffbench.face import report
from diffbench.spec import quantize_paths

FIELDS = {"scenario", "model", "scheme", "weights", "path", "total_s", "peak_device_gib", "host_peak_rss_gib",
          "quantized_gib", "quantized_tensors"}


def test_each_path_is_timed_step_by_step(suite):
    result = suite.runpytest_subprocess("quantization", "--models", "flux-dev", "--quant", "bf16,int8wo,int2wo",
                                        "--benchmark-json", "out.json", "-rs")
    result.assert_outcomes(passed=4, skipped=8)
    result.stdout.fnmatch_lines(["*bf16 has nothing to quantize*", "*path 'cuda' needs a CUDA device*",
                                 "*path 'per-parameter' needs a CUDA device*"])
    data = json.loads((suite.path / "out.json").read_text())
    records = {r["scenario"]: r for r in data["diffbench"]["quantization_cost"]}
    assert set(records) == {f"flux-dev-{s}-quantize-{p}" for s in ("int8wo", "int2wo")
                            for p in ("cpu", "from_pretrained")}
    for record in records.values():
        assert FIELDS <= record.keys() and record["weights"] == "tiny"
        steps = quantize_paths.QUANTIZE_PATHS[record["path"]].steps
        assert record["total_s"] == sum(record[f"{step}_s"] for step in steps)
        assert record["quantized_tensors"] > 0 and record["peak_device_gib"] is None  # CPU: host peaks only
    cpu, loaded = records["flux-dev-int8wo-quantize-cpu"], records["flux-dev-int8wo-quantize-from_pretrained"]
    assert cpu["quantized_gib"] < cpu["bf16_gib"]
    assert loaded["quantized_gib"] == cpu["quantized_gib"]  # two ways to the same quantized denoiser
    text = report.render(results.load(suite.path / "out.json"), suite.path)
    assert "## Quantization cost" in text and "| flux-dev | int2wo | from_pretrained |" in text


def test_unknown_path_is_a_usage_error(suite):
    result = suite.runpytest_subprocess("quantization", "--quantize-paths", "gpu")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown quantization path 'gpu'; valid: all, cpu, cuda, per-parameter, "
                                 "from_pretrained*"])


def test_merged_runs_keep_every_scenarios_latest_record():
    earlier = [dict(scenario="a", total_s=1.0), dict(scenario="b", total_s=2.0)]
    later = [dict(scenario="b", total_s=3.0), dict(scenario="c", total_s=4.0)]
    assert merge._merged_section(earlier, later) == [dict(scenario="a", total_s=1.0), *later]
    assert merge._merged_section({"x": 1}, {"y": 2}) == {"x": 1, "y": 2}
