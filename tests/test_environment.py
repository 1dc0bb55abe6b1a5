"""The suite's revision in every result: a checkout's git revision, or the installed version said to be one."""

from __future__ import annotations

import subprocess
from importlib.metadata import version

import pytest

from diffbench.measure import machine


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """diffbench as `pip install .` leaves it: in site-packages, outside any git checkout."""
    monkeypatch.delenv("DIFFBENCH_GIT_REVISION", raising=False)
    package = tmp_path / "venv" / "lib" / "python3" / "site-packages" / "diffbench"
    package.mkdir(parents=True)
    monkeypatch.setattr(machine, "PACKAGE_DIR", package)


def test_installed_package_takes_the_revision_of_the_checkout_the_suite_runs_from(installed, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert machine.environment(checkout)["diffbench_git"] == head


def test_outside_any_checkout_the_installed_version_is_recorded_as_such(installed, tmp_path):
    elsewhere = tmp_path / "not-a-checkout"
    elsewhere.mkdir()
    assert machine.environment(elsewhere)["diffbench_git"] == (
        f"no git checkout; installed diffbench {version('diffbench')}")
