"""Version guards for the few places that rely on another library's internals (no public API does the job).

Each such use runs only when the installed release is one it is tested with; outside that range it warns once and
falls back to the library's plain behaviour. The uses (README "Several GPUs (pytest-xdist)"; tests/test_workers.py
holds each guard against the installed releases and an untested one):

- pytest-benchmark: `worker_results.time_on_workers` sets its session's `disabled`, `xdist_warning` and `json`
  (reached through `config._benchmarksession`) so that xdist workers time and each writes its own file; and
  `results.redirect_unwritable_json` sets its `json` to a fallback when the asked folder cannot take the file.
- pytest-xdist: `scheduling.make_scheduler` subclasses `LoadScopeScheduling`, overriding `_split_scope` and
  `_reschedule` (reading `workqueue`, `assigned_work`, `_pending_of`) to hand out whole pipelines, and
  `_assign_work_unit` (reordering `workqueue`) to hand them out longest first (`--durations-from`); and
  `signals._drain_workers` sets the controller's `DSession.shouldstop` (its own stop, as for --maxfail) on SIGTERM.
"""

from __future__ import annotations

import warnings
from importlib import metadata
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

# distribution -> (first tested release, first untested release), compared on the release numbers only, so any
# pre-, post- or dev-release of a tested minor counts as that minor.
TESTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "pytest-benchmark": ((4, 0), (5, 4)),  # 4.0 to 5.3.x
    "pytest-xdist": ((3, 6), (4,)),  # 3.6 to 3.x
}


class UntestedVersionWarning(pytest.PytestWarning):
    """diffbench falls back to a library's plain behaviour: the installed release is outside the tested range."""


def installed(distribution: str) -> Version | None:
    """The installed release of a distribution, None when it is not installed (or its version is not PEP 440)."""
    try:
        return Version(metadata.version(distribution))
    except (metadata.PackageNotFoundError, InvalidVersion):
        return None


def tested_range(distribution: str) -> str:
    low, high = TESTED[distribution]
    last = f"{high[0] - 1}.x" if len(high) == 1 else f"{high[0]}.{high[1] - 1}.x"
    return f"{'.'.join(map(str, low))} to {last}"


def is_tested(distribution: str) -> bool:
    """Whether the installed release of `distribution` is within the range diffbench is tested with."""
    low, high = TESTED[distribution]
    version = installed(distribution)
    return version is not None and low <= version.release < high


def guard(config: Any, distribution: str, uses: str, fallback: str) -> bool:
    """True when `uses` (another library's internals) may run; otherwise warn, naming the `fallback`, and False."""
    if is_tested(distribution):
        return True
    warning = UntestedVersionWarning(
        f"diffbench: {distribution} {installed(distribution) or '(not installed)'} is outside the tested range "
        f"{tested_range(distribution)}: {uses} relies on its internals, so it is off; {fallback}")
    issue = getattr(config, "issue_config_time_warning", None)
    if issue is not None:  # into pytest's warnings summary (-W filters apply)
        issue(warning, stacklevel=3)
    else:
        warnings.warn(warning, stacklevel=3)
    return False
