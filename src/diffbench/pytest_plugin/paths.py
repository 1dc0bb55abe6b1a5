"""Every path a session will write to or read from, checked before anything is built: a bad one is a
`UsageError` (pytest: exit 4) of one line naming the option, never a traceback after minutes of building.

A folder counts as writable when a file can be made in it (or, not there yet, in its nearest existing parent),
tried for real: permission bits say nothing for root or on a read-only mount.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from diffbench.spec.matrix import UsageError

HUB_TIMEOUT_S = 5.0  # the one cheap hub request that tells a typo from a model: never a hang
_NAMED = "--weights tiny|synthetic|proxy"  # what runs with no download


def unwritable(folder: Path) -> str | None:
    """Why no file can be written in `folder` (made when missing), None when one can."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror or exc})"
    return None


def writable(folder: Path) -> bool:
    return unwritable(folder) is None


def check_folder(value: str | os.PathLike | None, option: str) -> Path | None:
    """A folder option (created when missing): UsageError unless it is, or can become, a writable folder."""
    if value is None:
        return None
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {value}: is a file, not a folder")
    if (why := unwritable(folder)) is not None:
        raise UsageError(f"{option} {value}: cannot write there: {why}")
    return folder


def check_output_file(value: str | os.PathLike | None, option: str, makes_folder: bool) -> Path | None:
    """A file the session writes at its end: its folder must take a file (exist, unless the writer makes it)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise UsageError(f"{option} {value}: is a folder; give a file name")
    if not makes_folder and not path.parent.is_dir():
        raise UsageError(f"{option} {value}: no such folder {path.parent}")
    if (why := unwritable(path.parent)) is not None:
        raise UsageError(f"{option} {value}: cannot write there: {why}")
    return path


def looks_like_path(value: str) -> bool:
    """A --weights value meant as a local folder rather than a hub id (`org/name` or `name`)."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or os.sep != "/" and os.sep in value


def check_weights(value: str) -> None:
    """A --weights value that is neither tiny/synthetic/proxy: an existing local folder, or a hub id that the hub
    (or, offline, the local hub cache) has. Offline is HF_HUB_OFFLINE, or the hub not answering within
    HUB_TIMEOUT_S."""
    if Path(value).expanduser().exists():
        return
    if looks_like_path(value):
        raise UsageError(f"--weights {value}: no such folder (a local pipeline folder, a hub id such as "
                         f"org/name, or {_NAMED})")
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        if isinstance(try_to_load_from_cache(value, "model_index.json"), str):
            return  # in the local hub cache: runs offline too
    except HFValidationError:
        raise UsageError(f"--weights {value}: no such folder, and not a hub id (org/name); or {_NAMED}") from None
    if constants.HF_HUB_OFFLINE:
        raise UsageError(f"--weights {value}: a hub id, but the hub is offline (HF_HUB_OFFLINE) and it is not in "
                         f"the local hub cache; use {_NAMED} or a local folder")
    try:
        HfApi().model_info(value, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        raise UsageError(f"--weights {value}: gated on the hub; accept its terms and log in (hf auth login), or "
                         f"use {_NAMED}") from None
    except RepositoryNotFoundError:
        raise UsageError(f"--weights {value}: no such model on the hub (or private: log in with hf auth login), "
                         f"and no such folder; or {_NAMED}") from None
    except Exception as exc:  # the network's own errors (no connection, DNS, timeout) differ by HTTP client
        raise UsageError(f"--weights {value}: the hub cannot be reached ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no answer'}), so it cannot be downloaded; "
                         f"use {_NAMED} or a local folder") from None
