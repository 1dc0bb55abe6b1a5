"""The seed documents' published figures (data/seed_figures.toml) and the rule matching them to our scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_results import H100, noisy, write_results

from diffbench.store import results
from diffbench.face import seeds

SOURCES = {"diffusers-torchao-README-v1.md", "diffusers-torchao-README-v2.md"}
FULL_SIZE = dict(steps=28, height=1024, width=1024)


@pytest.fixture(scope="module")
def figures() -> seeds.Seeds:
    return seeds.load()


def test_every_row_is_cited_and_complete(figures):
    assert figures.rows and figures.headlines
    for row in figures.rows:
        assert row.source in SOURCES and row.section and row.lines
        assert row.gpu == "H100"
        assert isinstance(row.get("time"), float) and isinstance(row.get("model_memory"), float)
        assert isinstance(row.get("batch_size"), int) and isinstance(row.get("compile"), bool)
    flux = [row for row in figures.rows if row.model == "flux-dev"]
    assert sum(row.get("batch_size") == 1 for row in flux) == 22  # every batch-1 row of the FLUX tables
    assert sum(row.get("quantization") == "fp8dqrow" for row in flux) == 10  # 8 + 2 at batch 16
    assert sum(row.model == "cogvideox-5b" for row in figures.rows) == 16
    quoted = {(h.model, h.time) for h in figures.headlines}
    assert {("flux-dev", 6.431), ("flux-dev", 2.966), ("cogvideox-5b", 76.70)} <= quoted


def _measurement(tmp_path: Path, scenario: str, **info) -> results.Measurement:
    path = write_results(tmp_path / f"{scenario}.json", {scenario: noisy(3.0)}, info={scenario: FULL_SIZE | info})
    return results.load(path).measurements[scenario]


@pytest.mark.parametrize("mode", ["compile", "max-autotune", "regional"])
def test_any_compiled_mode_matches_the_seeds_max_autotune(figures, tmp_path, mode):
    row = seeds.seed_row(_measurement(tmp_path, f"flux-dev-bf16-{mode}-nofuse-bs1"), H100, figures)
    assert row is not None and row.get("compile") is True and row.get("quantization") == "None"
    assert (row.get("time"), row.get("model_memory")) == (4.209, 31.438)


def test_eager_matches_uncompiled_and_everything_must_agree(figures, tmp_path):
    row = seeds.seed_row(_measurement(tmp_path, "flux-dev-int8wo-eager-fuse-bs4"), H100, figures)
    assert (row.get("compile"), row.get("fuse"), row.get("batch_size"), row.get("time")) == (False, True, 4, 29.394)
    compiled_vae = _measurement(tmp_path, "flux-dev-fp8dqrow-regional-fuse-bs1", compile_vae=True)
    assert seeds.seed_row(compiled_vae, H100, figures).get("time") == 2.966  # the headline row
    for unmatched in [_measurement(tmp_path, "flux-dev-fp8dqrow-eager-nofuse-bs1"),  # not published eager
                      _measurement(tmp_path, "flux-dev-bf16-eager-nofuse-bs2"),  # no batch 2
                      _measurement(tmp_path, "flux-dev-bf16-eager-nofuse-bs1", height=512)]:  # other settings
        assert seeds.seed_row(unmatched, H100, figures) is None
    assert seeds.seed_row(_measurement(tmp_path, "flux-dev-bf16-eager-nofuse-bs1"), "NVIDIA A100", figures) is None


def test_cogvideox_batch_and_settings_come_from_the_text(figures, tmp_path):
    video = dict(steps=50, height=480, width=720, frames=49)
    m = _measurement(tmp_path, "cogvideox-5b-fp8dqrow-compile-fuse-bs1", **video)
    assert seeds.seed_row(m, H100, figures).get("time") == 76.705


def test_a_malformed_or_ambiguous_file_is_refused(tmp_path):
    text = seeds.FIGURES.read_text()
    short_row = tmp_path / "short.toml"
    short_row.write_text(text.replace("[4, true, true, false, \"fp8wo\", false, 22.368, 35.616, 16.204],",
                                      "[4, true, true, false, \"fp8wo\", false, 22.368, 35.616],", 1))
    with pytest.raises(seeds.SeedDataError, match="short.toml"):
        seeds.load(short_row)
    twice = tmp_path / "twice.toml"
    twice.write_text(text.replace("[1, true, true, false, \"fp8dqrow\", false, 22.376, 35.827, 3.03],",
                                  "[1, true, true, false, \"fp8dqrow\", false, 22.376, 35.827, 3.03],\n"
                                  "  [1, true, true, false, \"fp8dqrow\", false, 22.0, 35.0, 3.5],", 1))
    with pytest.raises(seeds.SeedDataError, match="two rows for one configuration"):
        seeds.load(twice)
