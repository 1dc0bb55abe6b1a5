"""`diffbench merge`: several runs of one GPU and weights source into one pytest-benchmark results file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_results import noisy, write_results

from diffbench.face import cli, report
from diffbench.store import merge, results

A_ONLY, BOTH, FIXED, SKIPPED = ("flux-dev-bf16-eager-nofuse-bs1", "flux-dev-fp8dqrow-eager-nofuse-bs1",
                                "flux-dev-int8wo-eager-nofuse-bs1", "flux-dev-nvfp4-eager-nofuse-bs1")
B_ONLY = "flux-dev-fp8dqrow-regional-nofuse-bs1"
OLD, NEW = "2026-11-23T07:05:34+00:00", "2026-11-24T09:00:00+00:00"


@pytest.fixture
def runs(tmp_path) -> tuple[Path, Path]:
    a = write_results(
        tmp_path / "a.json", {A_ONLY: noisy(5.0), BOTH: noisy(9.0, seed=1)},
        failures=[dict(scenario=FIXED, nodeid=f"benchmarks/test_pipelines.py::test_latency[{FIXED}]",
                       error_type="OutOfMemoryError", message="oom")],
        skipped=[dict(scenario=SKIPPED, reason="nvfp4 needs SM 10.0+")],
        datetime=OLD, env=dict(diffbench_git="aaaaaaa", diffusers="0.42.1"))
    b = write_results(tmp_path / "b.json", {BOTH: noisy(3.0, seed=2), FIXED: noisy(4.0, seed=3),
                                            B_ONLY: noisy(3.1, seed=4)},
                      datetime=NEW, env=dict(diffbench_git="bbbbbbb", diffusers="0.43.0"))
    return a, b


def test_later_file_wins_and_failures_are_superseded(runs, tmp_path, capsys):
    a, b = runs
    out = tmp_path / "baselines" / "nvidia-h100-80gb-hbm3" / "flux-dev.json"
    assert cli.main(["merge", str(a), str(b), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{BOTH}: b.json ({NEW}) replaces a.json ({OLD})" in err
    assert f"{FIXED}: earlier failure (OutOfMemoryError) dropped, measured in b.json" in err
    assert "diffusers differs between the runs: 0.42.1 (a.json); 0.43.0 (b.json)" in err

    merged = results.load(out)
    assert list(merged.measurements) == [A_ONLY, BOTH, FIXED, B_ONLY]
    assert merged.measurements[BOTH].median == pytest.approx(3.0, rel=0.03)  # b's, not a's 9 s
    assert merged.measurements[A_ONLY].get("source_file") == "a.json"
    assert merged.measurements[BOTH].get("source_file") == "b.json"
    assert merged.failures == {} and merged.skipped == {SKIPPED: "nvfp4 needs SM 10.0+"}
    assert merged.datetime == NEW and merged.env["diffbench_git"] == "bbbbbbb"  # the newest file's environment
    assert merged.sources == [
        dict(file="a.json", datetime=OLD, diffbench_git="aaaaaaa", torch="2.11.0", torchao="0.18.0",
             diffusers="0.42.1", gpu="NVIDIA H100 80GB HBM3", weights="synthetic"),
        dict(file="b.json", datetime=NEW, diffbench_git="bbbbbbb", torch="2.11.0", torchao="0.18.0",
             diffusers="0.43.0", gpu="NVIDIA H100 80GB HBM3", weights="synthetic"),
    ]
    data = json.loads(out.read_text())
    assert list(data)[:5] == ["machine_info", "commit_info", "benchmarks", "datetime", "version"]


def test_order_given_decides_and_newest_environment_is_kept(runs, tmp_path):
    a, b = runs
    merged = merge.merge_files([b, a])  # a given last: its 9 s wins, though b is newer
    loaded = results.parse(merged.data, tmp_path / "merged")
    assert loaded.measurements[BOTH].median == pytest.approx(9.0, rel=0.03)
    assert loaded.datetime == NEW  # machine_info etc. from the newest file whatever the order
    assert FIXED in loaded.failures  # a's failure came after b's measurement: kept


def test_merging_a_merged_file_keeps_the_original_sources(runs, tmp_path):
    a, b = runs
    first = tmp_path / "first.json"
    assert cli.main(["merge", str(a), "--out", str(first)]) == 0
    c = write_results(tmp_path / "c.json", {A_ONLY: noisy(5.5)}, datetime="2026-11-25T00:00:00+00:00")
    again = tmp_path / "again.json"
    assert cli.main(["merge", str(first), str(b), str(c), "--out", str(again)]) == 0
    merged = results.load(again)
    assert [s["file"] for s in merged.sources] == ["a.json", "b.json", "c.json"]
    assert merged.measurements[A_ONLY].get("source_file") == "c.json"
    assert merged.measurements[B_ONLY].get("source_file") == "b.json"


def test_each_session_keeps_its_own_wall_time_command_and_stop(tmp_path):
    """A later run's wall time or command is not the store's, nor is an earlier run's stop one that a later run
    measured: the merged file keeps them per source, and its report names only the stop whose scenario is lost."""
    stop = dict(scenario=BOTH, nodeid=f"benchmarks/test_pipelines.py::test_latency[{BOTH}]", phase="call",
                elapsed_s=54.2)
    a = write_results(tmp_path / "a.json", {A_ONLY: noisy(5.0)}, datetime=OLD,
                      session=dict(command=["pytest", "-k", "a"], session_wall_s=498.0, interrupted=stop))
    b = write_results(tmp_path / "b.json", {B_ONLY: noisy(3.0)}, datetime=NEW,
                      session=dict(command=["pytest", "-k", "b"], session_wall_s=180.0, memory_cap_gib=40.0))
    merged = merge.merge_files([a, b]).data
    assert not set(merge.SESSION_KEYS) & set(merged["diffbench"])
    sources = merged["machine_info"]["diffbench"]["sources"]
    assert [(s["command"], s["session_wall_s"], s.get("interrupted")) for s in sources] == [
        (["pytest", "-k", "a"], 498.0, stop), (["pytest", "-k", "b"], 180.0, None)]
    assert sources[1]["memory_cap_gib"] == 40.0
    lost = results.parse(merged, tmp_path / "merged")
    assert lost.interrupted is None and lost.stops == [(stop, "a.json")]
    assert "- `flux-dev-fp8dqrow-eager-nofuse-bs1`: the session of `a.json` was stopped in it (phase call, after " \
           "54.2 s)" in report.render(lost, tmp_path)

    again = write_results(tmp_path / "again.json", {BOTH: noisy(9.0)}, datetime=NEW)  # the lost scenario, measured
    remeasured = results.parse(merge.merge_files([a, b, again]).data, tmp_path / "merged")
    assert remeasured.stops == [] and "## Interrupted" not in report.render(remeasured, tmp_path)
    single = results.load(a)  # one run: its own record, as written
    assert single.stops == [(stop, None)]


def test_a_quality_failure_needs_quality_metrics_to_be_superseded(tmp_path):
    quality_failure = dict(scenario=BOTH, nodeid=f"quality/test_quality.py::test_quality[{BOTH}]",
                           error_type="ReferenceWritten", message="reference written")
    a = write_results(tmp_path / "a.json", {A_ONLY: noisy(5.0)}, failures=[quality_failure])
    plain = write_results(tmp_path / "plain.json", {BOTH: noisy(3.0)})
    graded = write_results(tmp_path / "graded.json", {BOTH: noisy(3.0)},
                           info={BOTH: {"quality": {"ssim": {"mean": 0.99, "min": 0.98}}}})
    assert BOTH in results.parse(merge.merge_files([a, plain]).data, tmp_path).failures
    assert BOTH not in results.parse(merge.merge_files([a, graded]).data, tmp_path).failures


def test_a_gpu_or_weights_mismatch_is_refused(runs, tmp_path, capsys):
    a, _ = runs
    a100 = write_results(tmp_path / "a100.json", {B_ONLY: noisy(4.0)}, gpu="NVIDIA A100-SXM4-80GB")
    out = tmp_path / "out.json"
    assert cli.main(["merge", str(a), str(a100), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "NVIDIA A100-SXM4-80GB" in err and "--allow-mismatch" in err
    assert not out.exists()
    real = write_results(tmp_path / "real.json", {B_ONLY: noisy(4.0)}, weights="black-forest-labs/FLUX.1-dev")
    assert cli.main(["merge", str(a), str(real), "--out", str(out)]) == 2
    assert cli.main(["merge", str(a), str(a100), "--out", str(out), "--allow-mismatch"]) == 0
    assert "merging across setups: gpu" in capsys.readouterr().err
    assert len(results.load(out).measurements) == 3


def test_a_file_that_is_not_a_results_file_is_refused(runs, tmp_path, capsys):
    a, _ = runs
    quality_log = tmp_path / "flux-dev-regional-quality.json"
    quality_log.write_text(json.dumps({"results": []}))
    assert cli.main(["merge", str(a), str(quality_log), "--out", str(tmp_path / "out.json")]) == 2
    assert "flux-dev-regional-quality.json: not a pytest-benchmark results file" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_pytest_benchmark_compare_reads_the_merged_file(runs, tmp_path):
    a, b = runs
    out = tmp_path / "merged.json"
    assert cli.main(["merge", str(a), str(b), "--out", str(out)]) == 0
    done = subprocess.run([sys.executable, "-c", "from pytest_benchmark.cli import main; main()", "compare",
                           str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"test_latency[{B_ONLY}]" in done.stdout


def test_models_cuts_a_run_of_several_models_to_the_store_file_of_one(tmp_path, capsys):
    """`--selection store` spans every model; the store holds a file per model."""
    run = write_results(tmp_path / "store-run.json",
                        {"flux-dev-bf16-eager-fuse-bs1": noisy(5.0),
                         "flux-schnell-bf16-regional-nofuse-bs1": noisy(0.6), "sdxl-bf16-eager-nofuse-bs1": noisy(2.3)},
                        failures=[dict(scenario="flux-schnell-fp8dqrow-regional-nofuse-bs1", error_type="OOM"),
                                  dict(scenario="flux-dev-fp8dqrow-eager-fuse-bs1", error_type="OOM")])
    out = tmp_path / "flux-dev.json"
    assert cli.main(["merge", str(run), "--models", "flux-dev", "--out", str(out)]) == 0
    kept = results.load(out)
    assert set(kept.measurements) == {"flux-dev-bf16-eager-fuse-bs1"}  # not flux-schnell's
    assert set(kept.failures) == {"flux-dev-fp8dqrow-eager-fuse-bs1"}
    assert cli.main(["merge", str(run), "--models", "flux", "--out", str(out)]) == 2  # not a model: refused
    assert "unknown model(s) flux" in capsys.readouterr().err


def test_a_run_cut_into_model_files_is_one_source_when_they_are_merged_again(tmp_path):
    """The store's model files of one `--selection store` run, merged for a report, name that run once."""
    run = write_results(tmp_path / "store-run.json",
                        {"flux-schnell-bf16-regional-nofuse-bs1": noisy(0.6), "sdxl-bf16-eager-nofuse-bs1": noisy(2.3)},
                        session=dict(session_wall_s=868.0))
    other = write_results(tmp_path / "other.json", {"flux-dev-bf16-eager-fuse-bs1": noisy(5.0)}, datetime=NEW)
    cuts = []
    for model in ("flux-schnell", "sdxl"):
        cuts.append(tmp_path / f"{model}.json")
        assert cli.main(["merge", str(run), "--models", model, "--out", str(cuts[-1])]) == 0
    merged = results.parse(merge.merge_files([*cuts, other]).data, tmp_path / "merged")
    assert [(s["file"], s.get("session_wall_s")) for s in merged.sources] == [("store-run.json", 868.0),
                                                                              ("other.json", None)]
    assert "Merged from 2 run files" in report.render(merged, tmp_path)
