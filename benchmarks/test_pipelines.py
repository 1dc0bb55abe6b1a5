"""Latency and memory of every selected scenario, recorded by pytest-benchmark (`--benchmark-json`)."""

from diffbench.measure import runner


def test_latency(benchmark, built, settings):
    images = runner.run(benchmark, built, settings.run)
    assert images.shape[0] == built.scenario.batch
