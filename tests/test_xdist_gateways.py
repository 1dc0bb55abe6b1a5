"""Workers behind explicit pytest-xdist gateways (`--tx`): each uses the GPU its gateway makes visible, and sends
its results back through xdist's channel, so the controller writes one file whether a worker runs on this host
(popen) or another (ssh)."""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_results import write_results

SCENARIOS = [f"flux-dev-{scheme}-eager-nofuse-bs1" for scheme in ("bf16", "int8wo")]
MATRIX = ("--models", "flux-dev", "--quant", "bf16,int8wo", "--steps", "2", "--rounds", "3")
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"  # sshd must be started by its absolute path


def _one_run(path: Path, pins: dict[str, str]) -> dict:
    """The merged results: every scenario timed once, each worker's GPU pin recorded with what it ran."""
    data = json.loads(path.read_text())
    assert sorted(b["extra_info"]["scenario"] for b in data["benchmarks"]) == SCENARIOS
    assert all(b["stats"]["rounds"] == 3 and b["stats"]["median"] > 0 for b in data["benchmarks"])
    placed = {b["extra_info"]["xdist_worker"]: b["extra_info"]["cuda_visible_devices"] for b in data["benchmarks"]}
    assert placed == pins  # two pipelines, two workers: one each, each on the GPU its gateway pinned
    env = data["machine_info"]["diffbench"]
    assert {w: v["cuda_visible_devices"] for w, v in env["xdist_workers"].items()} == pins
    assert data["diffbench"]["failures"] == [] and data["diffbench"]["skipped"] == []
    return data


def _no_worker_files(suite, temporary: Path) -> None:
    assert sorted(p.name for p in suite.path.glob("out*.json")) == ["out.json"]
    assert not list(temporary.glob("diffbench-*"))  # where the workers wrote before sending


def test_two_popen_gateways_each_on_the_gpu_it_pins(suite, monkeypatch):
    """No --dist: given gateways, the plugin hands the tests out (`--dist load`), longest pipeline first."""
    write_results(suite.path / "earlier.json", {SCENARIOS[0]: [1.0] * 3, SCENARIOS[1]: [2.0] * 3})
    temporary = suite.mkdir("tmp")
    monkeypatch.setenv("TMPDIR", str(temporary))
    result = suite.runpytest_subprocess(
        "benchmarks", *MATRIX, "--tx", "popen//env:CUDA_VISIBLE_DEVICES=1", "--tx", "popen//env:CUDA_VISIBLE_DEVICES=0",
        "--durations-from", "earlier.json", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*diffbench: --durations-from: 2 of 2 pipelines with a recorded estimate*",
                                 "*diffbench: merged 2 xdist worker results into out.json*"])
    _one_run(suite.path / "out.json", {"gw0": "1", "gw1": "0"})
    _no_worker_files(suite, temporary)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sshd(tmp_path_factory):
    """An OpenSSH server on 127.0.0.1 for this test only: a throwaway host key, and a client key authorized in a
    file of its own; the client reaches it as host `benchhost` through `ssh -F <config>`. ~/.ssh is not touched."""
    folder = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port = _free_port()
    server_config = folder / "sshd_config"
    server_config.write_text("\n".join([  # StrictModes off: the temporary folder's parents are world-writable
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {folder / 'host_key'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        f"PidFile {folder / 'sshd.pid'}", ""]))
    client_config = folder / "ssh_config"
    client_config.write_text("\n  ".join([
        "Host benchhost", "HostName 127.0.0.1", f"Port {port}", f"User {getpass.getuser()}",
        f"IdentityFile {folder / 'client_key'}", "IdentitiesOnly yes", "StrictHostKeyChecking no",
        f"UserKnownHostsFile {folder / 'known_hosts'}", "BatchMode yes", "LogLevel ERROR"]) + "\n")
    with contextlib.suppress(OSError):  # its privilege separation folder: it refuses to start without (as root)
        Path("/run/sshd").mkdir(exist_ok=True)
    log = folder / "sshd.log"
    with log.open("wb") as output:
        server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(server_config)], stderr=output)
    try:
        _wait_for_login(client_config, log)
        yield SimpleNamespace(config=client_config, host="benchhost", log=log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_login(client_config: Path, log: Path, seconds: float = 20) -> None:
    """Until the server takes a login; a server that cannot start here (not root, ...) skips the test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        login = subprocess.run(["ssh", "-F", str(client_config), "benchhost", "true"], capture_output=True, check=False)
        if login.returncode == 0:
            return
        time.sleep(0.5)
    pytest.skip(f"the test's sshd accepted no login in {seconds:.0f} s:\n{log.read_text()}")


@pytest.mark.skipif(not (Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen")),
                    reason="needs OpenSSH's server and client (apt-get install openssh-server)")
def test_an_ssh_gateway_and_a_popen_gateway_write_one_file(suite, sshd, cache_dir, monkeypatch):
    """One worker over ssh (another host, as far as xdist knows: its own copy of the suite, its own temporary
    folder, no shared disk with the controller), one popen worker; each pins its GPU; one merged file here."""
    remote = suite.mkdir("remote")  # the other host's copy of the suite (`//chdir`)
    shutil.copy(suite.path / "pyproject.toml", remote)
    shutil.copytree(suite.path / "benchmarks", remote / "benchmarks")
    remote_tmp, temporary = suite.mkdir("remote-tmp"), suite.mkdir("tmp")
    monkeypatch.setenv("TMPDIR", str(temporary))
    over_ssh = (f"ssh={sshd.host}//ssh_config={sshd.config}//python={sys.executable}//chdir={remote}"
                f"//env:CUDA_VISIBLE_DEVICES=0//env:DIFFBENCH_CACHE={cache_dir}//env:TMPDIR={remote_tmp}")
    # With a gateway to another host xdist passes path arguments only relative to its rsync roots, so the suite is
    # selected by testpaths and the JSON path given as --benchmark-json=PATH (README).
    result = suite.runpytest_subprocess("-o", "testpaths=benchmarks", *MATRIX, "--tx", over_ssh,
                                        "--tx", "popen//env:CUDA_VISIBLE_DEVICES=1", "--benchmark-json=out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*diffbench: merged 2 xdist worker results into out.json*"])
    _one_run(suite.path / "out.json", {"gw0": "0", "gw1": "1"})
    _no_worker_files(suite, temporary)
    assert not list(remote_tmp.glob("diffbench-*"))  # the ssh worker sent its results, and removed its file
    assert "Accepted publickey" in sshd.log.read_text()  # gw0 came in over ssh
    assert (remote / "_pytest").is_dir()  # and xdist synced pytest into its folder, as for a remote host
