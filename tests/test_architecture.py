"""The layers' import rules (pyproject's [tool.importlinter] contracts), what importing each layer costs, and the
lint rules the code keeps (pyproject's [tool.ruff])."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    lint_imports = shutil.which("lint-imports") or pytest.fail("lint-imports not installed (pip install -e '.[test]')")
    result = subprocess.run([lint_imports, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


def test_the_code_keeps_the_lint_rules():
    ruff = shutil.which("ruff") or pytest.fail("ruff not installed (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", ["diffbench.spec.matrix", "diffbench.spec.rules", "diffbench.spec.schemes",
                                    "diffbench.spec.models", "diffbench.face.compare", "diffbench.face.verdicts",
                                    "diffbench.face.report", "diffbench.face.cli", "diffbench.store.results",
                                    "diffbench.store.merge"])
def test_data_and_face_import_no_torch(module):
    """spec is data and face reads the store: importing them must not import torch (comparing needs no torch)."""
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'torchao', 'diffusers') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"{module} imports {result.stdout.strip()}"
