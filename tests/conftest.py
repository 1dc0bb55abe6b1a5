"""Fixtures for the suite's own tests (CPU only)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--force-regen", action="store_true", default=False,
                     help="rewrite the golden files from this run, on purpose, and fail the tests that did "
                          "(pytest-regressions' option): review the diff and commit it")


def pytest_collection_modifyitems(config, items):
    """`slow` on every test that runs the suite in a pytester subprocess (the `suite` fixture): each such session
    imports torch and builds pipelines, 10 s to minutes on CPU, so `pytest -m "not slow"` leaves them out. Tests
    that are slow in-process carry the mark themselves. `gpu` tests are skipped where no CUDA device is in use."""
    for item in items:
        if "suite" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    if any(item.get_closest_marker("gpu") for item in items):
        import torch

        if not torch.cuda.is_available():
            for item in items:
                if item.get_closest_marker("gpu"):
                    item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One tiny-pipeline cache for the whole test session."""
    return tmp_path_factory.mktemp("diffbench-cache")


@pytest.fixture
def suite(pytester, cache_dir, monkeypatch):
    """A pytester folder holding the real suite's test files and pytest config; the diffbench plugin itself comes
    from the installed package (its pytest11 entry point), as for a user."""
    pytester.makefile(".toml", pyproject=(ROOT / "pyproject.toml").read_text())
    for folder in ("benchmarks", "quality", "serialization", "quantization"):
        source = ROOT / folder
        if source.exists():
            for path in source.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    target = pytester.path / path.relative_to(ROOT)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(path.read_bytes())
    monkeypatch.setenv("DIFFBENCH_CACHE", str(cache_dir))
    # Under `pytest -n`, this test runs in an xdist worker: its session must not look like one to the plugin.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return pytester


@pytest.fixture
def tiny_flux():
    """The tiny FLUX denoiser (bf16, seeded, eval) and the inputs of one call: 16 image tokens, 8 text tokens."""
    import diffusers
    import torch

    from diffbench.spec.models import MODELS

    spec = MODELS["flux-dev"]
    config = spec.components[spec.denoiser].tiny
    torch.manual_seed(0)
    denoiser = diffusers.FluxTransformer2DModel(**config).to(torch.bfloat16).eval()
    image, text = 16, 8
    inputs = dict(hidden_states=torch.randn(1, image, config["in_channels"], dtype=torch.bfloat16),
                  encoder_hidden_states=torch.randn(1, text, config["joint_attention_dim"], dtype=torch.bfloat16),
                  pooled_projections=torch.randn(1, config["pooled_projection_dim"], dtype=torch.bfloat16),
                  timestep=torch.tensor([0.5]), img_ids=torch.zeros(image, 3), txt_ids=torch.zeros(text, 3),
                  guidance=torch.tensor([3.5]) if config.get("guidance_embeds") else None, return_dict=False)
    return denoiser, inputs
