"""The host probe (measure/instruments.py host_probe_s) follows the host's speed: sharing its core with a busy
process slows it.

The deterministic test replaces the host by a clock that each addition advances: the probe is the time its
fixed work takes, so a slower host gives a larger probe. The real one runs CPU hogs under the OS scheduler and
is marked for what it is (`os_scheduler`, `slow`): it can fail on a host loaded beyond what it allows for, and
`-m "not os_scheduler"` leaves it out."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

from diffbench.measure import instruments
from diffbench.measure.instruments import host_probe_s

OPS = 20_000  # tens of milliseconds a sample: many of the scheduler's time slices, so sharing shows in each
SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


class FakeHost:
    """A clock that each tensor addition advances by the host's cost of one."""

    def __init__(self, seconds_per_add: float):
        self.now, self.seconds_per_add = 0.0, seconds_per_add

    def perf_counter(self) -> float:
        return self.now

    def add(self, a, b):
        self.now += self.seconds_per_add


@pytest.mark.parametrize("slowdown", [1.0, 1.5, 3.0])
def test_the_probe_is_its_fixed_work_timed_so_a_slower_host_gives_a_larger_probe(monkeypatch, slowdown):
    probes = []
    for seconds_per_add in (1e-6, slowdown * 1e-6):
        host = FakeHost(seconds_per_add)
        monkeypatch.setattr(instruments.time, "perf_counter", host.perf_counter)
        monkeypatch.setattr(instruments.torch, "add", host.add)
        probes.append(host_probe_s(1000))
    assert probes[0] == pytest.approx(1000 * 1e-6) and probes[1] == pytest.approx(slowdown * probes[0])


@pytest.mark.os_scheduler
@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_the_host_probe_slows_when_another_process_shares_its_core():
    """Samples alternate with two spinning processes on the probe's core paused and running, so that other load
    on the machine (another test worker) weighs on both alike."""
    own = os.sched_getaffinity(0)
    core = min(own)
    os.sched_setaffinity(0, {core})
    hogs = [subprocess.Popen([sys.executable, "-c", SPIN, str(core)]) for _ in range(2)]
    alone, shared = [], []
    try:
        time.sleep(0.5)  # started and spinning
        for _ in range(7):
            for hog in hogs:
                hog.send_signal(signal.SIGSTOP)
            time.sleep(0.05)
            alone.append(host_probe_s(OPS))
            for hog in hogs:
                hog.send_signal(signal.SIGCONT)
            time.sleep(0.05)
            shared.append(host_probe_s(OPS))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        os.sched_setaffinity(0, own)
    # the core's time split three ways: about 3x alone, 2x with as much other load again on the core
    assert statistics.median(shared) > 1.5 * statistics.median(alone), (alone, shared)


def test_a_probe_is_milliseconds():
    assert 0 < host_probe_s() < 0.5
