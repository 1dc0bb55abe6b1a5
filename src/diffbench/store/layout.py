"""Where results live in a baseline store: one folder per GPU kind (`baselines/<gpu slug>/`, `cpu` without one)."""

from __future__ import annotations


def slug(name: str) -> str:
    """A folder name for a device: 'NVIDIA H100 80GB HBM3' → 'nvidia-h100-80gb-hbm3'."""
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def gpu_folder(gpu: str | None) -> str:
    """The store folder of a run's GPU, `cpu` for a run without one."""
    return slug(gpu) if gpu else "cpu"
