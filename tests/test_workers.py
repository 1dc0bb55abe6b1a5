"""The matrix over several workers (pytest-xdist): one device per worker, one pipeline per worker, one JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from diffbench import workers


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


@pytest.mark.parametrize("xdist_disabled_it, user_disabled", [(True, False), (False, True)])
def test_workers_time_again_unless_the_user_said_not_to(monkeypatch, xdist_disabled_it, user_disabled):
    # pytest-benchmark sets xdist_warning exactly when it turned itself off for xdist (not for the user).
    bs = SimpleNamespace(disabled=True, xdist_warning=xdist_disabled_it, json=Path("out.json"))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    workers.time_on_workers(SimpleNamespace(_benchmarksession=bs))
    assert bs.disabled is user_disabled and bs.xdist_warning is False
    assert bs.json == Path("out.gw1.json")  # failures-only files go there too


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
    compare = subprocess.run([sys.executable, "-m", "diffbench.cli", "compare", "out.json", "out.json"],
                             cwd=suite.path, capture_output=True, text=True)
    assert compare.returncode == 0, compare.stdout + compare.stderr
