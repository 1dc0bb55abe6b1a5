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


@pytest.mark.xfail(strict=True, reason="not met: on the 2-core CPU, reruns of the same code differ by up to 29% in "
                   "their medians (baselines/error-rates.md), so a 30% slowdown is caught in about half of the pairs")
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
    from diffbench.compare import load_run_noise

    assert load_run_noise() == {kind: c["allowance"] for kind, c in report["classes"].items()}
