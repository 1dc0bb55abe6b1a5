"""The host probe (measure/instruments.py host_probe_s) follows the host's speed: sharing its core with a busy
process slows it."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

from diffbench.measure.instruments import host_probe_s

OPS = 20_000  # tens of milliseconds a sample: many of the scheduler's time slices, so sharing shows in each
SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


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
