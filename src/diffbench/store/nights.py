"""The nightly history store: each night's results file kept as it was written, one file per night, in
`baselines/<gpu kind>/history/` (README "The nightly gate"). A night joins only through `diffbench gate --append`
(after the gate passed) or `--accept` (a person's decision): a bad night never becomes the baseline on its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from diffbench.store import atomic
from diffbench.store.results import Results


def night_name(results: Results) -> str:
    """`<date>T<time>-<git revision>.json`: sorted by name is sorted by date."""
    when = re.sub(r"[^0-9T]", "", (results.datetime or "unknown").split(".")[0].split("+")[0])
    revision = re.sub(r"[^0-9A-Za-z]", "", str(results.env.get("diffbench_git") or "unknown"))[:12] or "unknown"
    return f"{when}-{revision}.json"


def append(folder: Path, results: Results) -> Path:
    """Copy the night's results file into the store (atomically; an existing night is never overwritten)."""
    target = folder / night_name(results)
    if target.exists():
        raise FileExistsError(f"{target} exists: this night is already in the history")
    atomic.atomic_write_bytes(target, results.path.read_bytes())
    return target
