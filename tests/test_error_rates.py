"""The verdicts' measured error rates hold on the committed runs (`diffbench error-rates`, face/error_rates.py and
face/gpu_error_rates.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from diffbench.face import error_rates

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # the measurement over every committed rerun takes minutes on a 2-core CPU


@pytest.fixture(scope="module")
def report():
    here = Path.cwd()
    os.chdir(ROOT)  # the command reads ./baselines, as run from the repository's root
    try:
        return error_rates.measure_all(trials=1000, seed=1)
    finally:
        os.chdir(here)


CPU_SESSIONS = ["cpu-1", "cpu-2", "cpu-3"]
H200 = "nvidia-h200"
H100 = "nvidia-h100-80gb-hbm3"


@pytest.mark.parametrize("label", CPU_SESSIONS)
def test_reruns_of_the_same_code_are_not_regressions(report, label):
    rates = report["sets"][label]
    real = rates["real_false_alarms"]
    assert real["pairs_with_a_regression"] * 30 <= real["pairs"], real["alarms"]  # at most 1 in 30
    assert rates["simulated"]["0%"]["regression"] <= 1 / 30


# The nightly gate on the population it sees: every committed clean GPU run of a kind is a night.

def test_the_gate_window_spans_nights_of_two_days_or_more(report):
    gated = report["gpu"][H200]["gated"]
    assert len(gated) == 4 and all(g["nights"] >= 6 and len(g["days"]) >= 2 for g in gated)


def test_same_code_nights_rarely_fail_the_gate(report):
    """At most 1 false alarm in 30 same-code nights: a confirmed regression (the night and its confirm rerun)."""
    night = report["gpu"][H200]["simulated_per_night"]
    assert night["clean_confirmed"] <= 1 / 30
    real = report["gpu"][H200]["real_nights"]
    assert real["nights"] >= 10 and real["confirmed"] * 30 <= real["nights"]


def test_ten_percent_more_gpu_work_is_caught(report):
    for scenario, rates in report["gpu"][H200]["simulated"].items():
        assert rates["gpu_10pct_caught"] >= 0.95, scenario


def test_ten_percent_more_host_time_is_caught_in_gpu_bound_scenarios(report):
    rates = report["gpu"][H200]
    bound = [s for s in rates["simulated"] if rates["busy"][s] >= error_rates.BUSY_GPU_BOUND]
    assert len(bound) == 3  # bf16 eager and regional, fp8dqrow regional (eager fp8dqrow is host-bound)
    assert all(rates["simulated"][s]["host_10pct_caught"] >= 0.90 for s in bound), rates["simulated"]


def test_five_percent_more_gpu_work_is_confirmed_within_two_nights(report):
    for scenario, rates in report["gpu"][H200]["simulated"].items():
        assert rates["gpu_5pct_confirmed_within_2_nights"] >= 0.90, scenario


def test_the_real_injected_slowdowns_on_the_h100_are_caught_on_their_channel(report):
    injected = report["gpu"][H100]["injected"]
    assert {(i["where"], i["caught"]) for i in injected} == {("gpu", True), ("host", True)}
    for i in injected:
        shifts = i["shifts"]
        moved, still = ("gpu-time", "host-time") if i["where"] == "gpu" else ("host-time", "gpu-time")
        assert shifts[moved] > 0.08 and abs(shifts[still]) < 0.03, i


def test_every_pair_of_same_code_committed_runs_compares_without_a_regression(report):
    for kind, rates in report["gpu"].items():
        pairs = rates["same_code_file_pairs"]
        assert pairs["pairs"] > 100 and pairs["regressions"] == [], kind


@pytest.mark.parametrize("label", CPU_SESSIONS)
@pytest.mark.xfail(strict=True, reason="not met with one process per side: the CPU's process factor (sd 0.123 "
                   "of the log median, pooled) makes its allowance 48%, so a 30% slowdown is caught in 7 of 48, 21 "
                   "of 216 and 49 of 512 real pairs in sessions 1, 2 and 3 (baselines/error-rates.md)")
def test_a_thirty_percent_slowdown_is_caught_under_cpu_noise_with_one_run_a_side(report, label):
    cpu = report["sets"][label]
    assert cpu["simulated"]["30%"]["regression"] >= 0.95
    detections = cpu["real_detections"]
    assert detections["caught"] >= 0.95 * detections["cases"], detections["details"]


def test_the_committed_allowances_are_the_measured_ones(report):
    from diffbench.face.tolerances import load_process_noise, load_run_noise

    assert load_run_noise() == {kind: c["allowance"] for kind, c in report["classes"].items()}
    assert {kind: (n.sd, n.df) for kind, n in load_process_noise().items()} == {
        kind: (c["process_sd"], c["process_df"]) for kind, c in report["classes"].items() if c["process_sd"]}


def test_the_cpu_class_has_a_process_sd(report):
    cpu = report["classes"]["cpu"]
    # 8, 12 and 16 clean reruns of 2 CPU scenarios, each session its own centre
    assert cpu["process_sd"] > 0 and cpu["process_df"] == (8 - 1) * 2 + (12 - 1) * 2 + (16 - 1) * 2


def test_each_cpu_session_has_its_own_process_sd_and_session_2_is_the_noisiest(report):
    own = {label: report["sets"][label]["session_process_sd"] for label in CPU_SESSIONS}
    assert all(sd > 0 for sd in own.values()) and max(own, key=own.get) == "cpu-2", own


def test_the_cpu_sessions_moved_as_a_whole(report):
    """Why estimates stay within a session: the second and third CPU sessions ran every scenario about a third
    faster than the first."""
    for later in ("cpu-2", "cpu-3"):
        centres = report["classes"]["cpu"]["session_centres"][later]
        assert all(0.6 < ratio < 0.75 for ratio in centres.values()), centres


# Several processes per side (diffbench compare --base-also/--new-also, the between-process rule).

def processes(report, label: str, k: int) -> dict:
    return report["sets"][label]["processes"][str(k)]


@pytest.mark.parametrize("label", CPU_SESSIONS)
@pytest.mark.parametrize("k", [3, 5, 8])
def test_several_cpu_processes_of_the_same_code_are_rarely_regressions(report, label, k):
    estimate = processes(report, label, k)
    assert estimate["simulated"]["0%"]["regression"] <= 1 / 30
    real = estimate["real_false_alarms"]
    if "missing" not in real:
        assert real["pairs_with_a_regression"] * 30 <= real["pairs"], real["alarms"][:5]


def test_a_thirty_percent_slowdown_is_caught_in_real_cpu_runs_with_3_processes_in_session_1(report):
    """Each 3 clean CPU reruns of session 1 as BASE against its 3 runs 30% slower as NEW."""
    detections = processes(report, "cpu-1", 3)["real_detections"]
    assert detections["cases"] >= 100 and detections["caught"] >= 0.9 * detections["cases"]


def test_a_thirty_percent_slowdown_is_caught_with_10_processes_a_side(report):
    """The CPU gate's protocol: 10 processes a side, made in one session. Session 3 (16 clean, 16 slowed runs) has
    the real pairs for it; sessions 1 and 3 meet the simulated target with 10 or fewer."""
    for label in ("cpu-1", "cpu-3"):
        assert report["sets"][label]["processes_needed"] <= 10, label
    for k in (8, 10):
        real = processes(report, "cpu-3", k)["real_detections"]
        assert real["cases"] >= 1000 and real["caught"] >= 0.95 * real["cases"], k
    assert processes(report, "cpu-3", 10)["simulated"]["30%"]["regression"] >= 0.95
    false_alarms = processes(report, "cpu-3", 8)["real_false_alarms"]
    assert false_alarms["pairs"] >= 1000 and false_alarms["pairs_with_a_regression"] * 30 <= false_alarms["pairs"]


@pytest.mark.xfail(strict=True, reason="not met on session 2, the noisiest (its own process sd 0.149 of the log "
                   "median): 10 + 10 simulated processes catch +30% in 86.7% of pairs and 8 + 8 real ones in 2966 "
                   "of 4000 (baselines/error-rates.md); more than 12 a side would be needed, more than its runs "
                   "can draw")
def test_a_thirty_percent_slowdown_is_caught_with_the_processes_session_2_can_draw(report):
    assert report["sets"]["cpu-2"]["processes_needed"] is not None


@pytest.mark.parametrize("label", CPU_SESSIONS)
def test_several_processes_beat_one_on_the_cpu(report, label):
    """5 + 5 processes catch a 30% slowdown at least 1.5 times as often as one run a side (simulated)."""
    single = report["sets"][label]["simulated"]["30%"]["regression"]
    assert processes(report, label, 5)["simulated"]["30%"]["regression"] >= 1.5 * single
