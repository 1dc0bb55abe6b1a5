"""Baseline files written atomically keep the mode any new file gets (0o666 less the umask), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from diffbench.store import atomic


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_atomic_writes_get_the_usual_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic.write_json(tmp_path / "ref.json", dict(settings={}))
        atomic.write_arrays(tmp_path / "ref.npz", images=np.zeros((1, 2, 2, 3), np.uint8))
    finally:
        os.umask(previous)
    for name in ("ref.json", "ref.npz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
