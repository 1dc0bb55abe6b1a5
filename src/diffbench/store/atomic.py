"""Baseline files: atomic writes, and reads that refuse a corrupt file instead of treating it as missing.

Every write goes to a temporary file in the same folder and is renamed into place, so a crash never leaves
half a baseline. A file that exists but cannot be read is an error naming the file: it is never overwritten.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1


class CorruptBaseline(Exception):
    """A baseline file exists but cannot be used; the message names it and says what to do."""


def _default_file_mode() -> int:
    """The mode `open()` would give a new file: 0o666 less the umask (read by setting it, then put back)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _default_file_mode())  # mkstemp makes it 0600: a shared baseline must be readable as usual
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict[str, Any]) -> None:
    payload = {"schema_version": SCHEMA_VERSION, **payload}
    atomic_write_bytes(path, (json.dumps(payload, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())


def read_json(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptBaseline(f"{path}: not valid JSON ({exc}); fix or delete it, it will not be overwritten") from None
    if not isinstance(payload, dict):
        raise CorruptBaseline(f"{path}: expected a JSON object")
    version = payload.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CorruptBaseline(f"{path}: schema version {version}, this diffbench reads {SCHEMA_VERSION}; "
                              "regenerate it with --update-baselines")
    return payload


def write_arrays(path: Path, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CorruptBaseline(f"{path}: unreadable ({type(exc).__name__}: {exc}); "
                              "fix or delete it, it will not be overwritten") from None
