"""The verdict's measured error rates hold on the committed runs (tools/error_rates.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # the measurement over every committed rerun takes about a minute on a 2-core CPU


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("error_rates", ROOT / "tools" / "error_rates.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["error_rates"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.measure_all(trials=1000, seed=1)


CPU_SESSIONS = ["cpu-1", "cpu-2", "cpu-3"]
GPU_SESSIONS = ["gpu-gate", "gpu-nightly"]


@pytest.mark.parametrize("label", [*GPU_SESSIONS, *CPU_SESSIONS])
def test_reruns_of_the_same_code_are_not_regressions(report, label):
    rates = report["sets"][label]
    real = rates["real_false_alarms"]
    assert real["pairs_with_a_regression"] * 30 <= real["pairs"], real["alarms"]  # at most 1 in 30
    assert rates["simulated"]["0%"]["regression"] <= 1 / 30


@pytest.mark.xfail(strict=True, reason="not met with one run a side since the nightly pair: two runs in a row on one "
                   "H200 moved pixart-sigma bf16 regional by +12.5% between their closest rounds with its GPU kernel "
                   "time unchanged (+0.4%), so the gpu allowance is 13% and the injected +10% (measured +9.4%) is "
                   "missed in 3 of 6 real pairs (baselines/error-rates.md)")
def test_a_ten_percent_slowdown_is_caught_under_gpu_noise(report):
    gpu = report["sets"]["gpu-gate"]
    assert gpu["simulated"]["10%"]["regression"] >= 0.95
    assert gpu["real_detections"]["cases"] and gpu["real_detections"]["caught"] == gpu["real_detections"]["cases"]


def test_the_gpu_allowance_is_set_by_the_nightly_pair(report):
    """The gate session alone would allow 2%; the nightly selection's six models, run twice in a row, moved more."""
    assert report["classes"]["gpu"]["allowance"] >= 0.12
    assert report["sets"]["gpu-gate"]["real_detections"]["caught"] >= 3  # the +24.8% run is still caught


@pytest.mark.parametrize("label", CPU_SESSIONS)
@pytest.mark.xfail(strict=True, reason="not met with one process per side: the CPU's process factor (sd 0.123 "
                   "of the log median, pooled) makes its allowance 48%, so a 30% slowdown is caught in 7 of 48, 21 "
                   "of 216 and 49 of 512 real pairs in sessions 1, 2 and 3 (baselines/error-rates.md)")
def test_a_thirty_percent_slowdown_is_caught_under_cpu_noise_with_one_run_a_side(report, label):
    cpu = report["sets"][label]
    assert cpu["simulated"]["30%"]["regression"] >= 0.95
    detections = cpu["real_detections"]
    assert detections["caught"] >= 0.95 * detections["cases"], detections["details"]


def test_host_bound_reruns_across_hosts_are_not_regressions(report):
    """Eager fp8dqrow on the H200: its wall time moved with the host between the committed runs."""
    for label in GPU_SESSIONS:
        alarms = report["sets"][label]["real_false_alarms"]["alarms"]
        assert not [a for a in alarms if "fp8dqrow-eager" in a], label


def test_the_committed_allowances_are_the_measured_ones(report):
    from diffbench.face.tolerances import load_process_noise, load_run_noise

    assert load_run_noise() == {kind: c["allowance"] for kind, c in report["classes"].items()}
    assert {kind: (n.sd, n.df) for kind, n in load_process_noise().items()} == {
        kind: (c["process_sd"], c["process_df"]) for kind, c in report["classes"].items() if c["process_sd"]}


def test_the_cpu_class_has_a_process_sd_and_the_gpu_one_says_why_not(report):
    cpu, gpu = report["classes"]["cpu"], report["classes"]["gpu"]
    # 8, 12 and 16 clean reruns of 2 CPU scenarios, each session its own centre
    assert cpu["process_sd"] > 0 and cpu["process_df"] == (8 - 1) * 2 + (12 - 1) * 2 + (16 - 1) * 2
    assert gpu["process_sd"] is None and "sample sd" in gpu["process_sd_missing"]


def test_each_cpu_session_has_its_own_process_sd_and_session_2_is_the_noisiest(report):
    own = {label: report["sets"][label]["session_process_sd"] for label in CPU_SESSIONS}
    assert all(sd > 0 for sd in own.values()) and max(own, key=own.get) == "cpu-2", own
    assert report["sets"]["gpu-gate"]["session_process_sd"] is None  # 3 clean reruns: too few


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


def test_gpu_has_too_few_runs_for_processes_and_says_so(report):
    """3 clean GPU reruns of one scenario and 2 slowed ones: no multi-process estimate is invented."""
    for k in ("3", "5"):
        estimate = report["sets"]["gpu-gate"]["processes"][k]
        assert all("missing" in estimate[part] for part in ("real_false_alarms", "real_detections", "simulated"))
