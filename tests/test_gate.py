"""`diffbench gate HISTORY NEW`: a night against a rolling window of its own history, GPU work and host time each
judged on its own, suspected then confirmed, upgrades named, change points located, exit codes a workflow can
trust; and `diffbench compare`'s incomplete comparisons."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fake_results import noisy, write_results
from rich.console import Console

from diffbench.face import cli, gate, gate_view
from diffbench.store import results

BF16 = "flux-dev-bf16-regional-fuse-bs1"
FP8 = "flux-dev-fp8dqrow-regional-fuse-bs1"
KERNEL = {BF16: 3.75, FP8: 2.80}  # GPU work of a call (H100-like), seconds
HOST = {BF16: 0.14, FP8: 0.17}  # host time of a call


def night(folder, day: int, gpu=1.0, host=0.0, seed=None, torchao="0.18.0", scenarios=(BF16, FP8), name=None):
    """One night's results: each scenario's kernel rounds × `gpu` (±0.5% night to night), its wall time the kernel
    time plus its host time plus `host` × its wall time."""
    rng = np.random.default_rng(day if seed is None else seed)
    rounds, info = {}, {}
    for scenario in scenarios:
        kernel = KERNEL[scenario] * gpu * (1 + rng.normal(0, 0.005))
        wall = kernel + HOST[scenario] * (1 + rng.normal(0, 0.1)) + host * (KERNEL[scenario] + HOST[scenario])
        rounds[scenario] = noisy(wall, 0.003, rounds=5, seed=day * 7)
        info[scenario] = dict(gpu_kernel_rounds_s=noisy(kernel, 0.002, rounds=3, seed=day * 11), gpu_kernel_s=kernel,
                              steps=28, weights="synthetic")
    return write_results(folder / (name or f"night-{day:02d}.json"), rounds, info=info,
                         datetime=f"2026-12-{day:02d}T03:00:00+00:00", env=dict(torchao=torchao))


@pytest.fixture
def history(tmp_path):
    folder = tmp_path / "history"
    folder.mkdir()
    for day in range(1, 9):
        night(folder, day)
    return folder


def judge(history, new, *reruns):
    return gate.gate([history], results.load(new), [results.load(r) for r in reruns], allowances={})


def statuses(verdict) -> dict[str, str]:
    return {s.scenario: s.status for s in verdict.scenarios}


def test_a_same_code_night_passes(history, tmp_path):
    verdict = judge(history, night(tmp_path, 9))
    assert statuses(verdict) == {BF16: "ok", FP8: "ok"} and verdict.passed
    assert all(len(s.window) == 8 for s in verdict.scenarios)
    assert cli.main(["gate", str(history), str(night(tmp_path, 10, name="n10.json"))]) == 0


def test_ten_percent_more_gpu_work_is_suspected_and_named(history, tmp_path, capsys):
    verdict = judge(history, night(tmp_path, 9, gpu=1.10))
    assert statuses(verdict) == {BF16: "suspected", FP8: "suspected"}
    channels = {c.channel: c for c in verdict.scenarios[0].channels}
    assert channels["gpu-time"].status == "regression" and 0.08 < channels["gpu-time"].shift < 0.12
    assert channels["host-time"].status == "ok"  # GPU work added to the wall time is not host time
    flagged = tmp_path / "flagged.txt"
    assert cli.main(["gate", str(history), str(night(tmp_path, 9, gpu=1.10)), "--flagged", str(flagged)]) == 0
    assert flagged.read_text() == f"{BF16} or {FP8}"  # suspected: the workflow reruns these, then gates again
    assert f"SUSPECTED {BF16}: GPU work +" in capsys.readouterr().out


def test_host_time_added_to_a_gpu_bound_scenario_is_caught_on_its_own_channel(history, tmp_path):
    verdict = judge(history, night(tmp_path, 9, host=0.10))
    for s in verdict.scenarios:
        flagged = {c.channel: c.status for c in s.channels}
        assert flagged == {"gpu-time": "ok", "host-time": "regression"}, s.scenario


def test_a_suspected_night_is_confirmed_by_its_reruns_or_by_the_next_night(history, tmp_path):
    slow = night(tmp_path, 9, gpu=1.10)
    rerun_slow, rerun_clean = night(tmp_path, 9, gpu=1.10, seed=90, name="r1.json"), night(tmp_path, 9, seed=91,
                                                                                          name="r2.json")
    assert statuses(judge(history, slow, rerun_slow)) == {BF16: "confirmed", FP8: "confirmed"}
    assert statuses(judge(history, slow, rerun_clean)) == {BF16: "suspected", FP8: "suspected"}
    assert cli.main(["gate", str(history), str(slow), "--confirm", str(rerun_slow)]) == 1
    # no rerun: the night joins the history (it did not fail), and the next slow night confirms it
    assert cli.main(["gate", str(history), str(slow), "--append"]) == 0
    verdict = judge(history, night(tmp_path, 10, gpu=1.10))
    assert statuses(verdict) == {BF16: "confirmed", FP8: "confirmed"}
    assert "the night before was +" in verdict.scenarios[0].channels[0].why_confirmed


def test_a_bad_night_never_joins_the_history_on_its_own(history, tmp_path, capsys):
    slow, rerun = night(tmp_path, 9, gpu=1.2), night(tmp_path, 9, gpu=1.2, seed=5, name="rerun.json")
    before = sorted(p.name for p in history.iterdir())
    assert cli.main(["gate", str(history), str(slow), "--confirm", str(rerun), "--append"]) == 1
    assert sorted(p.name for p in history.iterdir()) == before
    assert "not added to the history (FAIL)" in capsys.readouterr().out
    assert cli.main(["gate", str(history), str(slow), "--confirm", str(rerun), "--accept"]) == 1
    assert len(list(history.iterdir())) == len(before) + 1  # a person's decision: the new level is the baseline
    assert cli.main(["gate", str(history), str(slow)]) == 3  # and a night already in the history is not judged
    assert "already in the history" in capsys.readouterr().out


def test_an_upgrade_night_is_judged_against_the_old_versions_and_named(history, tmp_path):
    verdict = judge(history, night(tmp_path, 9, gpu=1.15, torchao="0.19.0"))
    assert statuses(verdict) == {BF16: "suspected", FP8: "suspected"}
    assert verdict.scenarios[0].upgrades == ["torchao 0.18.0 → 0.19.0"]
    lines = [line for _, line in gate_view.detail_lines(verdict)]
    assert f"UPGRADE {BF16}: torchao 0.18.0 → 0.19.0 inside its window" in lines


def test_a_short_window_stands_on_the_measured_allowance(tmp_path):
    folder = tmp_path / "history"
    folder.mkdir()
    night(folder, 1)
    new = results.load(night(tmp_path, 2, gpu=1.03))
    verdict = gate.gate([folder], new, allowances={"gpu-time": 0.04, "host-time": 1.21})
    gpu = next(c for c in verdict.scenarios[0].channels if c.channel == "gpu-time")
    assert gpu.status == "ok" and gpu.bound == 0.04 and "measured run-to-run allowance" in gpu.spread
    assert gate.gate([folder], new, allowances={}).scenarios[0].status == "suspected"  # 2% alone: +3% flagged


def test_change_points_locate_a_shift_in_the_series(history, tmp_path):
    for day in range(9, 14):
        night(history, day, gpu=1.08)
    verdict = judge(history, night(tmp_path, 14, gpu=1.08))
    points = [p for p in verdict.scenarios[0].change_points if p.channel == "gpu-time"]
    assert len(points) == 1 and points[0].night.startswith("2026-12-09") and 0.06 < points[0].shift < 0.10


def test_without_apache_otava_the_gate_judges_the_window_and_says_what_change_points_need(history, tmp_path,
                                                                                         monkeypatch):
    for day in range(9, 14):
        night(history, day, gpu=1.08)
    monkeypatch.setattr(gate, "change_points_available", lambda: False)
    verdict = judge(history, night(tmp_path, 14, gpu=1.08))
    assert all(s.change_points == [] for s in verdict.scenarios)
    assert ("dim", f"NOTE: {gate.CHANGE_POINTS_NEED}") in gate_view.detail_lines(verdict)


def test_incomplete_nights_are_their_own_exit_status(history, tmp_path, capsys):
    only_bf16 = night(tmp_path, 9, scenarios=(BF16,))
    assert cli.main(["gate", str(history), str(only_bf16)]) == 3
    assert f"1 gated scenario(s) not measured in NEW: {FP8}" in capsys.readouterr().out
    empty = write_results(tmp_path / "empty.json", {}, datetime="2026-12-09T03:00:00+00:00")
    assert cli.main(["gate", str(history), str(empty)]) == 3
    assert cli.main(["gate", str(tmp_path / "nowhere"), str(empty)]) == 2
    assert cli.main(["gate", str(history), str(tmp_path / "missing.json")]) == 2


def test_the_verdict_as_markdown_and_json(history, tmp_path):
    markdown, data = tmp_path / "summary.md", tmp_path / "verdict.json"
    new = night(tmp_path, 9, gpu=1.10)
    assert cli.main(["gate", str(history), str(new), "--markdown", str(markdown), "--json", str(data)]) == 0
    assert "**OK: 2 suspected**" in markdown.read_text() and f"| `{BF16}` |" in markdown.read_text()
    verdict = json.loads(data.read_text())
    assert verdict["verdict"] == "ok" and {s["status"] for s in verdict["scenarios"]} == {"suspected"}
    assert cli.main(["gate", str(history), str(new), "--json", str(tmp_path / "no" / "such" / "dir.json")]) == 2


def test_the_table_stays_readable_at_100_columns(history, tmp_path):
    console = Console(width=100, record=True)
    gate_view.render(judge(history, night(tmp_path, 9, gpu=1.10)), console)
    text = console.export_text()
    rows = [line for line in text.splitlines() if BF16 in line or FP8 in line]
    assert all(re.search(r"\d\.\d{3}\s+\+\d+\.\d%", line) for line in rows[:2]), text  # whole numbers, one line


# ---------------------------------------------------------------------------- compare: judged nothing


def test_compare_fails_loud_when_nothing_or_not_everything_was_judged(tmp_path, capsys):
    base = night(tmp_path, 1)
    empty = write_results(tmp_path / "empty.json", {})
    disjoint = write_results(tmp_path / "other.json", {"flux-dev-bf16-eager-nofuse-bs1": noisy(5.3)})
    part = night(tmp_path, 2, scenarios=(BF16,))
    assert cli.main(["compare", str(base), str(empty)]) == 3
    assert "NEW measured no scenario" in capsys.readouterr().out
    assert cli.main(["compare", str(base), str(disjoint)]) == 3
    assert "no scenario in common" in capsys.readouterr().out
    assert cli.main(["compare", str(base), str(part)]) == 3
    assert f"1 of BASE's scenarios not measured in NEW ({FP8})" in capsys.readouterr().out
    assert cli.main(["compare", str(base), str(part), "--partial"]) == 0
    assert cli.main(["compare", str(base), str(base)]) == 3
    assert cli.main(["compare", str(base), str(part), "--partial", "--flagged", str(tmp_path / "no" / "f.txt")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_the_compare_table_stays_readable_at_100_columns(tmp_path):
    long = "wan2.1-t2v-1.3b-fp8dqrow-regional-nofuse-bs1"  # the longest id of the committed stores
    base = write_results(tmp_path / "b.json", {long: noisy(6.3)}, info={long: dict(gpu_kernel_s=6.0)})
    new = write_results(tmp_path / "n.json", {long: noisy(6.9, seed=3)}, info={long: dict(gpu_kernel_s=6.6)})
    console = Console(width=100, record=True)
    from diffbench.face.compare import compare, render

    render(compare(results.load(base), results.load(new)), console)
    rows = [line for line in console.export_text().splitlines() if long in line]
    assert rows and re.search(r"\d\.\d{3} \+\d+\.\d%\s+\+\d+\.\d%", rows[0]), console.export_text()


def test_compare_names_the_channel_and_writes_markdown(tmp_path):
    base, slow = night(tmp_path, 1), night(tmp_path, 2, gpu=1.10)
    summary = tmp_path / "summary.md"
    assert cli.main(["compare", str(base), str(slow), "--markdown", str(summary)]) == 1
    assert "**FAIL: 2 regression**" in summary.read_text() and "GPU work +" in summary.read_text()
