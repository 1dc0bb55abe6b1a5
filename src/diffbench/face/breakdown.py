"""Where a call's time goes, from a result's profiled kernels (`gpu_top_kernels`, `gpu_kernel_s`,
`attention_gpu_s`): the host's share of the wall time, attention, GEMMs, inductor's fused kernels, the other named
kernels, and the GPU time of kernels too short to be among the longest recorded. Stored results only: no model runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from diffbench.spec.attention import ATTENTION_KERNEL_NAMES
from diffbench.store.results import Measurement

# Kernel classes of the longest kernels by the profiler's kernel name, first match wins. Attention is not among
# them: the result records every attention kernel's time (`attention_gpu_s`, the suite's own pattern), so its
# longest ones are only left out here. cuBLAS's Hopper GEMMs are named nvjet_*; inductor's generated kernels triton_*.
KERNEL_CLASSES: tuple[tuple[str, re.Pattern], ...] = (
    ("GEMM", re.compile(r"^(?!triton_).*(nvjet|gemm|xmma|cutlass|cublas)", re.IGNORECASE)),
    ("inductor", re.compile(r"^triton_")),
    ("other named", re.compile("")),
)
COLUMNS = ("wall", "host", "attention", *(name for name, _ in KERNEL_CLASSES), "rest")


@dataclass(frozen=True)
class Breakdown:
    scenario: str
    seconds: dict[str, float]  # per COLUMNS: wall, host (wall - GPU work), each kernel class, rest (unlisted kernels)
    run: str = ""  # when its run started (UTC, to the minute): rows of one run share a machine, others may not


def of(m: Measurement, run: str | None = None) -> Breakdown | None:
    """A profiled measurement's breakdown of its median wall time, or None without profiled kernels (recorded
    together with `attention_gpu_s`). `run`: its results file's datetime."""
    kernels, gpu, attention = m.get("gpu_top_kernels"), m.number("gpu_kernel_s"), m.number("attention_gpu_s")
    if not kernels or gpu is None or attention is None:
        return None
    seconds = dict.fromkeys(COLUMNS, 0.0)
    seconds["attention"] = attention
    for name, kernel_s in kernels:
        if not ATTENTION_KERNEL_NAMES.search(name):
            seconds[next(kind for kind, pattern in KERNEL_CLASSES if pattern.search(name))] += kernel_s
    # the longest kernels are summed per name and may overlap on several streams: rest never below zero
    seconds["rest"] = max(0.0, gpu - sum(seconds[c] for c in COLUMNS[2:-1]))
    seconds["wall"], seconds["host"] = m.median, max(0.0, m.median - gpu)
    return Breakdown(m.scenario, seconds, (run or "")[:16].replace("T", " "))


def markdown(breakdowns: list[Breakdown]) -> str:
    """One row per scenario, seconds per call (the shares of its wall time in brackets)."""
    head = "| scenario | run (UTC) | " + " | ".join(f"{c} s" for c in COLUMNS) + " |"
    lines = [head, "|---|---|" + "---:|" * len(COLUMNS)]
    for b in sorted(breakdowns, key=lambda b: b.seconds["wall"]):
        wall = b.seconds["wall"]
        cells = [f"{wall:.3f}"] + [f"{b.seconds[c]:.3f} ({b.seconds[c] / wall:.0%})" for c in COLUMNS[1:]]
        lines.append(f"| `{b.scenario}` | {b.run or '?'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
