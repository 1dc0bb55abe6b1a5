"""The host probe (measure/instruments.py host_probe_s) follows the host's speed: sharing its core with a busy
process slows it."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import pytest

from diffbench.measure.instruments import host_probe_s

OPS = 20_000  # tens of milliseconds a sample: many of the scheduler's time slices, so sharing shows in each


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_the_host_probe_slows_when_another_process_shares_its_core():
    own = os.sched_getaffinity(0)
    core = min(own)
    os.sched_setaffinity(0, {core})
    hog = None
    try:
        alone = statistics.median(host_probe_s(OPS) for _ in range(5))
        hog = subprocess.Popen([sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True: pass"])
        time.sleep(0.5)  # started and spinning
        shared = statistics.median(host_probe_s(OPS) for _ in range(5))
    finally:
        if hog:
            hog.kill()
            hog.wait()
        os.sched_setaffinity(0, own)
    assert shared > 1.4 * alone, (alone, shared)  # the core's time split two ways: about 2x


def test_a_probe_is_milliseconds():
    assert 0 < host_probe_s() < 0.5
