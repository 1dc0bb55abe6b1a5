"""The environment fingerprint: library versions, GPU and CPU, git revision; and folder names for a GPU kind."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from diffbench.build import torch_fixes
from diffbench.measure.instruments import GIB


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


PACKAGE_DIR = Path(__file__).parent


def _git_revision(root: Path | None = None) -> str | None:
    """The suite's revision: the checkout the package runs from (editable install), else the checkout the suite
    is run from (`root`: pytest's rootdir, or the working directory), which is where a non-editable
    `pip install .` came from; else the installed version, labelled as such."""
    if os.environ.get("DIFFBENCH_GIT_REVISION"):  # set where the tree travels without .git (the GPU box)
        return os.environ["DIFFBENCH_GIT_REVISION"]
    installed = bool({"site-packages", "dist-packages"} & set(PACKAGE_DIR.parts))  # any git around it is not ours
    for folder in [*([] if installed else [PACKAGE_DIR]), root or Path.cwd()]:
        try:
            out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 timeout=5, cwd=folder)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    version = _version("diffbench")
    return f"no git checkout; installed diffbench {version}" if version else None


def environment(root: Path | None = None) -> dict[str, Any]:
    """The fingerprint every result carries: what ran, on what (`root`: the checkout the suite runs from)."""
    env: dict[str, Any] = dict(
        python=platform.python_version(),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        **{pkg: _version(pkg) for pkg in ("diffusers", "torchao", "transformers", "open-clip-torch")},
        diffbench=_version("diffbench"),
        diffbench_git=_git_revision(root),
        cpu=_cpu_model(),
        cpu_count=os.cpu_count(),
        compile_cache_dir=os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
        torch_fixes=torch_fixes.applied(),
    )
    if torch.cuda.is_available():
        device = torch.cuda.current_device()  # an xdist worker's own GPU
        props = torch.cuda.get_device_properties(device)
        env.update(
            gpu=props.name,
            gpu_sm=".".join(map(str, torch.cuda.get_device_capability(device))),
            gpu_memory_gib=props.total_memory / GIB,
            gpu_count=torch.cuda.device_count(),
            driver=_nvidia_smi("driver_version"),
        )
    else:
        env.update(gpu=None)
    return env


def _cpu_model() -> str | None:
    """The host CPU's model name: host-bound scenarios run at its speed, so it is part of what makes runs
    comparable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or None


def _nvidia_smi(field: str) -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None
