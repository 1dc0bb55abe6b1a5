"""The matrix over several workers (pytest-xdist): one device per worker, one pipeline per worker, one JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import execnet
import pytest
import torch
from fake_results import write_results

from diffbench.pytest_plugin import compat, durations, results, scheduling, worker_results
from diffbench.pytest_plugin.session import get_session, start_session
from diffbench.spec.matrix import Selection
from diffbench.store.results import load


def test_each_worker_gets_its_own_device_wrapping_around():
    assert [scheduling.device_index(w, 2) for w in ("gw0", "gw1", "gw2", "gw3")] == [0, 1, 0, 1]
    assert scheduling.device_index("gw5", 8) == 5
    assert scheduling.device_index("gw7", 1) == 0
    with pytest.raises(ValueError):
        scheduling.device_index("gw0", 0)
    with pytest.raises(ValueError):
        scheduling.device_index("main", 2)


def test_a_worker_whose_gateway_pins_a_gpu_uses_that_gpu():
    # `--tx popen//env:CUDA_VISIBLE_DEVICES=3`: the worker sees that one GPU, as cuda:0, whatever its number
    assert [scheduling.device_index(w, 1, "3") for w in ("gw0", "gw1", "gw5")] == [0, 0, 0]
    assert scheduling.device_index("gw1", 2, "2,3") == 0  # the first GPU the gateway made visible
    assert scheduling.device_index("gw1", 2, None) == 1  # a gateway that pins nothing: its number mod the count
    with pytest.raises(ValueError):
        scheduling.device_index("gw0", 0, "")  # the gateway hid every GPU


def _worker_config(**workerinput):
    """A worker's pytest config as use_worker_device sees it: xdist's workerinput and a diffbench session."""
    config = SimpleNamespace(stash=pytest.Stash(), workerinput=dict(workerid="gw3", **workerinput))
    start_session(config, SimpleNamespace())
    return config


@pytest.mark.parametrize(("gateway_pins", "device"), [("1", 0), (None, 3)])
def test_a_cuda_worker_makes_its_gpu_the_current_device(monkeypatch, gateway_pins, device):
    chosen = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if gateway_pins else 4)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    config = _worker_config(**{scheduling.GATEWAY_DEVICES: gateway_pins})
    scheduling.use_worker_device(config, "cuda")
    assert chosen == [device] and get_session(config).cuda_device == device


@pytest.mark.parametrize(("spec", "pinned"), [("popen//env:CUDA_VISIBLE_DEVICES=1", "1"),
                                               ("ssh=gpu2//python=python3//env:CUDA_VISIBLE_DEVICES=0,1", "0,1"),
                                               ("popen//env:OTHER=1", None), ("popen", None)])
def test_the_controller_tells_each_worker_what_its_gateway_pinned(spec, pinned):
    node = SimpleNamespace(gateway=SimpleNamespace(spec=execnet.XSpec(spec), id="gw0"), workerinput={})
    scheduling.configure_node(None, node)
    assert node.workerinput == {scheduling.GATEWAY_DEVICES: pinned}
    assert scheduling.gateway_devices(SimpleNamespace(workerinput=node.workerinput)) == pinned
    assert scheduling.gateway_devices(SimpleNamespace()) is None  # not a worker


def _options(**option):
    return SimpleNamespace(option=SimpleNamespace(**option),
                           getoption=lambda name, default=None: option.get(name, default))


@pytest.mark.parametrize(("cuda", "count", "device", "env", "workers_"), [
    (True, 4, "auto", None, 4), (True, 2, "cuda", None, 2),
    (True, 4, "cpu", None, None),  # --device cpu: xdist counts CPUs
    (False, 0, "auto", None, None),  # no CUDA: xdist counts CPUs
    (True, 4, "auto", "3", None)])  # PYTEST_XDIST_AUTO_NUM_WORKERS: xdist reads it
def test_n_auto_counts_the_visible_gpus(monkeypatch, cuda, count, device, env, workers_):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)  # torch's count honours CUDA_VISIBLE_DEVICES
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    if env:
        monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", env)
    assert scheduling.auto_num_workers(_options(diffbench_device=device)) == workers_


@pytest.mark.parametrize(("ini", "gpus_counted"), [
    ("[pytest]\ndiffbench_suite = true\n", True),  # a diffbench project (as this repository's pyproject says)
    ("[pytest]\n", False)])  # another project, no diffbench option: xdist's own count, diffbench inert
def test_n_auto_asks_diffbench_before_xdist(pytester, monkeypatch, ini, gpus_counted):
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    pytester.makefile(".ini", pytest=ini)
    config = pytester.parseconfigure()
    cpus = config.hook.pytest_xdist_auto_num_workers(config=config)  # no CUDA here: xdist's own count
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert config.hook.pytest_xdist_auto_num_workers(config=config) == (3 if gpus_counted else cpus) and cpus >= 1


@pytest.mark.parametrize(("option", "worker", "dist"), [
    ({"tx": ["popen", "ssh=gpu2"], "dist": "no"}, None, "load"),  # --tx alone: hand tests out
    ({"tx": ["popen", "ssh=gpu2"], "dist": "no"}, "gw0", "no"),  # a worker gets the --tx too: never
    ({"tx": ["popen"], "dist": "each"}, None, "each"), ({"tx": [], "dist": "no"}, None, "no"),
    ({"tx": ["popen"], "dist": "no", "looponfail": True}, None, "no")])
def test_gateways_given_without_dist_get_the_load_distribution(monkeypatch, option, worker, dist):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    if worker:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    config = _options(**option)
    scheduling.distribute_over_gateways(config)
    assert config.option.dist == dist


def test_results_that_cannot_be_merged_are_kept_next_to_the_one_asked_for():
    assert worker_results.worker_json(Path("out.json"), "gw0") == Path("out.gw0.json")
    assert worker_results.worker_json(Path("runs/new.json"), "gw11") == Path("runs/new.gw11.json")
    assert worker_results.worker_json(Path("results"), "gw1") == Path("results.gw1")


def test_the_json_path_keeps_its_folder(tmp_path):
    assert results.json_path(Path("runs/out.json")) == Path("runs/out.json")  # pytest-benchmark >= 5.3
    with (tmp_path / "out.json").open("wb") as opened:  # < 5.3: the file it opened
        assert results.json_path(opened) == tmp_path / "out.json"


def test_a_worker_writes_in_its_hosts_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run1")
    assert results.worker_results_file("gw2") == tmp_path / "diffbench-run1-gw2.json"


def test_a_pipeline_is_one_unit_of_work():
    groups = {"flux-dev-bf16-eager-nofuse-bs1": "flux-dev/bf16", "flux-dev-bf16-eager-nofuse-bs2": "flux-dev/bf16"}
    node = "benchmarks/test_pipelines.py::test_latency[flux-dev-bf16-eager-nofuse-bs{}]"
    assert scheduling.scope_of(node.format(1), groups) == scheduling.scope_of(node.format(2), groups) == "flux-dev/bf16"
    assert scheduling.scope_of(node.format(2) + "@flux-dev/bf16", groups) == "flux-dev/bf16"  # xdist's own tag
    assert scheduling.scope_of("tests/test_x.py::test_y", groups) == "tests/test_x.py::test_y"  # alone, as load
    assert scheduling.group_name(("flux-dev", "bf16", "eager", False)) == "flux-dev/bf16/eager/False"


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
    worker_results.time_on_workers(_config(bs, **({user_option: True} if user_option else {})))
    assert bs.disabled is (user_option is not None)
    assert getattr(bs, "xdist_warning", False) is False and hasattr(bs, "xdist_warning") is has_xdist_warning
    assert bs.json == results.worker_results_file("gw1")  # failures-only files go there too


def test_a_worker_writes_its_own_file_where_pytest_benchmark_opened_one(monkeypatch, tmp_path):
    # pytest-benchmark < 5.3 opens --benchmark-json while parsing options (argparse.FileType) and writes into it.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    opened = (tmp_path / "out.json").open("wb")
    bs = SimpleNamespace(disabled=True, json=opened)
    worker_results.time_on_workers(_config(bs))
    with bs.json:
        assert opened.closed and bs.json.name == str(results.worker_results_file("gw0")) and bs.disabled is False
    assert results.json_path(bs.json) == results.worker_results_file("gw0")


def test_the_controller_stays_off_without_the_xdist_warning(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    bs = SimpleNamespace(disabled=True, xdist_warning=True, json=Path("out.json"))
    worker_results.time_on_workers(_config(bs, dist="load", tx=["popen"] * 2))
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
        worker_results.time_on_workers(_config(bs))
    assert bs == SimpleNamespace(disabled=True, xdist_warning=True, json=Path("out.json"))  # its own behaviour


def test_outside_xdist_pytest_benchmark_is_never_touched(monkeypatch, recwarn):
    _installed_as(monkeypatch, "pytest-benchmark", "6.0")
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    bs = SimpleNamespace(disabled=False, json=Path("out.json"))
    worker_results.time_on_workers(_config(bs))
    assert bs == SimpleNamespace(disabled=False, json=Path("out.json")) and not recwarn.list  # no warning either


@pytest.mark.parametrize("version", ["3.5.0", "4.0.0"])
def test_an_untested_pytest_xdist_hands_tests_out_its_own_way(monkeypatch, version):
    _installed_as(monkeypatch, "pytest-xdist", version)
    config = SimpleNamespace(option=SimpleNamespace(dist="load"), stash=pytest.Stash())
    start_session(config, SimpleNamespace())  # diffbench in play: the guard speaks
    with pytest.warns(compat.UntestedVersionWarning, match=f"pytest-xdist {version} is outside"):
        assert scheduling.make_scheduler(config, log=None) is None  # None: xdist's own scheduler


def _controller(out: Path, **session):
    """The xdist controller's config as the results hooks see it: its options and a diffbench session."""
    options = {"benchmark_json": out, "dist": "load", "tx": ["popen", "ssh=gpu2"]}
    config = SimpleNamespace(stash=pytest.Stash(), getoption=lambda name, default=None: options.get(name, default),
                             pluginmanager=SimpleNamespace(get_plugin=lambda name: None))
    start_session(config, SimpleNamespace())
    return config


def _node(worker: str, **workeroutput):
    return SimpleNamespace(gateway=SimpleNamespace(id=worker), workeroutput=workeroutput)


def _worker_results(tmp_path, worker: str, scenario: str, gpu: str = "cpu", **records) -> str:
    placement = {"xdist_worker": worker, "cuda_device": None, "cuda_visible_devices": worker[-1]}
    path = write_results(tmp_path / f"{worker}.json", {scenario: [1.0, 1.1, 1.2]}, gpu=gpu, weights="tiny",
                         env=placement, **records)
    return path.read_text()


def test_a_worker_sends_its_results_back_through_xdist(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    text = _worker_results(tmp_path, "gw0", "flux-dev-bf16-eager-nofuse-bs1")
    results.worker_results_file("gw0").write_text(text)
    worker = SimpleNamespace(workeroutput={}, getoption=lambda name, default=None: Path("elsewhere/out.json")
                             if name == "benchmark_json" else default)
    worker_results.send_results(worker)
    assert worker.workeroutput == {worker_results.RESULTS: text}  # what xdist sends the controller after sessionfinish
    assert not results.worker_results_file("gw0").exists() and not (tmp_path / "elsewhere").exists()


def test_the_controller_merges_what_the_workers_sent_into_one_file(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    out = tmp_path / "runs" / "out.json"
    out.parent.mkdir()
    controller = _controller(out)
    failure = {"scenario": "flux-dev-int8wo-eager-nofuse-bs2", "nodeid": "x", "phase": "call", "error_type": "E"}
    stop = {"scenario": "flux-dev-bf16-eager-nofuse-bs2", "phase": "setup", "elapsed_s": 1.0}
    command = ["pytest", "benchmarks", "-n", "2"]
    worker_results.receive_results(controller, _node("gw1", **{worker_results.RESULTS: _worker_results(
        tmp_path, "gw1", "flux-dev-int8wo-eager-nofuse-bs1", failures=[failure],
        session=dict(command=command, session_wall_s=3.0))}))
    worker_results.receive_results(controller, _node("gw0", **{worker_results.RESULTS: _worker_results(
        tmp_path, "gw0", "flux-dev-bf16-eager-nofuse-bs1",
        session=dict(command=command, session_wall_s=2.0, interrupted=stop))}))
    worker_results.receive_results(controller, SimpleNamespace(gateway=SimpleNamespace(id="gw2")))  # crashed: no output
    worker_results.merge_results(controller)
    merged = load(out)
    assert sorted(merged.measurements) == ["flux-dev-bf16-eager-nofuse-bs1", "flux-dev-int8wo-eager-nofuse-bs1"]
    assert merged.failures == {failure["scenario"]: [failure]}
    assert {w: v["cuda_visible_devices"] for w, v in merged.env["xdist_workers"].items()} == {"gw0": "0", "gw1": "1"}
    # one session: its command and where it stopped are the workers', its wall time the controller's
    section = json.loads(out.read_text())["diffbench"]
    assert section["command"] == command and section["interrupted"] == stop
    assert section["session_wall_s"] not in (2.0, 3.0)
    assert merged.env["xdist_workers"]["gw0"]["interrupted"] == stop
    assert "interrupted" not in merged.env["xdist_workers"]["gw1"]
    assert merged.env["xdist_workers"]["gw1"]["session_wall_s"] == 3.0
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json"]
    err = capsys.readouterr().err
    assert "no results from xdist worker(s) gw2 (crashed?)" in err
    assert f"merged 2 xdist worker results into {out}" in err


def test_results_of_different_gpus_are_kept_apart(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    controller = _controller(tmp_path / "out.json")
    sent = tmp_path / "sent"
    sent.mkdir()
    for worker, gpu in (("gw0", "NVIDIA H200"), ("gw1", "NVIDIA H100 80GB HBM3")):  # two hosts, two GPU kinds
        worker_results.receive_results(controller, _node(worker, **{worker_results.RESULTS: _worker_results(
            sent, worker, f"flux-dev-bf16-eager-nofuse-bs{worker[-1]}", gpu=gpu)}))
    worker_results.merge_results(controller)
    assert not (tmp_path / "out.json").exists()
    assert load(tmp_path / "out.gw0.json").gpu == "NVIDIA H200" and load(tmp_path / "out.gw1.json").measurements
    assert "could not merge the workers' results" in capsys.readouterr().err


def _scheduling(monkeypatch, recorded: dict, workers_: int = 2):
    """The controller's scheduler (make_scheduler) for flux-dev and sdxl (bf16, int8wo; batches 1 and 2), with
    fake worker nodes that note the pipelines they are handed, in order."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    from xdist.remote import Producer

    selection = Selection(models=("flux-dev", "sdxl"), schemes=("bf16", "int8wo"), batches=(1, 2))
    config = SimpleNamespace(stash=pytest.Stash(), option=SimpleNamespace(dist="load", loadscopereorder=True),
                             getvalue=lambda name: ["popen"] * workers_,
                             pluginmanager=SimpleNamespace(get_plugin=lambda name: None))
    run = SimpleNamespace(rounds=3, steps_for=lambda model: None)
    session = start_session(config, SimpleNamespace(selection=selection, run=run))
    session.recorded_durations = recorded
    scheduler = scheduling.make_scheduler(config, Producer("test", enabled=False))
    collection = [f"benchmarks/test_pipelines.py::test_latency[{s.id}]" for s in selection.scenarios()]
    handed_out = []

    class Node:
        def __init__(self, name):
            self.gateway, self.shutting_down, self.ran = SimpleNamespace(id=name), False, []

        def send_runtest_some(self, indices):
            handed_out.append(scheduling.scope_of(collection[indices[0]], scheduler_groups))
            self.ran += indices

        def shutdown(self):
            self.shutting_down = True

    scheduler_groups = {s.id: scheduling.group_name(s.build_key) for s in selection.scenarios()}
    nodes = [Node(f"gw{i}") for i in range(workers_)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    while any(node.ran for node in nodes):  # the workers finish their tests, each asking for more
        for node in nodes:
            if node.ran:
                scheduler.mark_test_complete(node, node.ran.pop(0))
    return [scope.split("/")[:2] for scope in handed_out]


def test_without_durations_xdist_keeps_the_collection_order(monkeypatch):
    assert _scheduling(monkeypatch, {}) == [["flux-dev", "bf16"], ["flux-dev", "int8wo"], ["sdxl", "bf16"],
                                            ["sdxl", "int8wo"]]


def test_with_durations_the_longest_pipeline_goes_first(monkeypatch, tmp_path):
    times = {"flux-dev-bf16": 1.0, "flux-dev-int8wo": 3.0, "sdxl-int8wo": 2.0}  # sdxl bf16: its model's mean, 2.0
    path = write_results(tmp_path / "run.json", {f"{k}-eager-nofuse-bs{b}": [v] * 3 for k, v in times.items()
                                                 for b in (1, 2)})
    # per pipeline (first call 8 s, then 4 calls at the median, two batch sizes): 40, 32, 32 and 24 s
    assert _scheduling(monkeypatch, load(path).measurements) == [
        ["flux-dev", "int8wo"], ["sdxl", "bf16"], ["sdxl", "int8wo"], ["flux-dev", "bf16"]]  # ties: queue order


def test_the_expected_durations_are_per_pipeline(monkeypatch, tmp_path):
    path = write_results(tmp_path / "run.json", {"flux-dev-bf16-eager-nofuse-bs1": [1.0] * 3},
                         info={"flux-dev-bf16-eager-nofuse-bs1": {"first_call_s": 0.0, "build_s": 5.0}})
    config = SimpleNamespace(stash=pytest.Stash())
    selection = Selection(models=("flux-dev", "sdxl"), schemes=("bf16",))
    run = SimpleNamespace(rounds=1, steps_for=lambda model: None)
    session = start_session(config, SimpleNamespace(selection=selection, run=run))
    session.recorded_durations = load(path).measurements
    expected = scheduling.expected_durations(config)
    flux, sdxl = (scheduling.group_name(s.build_key) for s in selection.scenarios())
    assert expected == {flux: durations.Expected(5.0 + 2.0, True), sdxl: durations.UNKNOWN}
    session.recorded_durations = {}
    assert scheduling.expected_durations(config) == {}


def test_two_workers_one_merged_json(suite, monkeypatch):
    """The real suite with -n 2 on tiny CPU pipelines: each pipeline on one worker, timed there, one JSON."""
    (suite.path / "runs").mkdir()
    temporary = suite.mkdir("tmp")  # the workers' own files go here, and are gone at the end
    monkeypatch.setenv("TMPDIR", str(temporary))
    result = suite.runpytest_subprocess(
        "benchmarks", "-n", "2", "--models", "flux-dev", "--quant", "bf16,int8wo", "--batch", "1,2",
        "--steps", "2", "--rounds", "1", "--benchmark-json", "runs/out.json")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*diffbench: merged 2 xdist worker results into runs/out.json*"])
    assert [p.name for p in (suite.path / "runs").iterdir()] == ["out.json"]
    assert not list(temporary.glob("diffbench-*"))
    assert not list(suite.path.glob("*.json"))
    data = json.loads((suite.path / "runs" / "out.json").read_text())
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
    # the session's wall is the controller's: every worker's own wall and the workers' start inside it
    worker_walls = [w["session_wall_s"] for w in env["xdist_workers"].values()]
    assert all(worker_walls) and data["diffbench"]["session_wall_s"] > max(worker_walls)
    # the merged file reads as any results file: compare takes it (against itself it judges nothing: exit 3)
    compare = subprocess.run([sys.executable, "-m", "diffbench.face.cli", "compare", "runs/out.json", "runs/out.json"],
                             cwd=suite.path, capture_output=True, text=True)
    assert compare.returncode == 3 and "NEW is BASE itself" in compare.stdout, compare.stdout + compare.stderr
