"""Synthetic results files shaped like the suite's pytest-benchmark JSON, for the compare/report tests."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

H100 = "NVIDIA H100 80GB HBM3"
ID = re.compile(r"(?P<model>.+)-(?P<scheme>[^-]+)-(?P<compile>eager|compile|max-autotune|regional-all|regional-breaks"
                r"|regional)-(?P<fuse>fuse|nofuse)-bs(?P<batch>\d+)(?P<rest>-.+)?")


def noisy(median: float, noise: float = 0.02, rounds: int = 5, seed: int = 0) -> list[float]:
    """`rounds` times spread uniformly within ±noise around `median` (seeded)."""
    return list(median * (1 + np.random.default_rng(seed).uniform(-noise, noise, rounds)))


def _stats(rounds: list[float]) -> dict[str, Any]:
    q1, q3 = (float(q) for q in np.percentile(rounds, [25, 75]))
    return dict(min=min(rounds), max=max(rounds), mean=statistics.fmean(rounds),
                stddev=statistics.stdev(rounds) if len(rounds) > 1 else 0.0, rounds=len(rounds),
                median=statistics.median(rounds), iqr=q3 - q1, q1=q1, q3=q3, data=rounds, iterations=1,
                # the rest of what pytest-benchmark writes (its `compare` needs them)
                iqr_outliers=0, stddev_outliers=0, outliers="0;0", ld15iqr=min(rounds), hd15iqr=max(rounds),
                ops=1 / statistics.fmean(rounds), total=sum(rounds))


def _info(scenario: str) -> dict[str, Any]:
    fields = ID.fullmatch(scenario).groupdict()
    return dict(scenario=scenario, model=fields["model"], scheme=fields["scheme"], compile=fields["compile"],
                fuse_qkv=fields["fuse"] == "fuse", batch=int(fields["batch"]), compile_vae=False,
                weights="synthetic", model_memory_gib=30.0 if fields["scheme"] == "bf16" else 20.0,
                peak_memory_gib=33.0 if fields["scheme"] == "bf16" else 23.0, first_call_s=8.0, step_s=0.2)


def write_results(path: Path, rounds: dict[str, list[float]], *, gpu: str | None = H100,
                  weights: str = "synthetic", info: dict[str, dict[str, Any]] | None = None,
                  failures: Sequence[dict[str, Any]] = (), skipped: Sequence[dict[str, Any]] = (),
                  keep_data: bool = True, datetime: str = "2026-11-23T07:05:34+00:00",
                  env: dict[str, Any] | None = None, session: dict[str, Any] | None = None) -> Path:
    """Write a results file: scenario id → per-round seconds; `info` overrides extra_info fields per scenario,
    `env` machine_info.diffbench fields, `session` the diffbench section's (command, session_wall_s, ...)."""
    benchmarks = []
    for scenario, times in rounds.items():
        stats = _stats(times)
        if not keep_data:
            del stats["data"]
        benchmarks.append(dict(
            group=None, name=f"test_latency[{scenario}]", param=scenario,
            fullname=f"benchmarks/test_pipelines.py::test_latency[{scenario}]",
            extra_info=_info(scenario) | (info or {}).get(scenario, {}), stats=stats,
        ))
    data = dict(
        machine_info=dict(node="test", diffbench=dict(gpu=gpu, weights=weights, torch="2.11.0", torchao="0.18.0")
                          | (env or {})),
        commit_info={}, benchmarks=benchmarks, datetime=datetime, version="5.2.3",
    )
    if failures or skipped or session:
        data["diffbench"] = dict(failures=list(failures), skipped=list(skipped), **(session or {}))
    path.write_text(json.dumps(data))
    return path
