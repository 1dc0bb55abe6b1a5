"""The verdict's measured error rates hold on the committed runs (tools/error_rates.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("error_rates", ROOT / "tools" / "error_rates.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["error_rates"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.measure_all(trials=1000, seed=1)


@pytest.mark.parametrize("kind", ["gpu", "cpu"])
def test_reruns_of_the_same_code_are_not_regressions(report, kind):
    rates = report["classes"][kind]
    real = rates["real_false_alarms"]
    assert real["pairs_with_a_regression"] * 30 <= real["pairs"], real["alarms"]  # at most 1 in 30
    assert rates["simulated"]["0%"]["regression"] <= 1 / 30


def test_a_ten_percent_slowdown_is_caught_under_gpu_noise(report):
    gpu = report["classes"]["gpu"]
    assert gpu["simulated"]["10%"]["regression"] >= 0.95
    assert gpu["real_detections"]["cases"] and gpu["real_detections"]["caught"] == gpu["real_detections"]["cases"]


@pytest.mark.xfail(strict=True, reason="not met with one process per side: on the 2-core CPU, rerun medians lie "
                   "0.868..1.148 of their scenario's centre, so the CPU allowance is 21% and a 30% slowdown is caught "
                   "in 31 of 48 real pairs and 43.6% of simulated ones (baselines/error-rates.md)")
def test_a_thirty_percent_slowdown_is_caught_under_cpu_noise(report):
    cpu = report["classes"]["cpu"]
    assert cpu["simulated"]["30%"]["regression"] >= 0.95
    detections = cpu["real_detections"]
    assert detections["caught"] >= 0.95 * detections["cases"], detections["details"]


def test_host_bound_reruns_across_hosts_are_not_regressions(report):
    """Eager fp8dqrow on the H200: its wall time moved with the host between the committed runs."""
    alarms = report["classes"]["gpu"]["real_false_alarms"]["alarms"]
    assert not [a for a in alarms if "fp8dqrow-eager" in a]


def test_the_committed_allowances_are_the_measured_ones(report):
    from diffbench.face.compare import load_process_noise, load_run_noise

    assert load_run_noise() == {kind: c["allowance"] for kind, c in report["classes"].items()}
    assert {kind: (n.sd, n.df) for kind, n in load_process_noise().items()} == {
        kind: (c["process_sd"], c["process_df"]) for kind, c in report["classes"].items() if c["process_sd"]}


def test_the_cpu_class_has_a_process_sd_and_the_gpu_one_says_why_not(report):
    cpu, gpu = report["classes"]["cpu"], report["classes"]["gpu"]
    assert cpu["process_sd"] > 0 and cpu["process_df"] == 8 * 2 - 2  # 8 clean reruns of 2 CPU scenarios
    assert gpu["process_sd"] is None and "sample sd" in gpu["process_sd_missing"]


# Several processes per side (diffbench compare --base-also/--new-also, the between-process rule).

def processes(report, kind: str, k: int) -> dict:
    return report["classes"][kind]["processes"][str(k)]


@pytest.mark.parametrize("k", [3, 5])
def test_several_cpu_processes_of_the_same_code_are_rarely_regressions_simulated(report, k):
    assert processes(report, "cpu", k)["simulated"]["0%"]["regression"] <= 1 / 30


def test_disjoint_cpu_reruns_3_plus_3_are_not_regressions(report):
    """The bimodal CPU run factor (bf16: reruns 3, 5, 8 near 0.177 s, 1, 2, 6, 7 near 0.214 s) made 3 fast against
    3 slow processes a regression with the sample sd alone (21 of 560); the class's process sd is its floor."""
    real = processes(report, "cpu", 3)["real_false_alarms"]
    assert real["pairs_with_a_regression"] * 30 <= real["pairs"], real["alarms"]


def test_a_thirty_percent_slowdown_is_caught_in_real_cpu_runs_with_3_processes(report):
    """Each 3 clean CPU reruns as BASE against the 3 runs 30% slower as NEW."""
    detections = processes(report, "cpu", 3)["real_detections"]
    assert detections["cases"] >= 100 and detections["caught"] >= 0.95 * detections["cases"]


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.xfail(strict=True, reason="not met: a 30% slowdown is caught in 52.2% of simulated 3 + 3 CPU process "
                   "pairs and 89.4% of 5 + 5 ones (baselines/error-rates.md): the class's process sd is 0.089 "
                   "(14 df), so the t interval's half-width alone is about 16% (3 + 3) and 12% (5 + 5) on the log "
                   "scale; the floor removes false alarms but cannot make the noise smaller")
def test_a_thirty_percent_slowdown_is_caught_across_cpu_processes_simulated(report, k):
    assert processes(report, "cpu", k)["simulated"]["30%"]["regression"] >= 0.95


def test_several_processes_beat_one_on_the_cpu(report):
    """5 + 5 processes catch a 30% slowdown at least 1.5 times as often as one run a side (simulated)."""
    cpu = report["classes"]["cpu"]
    assert processes(report, "cpu", 5)["simulated"]["30%"]["regression"] >= 1.5 * cpu["simulated"]["30%"]["regression"]


def test_gpu_has_too_few_runs_for_processes_and_says_so(report):
    """3 clean GPU reruns of one scenario and 2 slowed ones: no multi-process estimate is invented."""
    for k in ("3", "5"):
        estimate = report["classes"]["gpu"]["processes"][k]
        assert all("missing" in estimate[part] for part in ("real_false_alarms", "real_detections", "simulated"))
