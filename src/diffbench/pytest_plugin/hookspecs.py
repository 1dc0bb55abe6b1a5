"""diffbench's own hooks, for tests and users' plugins (`-p myplugin`, a conftest.py): act around the build of a
scenario's pipeline and around each call of it, or declare known failures, through pluggy, instead of patching
diffbench's module globals.

Each is a firstresult hook whose last implementation is diffbench's own (it builds; it calls; it reads the known
failures). Wrap them:

    @pytest.hookimpl(wrapper=True)
    def pytest_diffbench_call(scenario, call):
        started = time.perf_counter()
        result = yield  # the call itself (and any inner wrapper)
        time.sleep(0.1 * (time.perf_counter() - started))  # this scenario, 10% slower
        return result

A wrapper may also raise before `yield` (a fault injected into a chosen scenario), or return a result of its own
without yielding. tools/slowdown_plugin.py and tests/test_reliability.py use them. A call hook costs nothing
when no plugin implements it: the pipeline is then called directly.
"""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_diffbench_build(scenario, options):
    """Build `scenario`'s pipeline with `options` (build.built.BuildOptions) and return the `Built`; called once
    per pipeline (its batch sizes share it), inside the session's build context (compile settings, ranks)."""


@pytest.hookspec(firstresult=True)
def pytest_diffbench_known_failure(scenario, target, weights, suite):
    """Whether `scenario` is a known failure here, as (reason, run) or None: run False skips it, True runs it and
    expects it to fail (xfail, strict: a pass fails the session as XPASS). `target` is the device
    (measure.capabilities.Target), `weights` the weights source's name, `suite` the test file's folder
    (benchmarks, quality, ...). diffbench's own answer is the known failures' table (spec/rules.py)."""


@pytest.hookspec(firstresult=True)
def pytest_diffbench_call(scenario, call):
    """Run one pipeline call of `scenario` (`call()`, already seeded and synchronized) and return its output:
    every call the suite makes, the first (compiling) call, the profiled call and each timed round."""
