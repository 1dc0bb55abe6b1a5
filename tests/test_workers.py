"""The matrix over several workers (pytest-xdist): one device per worker, one pipeline per worker, one JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from diffbench.pytest_plugin import compat, workers


def test_each_worker_gets_its_own_device_wrapping_around():
    assert [workers.device_index(w, 2) for w in ("gw0", "gw1", "gw2", "gw3")] == [0, 1, 0, 1]
    assert workers.device_index("gw5", 8) == 5
    assert workers.device_index("gw7", 1) == 0
    with pytest.raises(ValueError):
        workers.device_index("gw0", 0)
    with pytest.raises(ValueError):
        workers.device_index("main", 2)


def test_each_worker_writes_its_own_file_next_to_the_one_asked_for():
    assert workers.worker_json(Path("out.json"), "gw0") == Path("out.gw0.json")
    assert workers.worker_json(Path("runs/new.json"), "gw11") == Path("runs/new.gw11.json")
    assert workers.worker_json(Path("results"), "gw1") == Path("results.gw1")


def test_a_pipeline_is_one_unit_of_work():
    groups = {"flux-dev-bf16-eager-nofuse-bs1": "flux-dev/bf16", "flux-dev-bf16-eager-nofuse-bs2": "flux-dev/bf16"}
    node = "benchmarks/test_pipelines.py::test_latency[flux-dev-bf16-eager-nofuse-bs{}]"
    assert workers.scope_of(node.format(1), groups) == workers.scope_of(node.format(2), groups) == "flux-dev/bf16"
    assert workers.scope_of(node.format(2) + "@flux-dev/bf16", groups) == "flux-dev/bf16"  # xdist's own tag
    assert workers.scope_of("tests/test_x.py::test_y", groups) == "tests/test_x.py::test_y"  # alone, as load
    assert workers.group_name(("flux-dev", "bf16", "eager", False)) == "flux-dev/bf16/eager/False"


def _config(bs, **options):
    """A pytest config as time_on_workers sees it: pytest-benchmark's session and the options it read."""
    return SimpleNamespace(_benchmarksession=bs, getoption=lambda name, default=None: options.get(name, default))


@pytest.mark.parametrize("has_xdist_warning", [True, False], ids=["pytest-benchmark>=5.3", "pytest-benchmark<5.3"])
@pytest.mark.parametrize("user_option", [None, "benchmark_disable", "benchmark_skip"])
def test_workers_time_again_unless_the_user_said_not_to(monkeypatch, has_xdist_warning, user_option):
    # pytest-benchmark disabled itself (xdist or the user's option); only >= 5.3 has xdist_warning, set when xdist did.
    bs = SimpleNamespace(disabled=True, json=Path("out.json"))
    if has_xdist_warning:
        bs.xdist_warning = user_option is None
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    workers.time_on_workers(_config(bs, **({user_option: True} if user_option else {})))
    assert bs.disabled is (user_option is not None)
    assert getattr(bs, "xdist_warning", False) is False and hasattr(bs, "xdist_warning") is has_xdist_warning
    assert bs.json == Path("out.gw1.json")  # failures-only files go there too


def test_a_worker_writes_its_own_file_where_pytest_benchmark_opened_one(monkeypatch, tmp_path):
    # pytest-benchmark < 5.3 opens --benchmark-json while parsing options (argparse.FileType) and writes into it.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    opened = (tmp_path / "out.json").open("wb")
    bs = SimpleNamespace(disabled=True, json=opened)
    workers.time_on_workers(_config(bs))
    with bs.json:
        assert opened.closed and bs.json.name == str(tmp_path / "out.gw0.json") and bs.disabled is False
    assert workers.json_path(bs.json) == tmp_path / "out.gw0.json"


def test_the_controller_stays_off_without_the_xdist_warning(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    bs = SimpleNamespace(disabled=True, xdist_warning=True, json=Path("out.json"))
    workers.time_on_workers(_config(bs, dist="load", tx=["popen"] * 2))
    assert bs.disabled is True and bs.xdist_warning is False and bs.json == Path("out.json")


def _installed_as(monkeypatch, distribution: str, version: str) -> None:
    """Make importlib.metadata report `version` for one distribution (the others as installed)."""
    real = compat.metadata.version
    monkeypatch.setattr(compat.metadata, "version", lambda name: version if name == distribution else real(name))


@pytest.mark.parametrize("distribution", sorted(compat.TESTED))
def test_the_installed_releases_are_tested_ones(distribution):
    # CI and `tox -e lowest` install the newest and the floor releases: both must be inside the guard's range.
    assert compat.installed(distribution) is not None and compat.is_tested(distribution), \
        f"{distribution} {compat.installed(distribution)}: outside {compat.tested_range(distribution)}"


@pytest.mark.parametrize(("distribution", "version", "tested"), [
    ("pytest-benchmark", "4.0.0", True), ("pytest-benchmark", "5.3.9", True), ("pytest-benchmark", "3.4.1", False),
    ("pytest-benchmark", "5.4.0", False), ("pytest-benchmark", "5.4.0rc1", False), ("pytest-benchmark", "6.0", False),
    ("pytest-xdist", "3.6.0", True), ("pytest-xdist", "3.99", True), ("pytest-xdist", "3.5.0", False),
    ("pytest-xdist", "4.0.0", False), ("pytest-xdist", "4.0.0.dev1", False)])
def test_the_guard_holds_the_tested_range(monkeypatch, distribution, version, tested):
    _installed_as(monkeypatch, distribution, version)
    assert compat.is_tested(distribution) is tested


@pytest.mark.parametrize("version", ["3.4.1", "5.4.0"])
def test_an_untested_pytest_benchmark_is_left_alone_with_a_warning(monkeypatch, version):
    _installed_as(monkeypatch, "pytest-benchmark", version)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    bs = SimpleNamespace(disabled=True, xdist_warning=True, json=Path("out.json"))
    with pytest.warns(compat.UntestedVersionWarning, match=f"pytest-benchmark {version} is outside"):
        workers.time_on_workers(_config(bs))
    assert bs == SimpleNamespace(disabled=True, xdist_warning=True, json=Path("out.json"))  # its own behaviour


def test_outside_xdist_pytest_benchmark_is_never_touched(monkeypatch, recwarn):
    _installed_as(monkeypatch, "pytest-benchmark", "6.0")
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    bs = SimpleNamespace(disabled=False, json=Path("out.json"))
    workers.time_on_workers(_config(bs))
    assert bs == SimpleNamespace(disabled=False, json=Path("out.json")) and not recwarn.list  # no warning either


@pytest.mark.parametrize("version", ["3.5.0", "4.0.0"])
def test_an_untested_pytest_xdist_hands_tests_out_its_own_way(monkeypatch, version):
    _installed_as(monkeypatch, "pytest-xdist", version)
    config = SimpleNamespace(option=SimpleNamespace(dist="load"))
    with pytest.warns(compat.UntestedVersionWarning, match=f"pytest-xdist {version} is outside"):
        assert workers.make_scheduler(config, log=None) is None  # None: xdist's own scheduler


def test_two_workers_one_merged_json(suite):
    """The real suite with -n 2 on tiny CPU pipelines: each pipeline on one worker, timed there, one JSON."""
    result = suite.runpytest_subprocess(
        "benchmarks", "-n", "2", "--models", "flux-dev", "--quant", "bf16,int8wo", "--batch", "1,2",
        "--steps", "2", "--rounds", "1", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*diffbench: merged 2 xdist worker results into out.json*"])
    assert sorted(p.name for p in suite.path.glob("out*.json")) == ["out.json"]  # worker files merged, removed
    data = json.loads((suite.path / "out.json").read_text())
    ran = sorted(b["extra_info"]["scenario"] for b in data["benchmarks"])
    assert ran == [f"flux-dev-{s}-eager-nofuse-bs{b}" for s in ("bf16", "int8wo") for b in (1, 2)]
    assert all(b["stats"]["rounds"] == 1 and b["stats"]["median"] > 0 for b in data["benchmarks"])
    where = {b["extra_info"]["scenario"]: b["extra_info"]["xdist_worker"] for b in data["benchmarks"]}
    for scheme in ("bf16", "int8wo"):  # one pipeline, one worker: built once
        assert where[f"flux-dev-{scheme}-eager-nofuse-bs1"] == where[f"flux-dev-{scheme}-eager-nofuse-bs2"]
    assert set(where.values()) == {"gw0", "gw1"}  # and the two pipelines ran side by side
    assert "@" not in "".join(b["fullname"] for b in data["benchmarks"])  # node ids as without xdist
    assert data["diffbench"]["failures"] == [] and data["diffbench"]["skipped"] == []
    env = data["machine_info"]["diffbench"]
    assert set(env["xdist_workers"]) == {"gw0", "gw1"} and "sources" not in env and env["weights"] == "tiny"
    assert env["xdist_workers"]["gw0"]["cuda_device"] is None  # CPU: no device chosen
    compare = subprocess.run([sys.executable, "-m", "diffbench.face.cli", "compare", "out.json", "out.json"],
                             cwd=suite.path, capture_output=True, text=True)
    assert compare.returncode == 0, compare.stdout + compare.stderr
