"""`diffbench history`: runs → points → verdicts → series per (GPU kind, scenario, metric) → one HTML page."""

from __future__ import annotations

import json
import re

import pytest
from fake_results import H100, noisy, write_results

from diffbench.face import cli
from diffbench.face import history as h
from diffbench.face import history_page
from diffbench.face.compare import compare
from diffbench.face.tolerances import Tolerances
from diffbench.store import merge, results

H200 = "NVIDIA H200"
BF16 = "flux-dev-bf16-eager-nofuse-bs1"
FP8 = "flux-dev-fp8dqrow-regional-nofuse-bs1"
MEDIANS = {BF16: 5.3, FP8: 3.2}
QUIET = Tolerances(run_noise={}, process_noise={})  # the rules alone, no measured run-to-run allowance


def day(n: int) -> str:
    return f"2026-11-{n:02d}T08:00:00+00:00"


def run(tmp_path, name, when, *, gpu=H100, slower=1.0, seed=0, rounds=5, torch="2.11.0", info=None, env=None,
        **kwargs):
    """A run of the MEDIANS scenarios (FP8 `slower` times), `rounds` rounds ±0.5% each, dated `when`."""
    times = {s: noisy(m * (slower if s == FP8 else 1.0), 0.005, rounds, seed=seed + i)
             for i, (s, m) in enumerate(MEDIANS.items())}
    return write_results(tmp_path / f"{name}.json", times, gpu=gpu, datetime=when, env={"torch": torch, **(env or {})},
                         info=info, **kwargs)


def build(*paths, tolerances=QUIET) -> h.History:
    return h.history(list(paths), tolerances)


def by_key(page: h.History) -> dict[tuple[str, str, str], h.Series]:
    return {(s.kind, s.scenario, s.metric.key): s for s in page.series}


def test_gpu_kind_is_the_machine_slug_of_the_baseline_store():
    """The page groups runs by their store folder, the name the suite gives the GPU it ran on."""
    from diffbench.store.layout import slug

    for gpu in (H100, H200, "NVIDIA RTX 6000 Ada Generation", "Tesla V100-SXM2-16GB"):
        assert h.gpu_kind(gpu) == slug(gpu)
    assert (h.gpu_kind(H100), h.gpu_kind(H200), h.gpu_kind(None)) == ("nvidia-h100-80gb-hbm3", "nvidia-h200", "cpu")


def test_series_per_gpu_kind_scenario_and_metric(tmp_path):
    """Latency, peak memory and first call for every measured scenario; SSIM only where a run recorded it. The
    same scenario on two GPU kinds is two timelines."""
    quality = {BF16: {"quality": {"ssim": {"mean": 0.998, "min": 0.99}}}}
    run(tmp_path, "h100-a", day(1), info=quality)
    run(tmp_path, "h100-b", day(2), seed=10)
    run(tmp_path, "h200-a", day(3), gpu=H200, seed=20)
    page = build(tmp_path)
    series = by_key(page)
    assert len(page.series) == 2 * 3 + 1 + 2 * 3  # H100: 2 scenarios x 3 metrics + BF16's SSIM; H200: 2 x 3
    assert page.kinds == ["nvidia-h100-80gb-hbm3", "nvidia-h200"]
    assert [len(s.points) for s in series.values() if s.kind == "nvidia-h100-80gb-hbm3" and s.metric.key != "ssim"] \
        == [2] * 6
    ssim = series["nvidia-h100-80gb-hbm3", BF16, "ssim"]
    assert ssim.values == [0.998] and ssim.points[0].run.path.name == "h100-a.json"
    assert {s.kind for s in page.series if s.scenario == FP8} == {"nvidia-h100-80gb-hbm3", "nvidia-h200"}
    assert len(page.runs) == 3 and [r.kind for r in page.runs] == ["nvidia-h100-80gb-hbm3"] * 2 + ["nvidia-h200"]
    # The H200 run is the first of its timeline, not judged against the H100 ones.
    assert all(p.verdict is None for p in page.points if p.run.kind == "nvidia-h200")


def test_a_thirty_percent_slowdown_is_marked_a_regression_as_compare_says(tmp_path):
    """FP8 30% slower in the third run, with 5 rounds a run: compare's verdict between the consecutive runs is a
    regression, and the page's point carries that same row (status and notes); BF16 stays ok."""
    run(tmp_path, "a", day(1))
    second = run(tmp_path, "b", day(2), seed=10)
    third = run(tmp_path, "c", day(3), seed=20, slower=1.3)
    page = build(tmp_path)
    verdicts = {(p.scenario, p.run.path.name): p.verdict for p in page.points}
    assert verdicts[FP8, "a.json"] is None and verdicts[FP8, "b.json"].status == "ok"
    assert verdicts[FP8, "c.json"].status == "regression" and verdicts[BF16, "c.json"].status == "ok"
    row = {r.scenario: r for r in compare(results.load(second), results.load(third), QUIET).rows}[FP8]
    assert verdicts[FP8, "c.json"] == h.Verdict(row.status, tuple(row.notes), previous="b.json")
    assert "latency +30" in row.notes[0]


def test_too_few_rounds_are_inconclusive_as_in_compare(tmp_path):
    run(tmp_path, "a", day(1), rounds=2)
    run(tmp_path, "b", day(2), seed=10, rounds=2, slower=1.3)
    page = build(tmp_path)
    assert {p.scenario: p.verdict.status for p in page.points if p.verdict} == {BF16: "inconclusive",
                                                                                 FP8: "inconclusive"}


def test_other_steps_are_another_line_not_a_verdict(tmp_path):
    """A 4-step run is not a faster 28-step one: each step count of a scenario is its own series, named so."""
    run(tmp_path, "a", day(1), info={FP8: {"steps": 28}})
    run(tmp_path, "b", day(2), seed=10, info={FP8: {"steps": 4}})
    page = build(tmp_path)
    assert not [p for p in page.points if p.scenario == FP8 and p.verdict]
    names = {s.name for s in page.series if s.scenario == FP8 and s.metric.key == "latency"}
    assert names == {f"{FP8} (28 steps, synthetic weights)", f"{FP8} (4 steps, synthetic weights)"}
    assert {s.name for s in page.series if s.scenario == BF16} == {BF16}  # one setting: the plain name


def test_runs_compare_refuses_are_marked_not_compared(tmp_path):
    """Another CPU model under one timeline: compare refuses the pair, and the page says so instead of judging."""
    run(tmp_path, "a", day(1), gpu=None, env={"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": 2})
    run(tmp_path, "b", day(2), gpu=None, seed=10, env={"cpu": "AMD EPYC 9654 96-Core Processor", "cpu_count": 192})
    verdict = {p.scenario: p.verdict for p in build(tmp_path).points if p.verdict}[FP8]
    assert verdict.status == "not compared" and "EPYC" in verdict.notes[0]
    assert "--allow-mismatch" not in verdict.notes[0] and verdict.notes[0].startswith("a.json and b.json are not")


def test_a_torch_upgrade_is_annotated_where_it_happens(tmp_path):
    run(tmp_path, "a", day(1))
    run(tmp_path, "b", day(2), seed=10)
    run(tmp_path, "c", day(3), seed=20, torch="2.12.1")
    run(tmp_path, "other-gpu", day(4), gpu=H200, seed=30, torch="2.13.0")  # its own kind: no upgrade across kinds
    page = build(tmp_path)
    assert page.upgrades == (h.Upgrade("nvidia-h100-80gb-hbm3", h.parse_when(day(3)),
                                       ("torch 2.11.0 → 2.12.1",)),)
    series, upgrades, _ = page.of_kind("nvidia-h100-80gb-hbm3")
    series = [s for s in series if s.scenario == BF16]  # one scenario's figure
    fig = history_page.figure(series, upgrades)
    assert [a.text for a in fig.layout.annotations if "torch" in a.text] == ["torch 2.11.0 → 2.12.1"]
    assert [s.line.dash for s in fig.layout.shapes] == ["dash"]
    assert len(fig.data) == len(series)  # the marks are shapes and annotations, never extra traces


def test_a_merged_store_is_split_into_its_runs_and_counted_once(tmp_path):
    """A store made by `diffbench merge` holds its runs' benchmarks: each is placed at its own run's date with its
    own versions, and a run given both on its own and inside the store is one run."""
    runs = tmp_path / "runs"
    runs.mkdir()
    a = run(runs, "a", day(1))  # BF16 and FP8
    b = write_results(runs / "b.json", {FP8: noisy(3.2, 0.005, seed=10)}, datetime=day(2), env={"torch": "2.12.1"})
    merge.write(merge.merge_files([a, b]), tmp_path / "store.json")  # BF16 from a, FP8 from b
    alone = build(tmp_path / "store.json")
    assert [(r.when, r.versions["torch"]) for r in alone.runs] == [(h.parse_when(day(1)), "2.11.0"),
                                                                    (h.parse_when(day(2)), "2.12.1")]
    assert [u.changes for u in alone.upgrades] == [("torch 2.11.0 → 2.12.1",)]
    both = build(tmp_path)
    assert len(both.runs) == 2 and len(both.points) == 3 and len(both.series) == 6
    assert {p.run.path.parent.name for p in both.points} == {"runs"}  # the runs' own files win
    fp8 = by_key(both)["nvidia-h100-80gb-hbm3", FP8, "latency"]
    assert [p.run.path.name for p in fp8.points] == ["a.json", "b.json"] and fp8.points[1].verdict.status == "ok"


def test_other_files_are_ignored_and_a_corrupt_run_is_skipped_by_name(tmp_path, capsys):
    run(tmp_path, "a", day(1))
    run(tmp_path, "b", day(2), seed=10)
    (tmp_path / "README.md").write_text("# runs\n")
    (tmp_path / "grid.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "references.json").write_text(json.dumps({"scenario": BF16, "images": []}))  # not a run
    (tmp_path / "broken.json").write_text('{"machine_info": {}, "benchmarks": [')  # a run cut short
    out = tmp_path / "page" / "history.html"
    assert cli.main(["history", str(tmp_path), "-o", str(out)]) == cli.OK
    captured = capsys.readouterr()
    assert re.search(r"skipped \S*broken\.json: not valid JSON", captured.err)
    assert "references.json" not in captured.err and "README" not in captured.err
    assert "wrote" in captured.out and "2 runs from 2 results files, 6 series" in captured.out
    assert "broken.json" in out.read_text()  # named on the page too


def test_the_page_is_one_offline_html_file(tmp_path):
    """plotly.js is embedded once (the page opens without a network) and every GPU kind has its graph div and its
    scenario picker."""
    run(tmp_path, "a", day(1))
    run(tmp_path, "b", day(2), gpu=H200, seed=10)
    out = tmp_path / "history.html"
    page = history_page.write([tmp_path], out)
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("plotly.js v") == 1
    assert not re.search(r"<script[^>]+src=", text)
    assert [f"id='history-{kind}'" in text and f"id='pick-{kind}'" in text for kind in page.kinds] == [True, True]


def test_the_page_says_what_the_latest_night_changed(tmp_path):
    """The gate's verdict on each kind's latest run against the runs before it, flagged scenarios first."""
    for i in range(1, 6):
        run(tmp_path, f"n{i}", day(i), seed=10 * i)
    slow = write_results(tmp_path / "slow.json", {BF16: noisy(5.3, 0.005, seed=90), FP8: noisy(3.2 * 1.3, 0.005,
                                                                                             seed=91)}, datetime=day(6))
    page = h.history([tmp_path])
    verdict = history_page.latest_night(page, "nvidia-h100-80gb-hbm3")
    assert verdict.new.path == slow and {s.scenario: s.status for s in verdict.scenarios}[FP8] == "suspected"
    series = page.of_kind("nvidia-h100-80gb-hbm3")[0]
    assert history_page._order(series, verdict)[0] == FP8
    html_text = history_page.render(page, [tmp_path])
    assert f"SUSPECTED {FP8}: latency +3" in html_text and "Latest night: 2026-" in html_text


@pytest.mark.parametrize("contents", ["nothing", "no results"])
def test_a_folder_without_runs_is_an_error(tmp_path, capsys, contents):
    folder = tmp_path / "runs"
    folder.mkdir()
    if contents == "no results":
        (folder / "README.md").write_text("no runs yet\n")
        (folder / "calibration.json").write_text("{}")
    assert cli.main(["history", str(folder), "-o", str(tmp_path / "out.html")]) == cli.USAGE
    assert f"{folder}: no pytest-benchmark results files" in capsys.readouterr().err
    assert not (tmp_path / "out.html").exists()


def test_every_path_must_hold_runs(tmp_path, capsys):
    """A second path without runs (a typo, an empty folder) is an error too, not silently a shorter history."""
    run(tmp_path, "a", day(1))
    empty, missing = tmp_path / "empty", tmp_path / "missing"
    empty.mkdir()
    assert cli.main(["history", str(tmp_path / "a.json"), str(empty), "-o", str(tmp_path / "o.html")]) == cli.USAGE
    assert f"{empty}: no pytest-benchmark results files" in capsys.readouterr().err
    assert cli.main(["history", str(missing), "-o", str(tmp_path / "o.html")]) == cli.USAGE
    assert f"{missing}: no such file or folder" in capsys.readouterr().err


def test_a_folder_of_only_corrupt_runs_is_an_error_naming_them(tmp_path, capsys):
    (tmp_path / "cut.json").write_text('{"benchmarks": [')
    assert cli.main(["history", str(tmp_path), "-o", str(tmp_path / "o.html")]) == cli.USAGE
    assert "cut.json: not valid JSON" in capsys.readouterr().err


def test_runs_without_a_measured_scenario_are_an_error(tmp_path, capsys):
    write_results(tmp_path / "failed.json", {}, failures=[{"scenario": FP8, "error_type": "OutOfMemoryError"}])
    assert cli.main(["history", str(tmp_path), "-o", str(tmp_path / "o.html")]) == cli.USAGE
    assert "no measured scenario in the 1 results files" in capsys.readouterr().err


def test_out_is_required(tmp_path, capsys):
    assert cli.main(["history", str(tmp_path)]) == cli.USAGE
    assert "-o/--out" in capsys.readouterr().err
