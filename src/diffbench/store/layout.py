"""Where results live in a baseline store: one folder per GPU kind (`baselines/<gpu slug>/`, `cpu` without one)."""

from __future__ import annotations


def slug(name: str) -> str:
    """A folder name for a device: 'NVIDIA H100 80GB HBM3' → 'nvidia-h100-80gb-hbm3'."""
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def gpu_folder(gpu: str | None) -> str:
    """The store folder of a run's GPU, `cpu` for a run without one."""
    return slug(gpu) if gpu else "cpu"


# Committed runs slowed on purpose before results recorded `injected_slowdown` (path under baselines/ → the
# scenario slowed, where, fraction): tools/slowdown_plugin.py's host sleep after each pipeline call of that scenario;
# the run's other scenarios are clean nights.
SLOWED = {
    "nvidia-h200/gate/flux-fp8dqrow-regional-sleep-0.10.json": ("flux-dev-fp8dqrow-regional-fuse-bs1", "host", 0.10),
    "nvidia-h200/gate/flux-fp8dqrow-regional-sleep-0.04.json": ("flux-dev-fp8dqrow-regional-fuse-bs1", "host", 0.04),
    "nvidia-h200/gate/flux-run-c-fp8dqrow-regional-10pct-slower.json": ("flux-dev-fp8dqrow-regional-fuse-bs1", "host",
                                                                        0.10),
}
# Committed runs whose rows do not measure what their ids say (README "Attention kernels": the pin sat around the
# denoiser's forward, so the regional graphs were traced outside it): never nights.
NOT_NIGHTS = {
    "nvidia-h100-80gb-hbm3/runs/flux-dev-attention-cold.json",
    "nvidia-h100-80gb-hbm3/runs/flux-dev-attention-warm.json",
    "nvidia-h100-80gb-hbm3/runs/flux-dev-attention-whole-pipeline-pin.json",
}
