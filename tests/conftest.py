"""Fixtures for the suite's own tests (CPU only)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One tiny-pipeline cache for the whole test session."""
    return tmp_path_factory.mktemp("diffbench-cache")


@pytest.fixture
def suite(pytester, cache_dir):
    """A pytester folder holding the real suite (conftest, benchmarks, quality, pytest config)."""
    pytester.makeconftest((ROOT / "conftest.py").read_text())
    pytester.makefile(".toml", pyproject=(ROOT / "pyproject.toml").read_text())
    for folder in ("benchmarks", "quality", "serialization", "quantization"):
        source = ROOT / folder
        if source.exists():
            for path in source.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    target = pytester.path / path.relative_to(ROOT)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
    pytester._monkeypatch.setenv("DIFFBENCH_CACHE", str(cache_dir))
    return pytester
