"""`diffbench report`: markdown in the seeds' layout, one row per scenario, and a non-empty plot per model."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_results import noisy, write_results

from diffbench import cli, report, results

ROOT = Path(__file__).resolve().parents[1]
H100_RUN = ROOT / "baselines/nvidia-h100-80gb-hbm3/runs/flux-dev-bf16-fp8dqrow-eager.json"
HEADER = ("| ckpt | batch_size | fuse | compile | compile_vae | quantization | model_memory | inference_memory "
          "| time | step_s | first_call_s |")
FLUX = ["flux-dev-bf16-eager-nofuse-bs1", "flux-dev-fp8dqrow-eager-nofuse-bs1",
        "flux-dev-fp8dqrow-regional-fuse-bs1", "flux-dev-bf16-eager-nofuse-bs4"]
SDXL = ["sdxl-int8wo-compile-nofuse-bs1"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run_file(tmp_path) -> Path:
    rounds = {s: noisy(1.0 + i, seed=i) for i, s in enumerate(FLUX + SDXL)}
    return write_results(
        tmp_path / "run.json", rounds, info={SDXL[0]: {"quality": {"ssim": {"mean": 0.9712, "min": 0.95}}}},
        failures=[dict(scenario="flux-dev-int4wo-eager-nofuse-bs1", error_type="OutOfMemoryError", message="oom")],
        skipped=[dict(scenario="flux-dev-nvfp4-eager-nofuse-bs1", reason="nvfp4 needs SM 10.0+")],
    )


def test_markdown_in_the_seeds_layout(run_file, tmp_path):
    out = tmp_path / "report"
    assert cli.main(["report", str(run_file), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    lines = text.splitlines()
    assert lines.count(HEADER) == 1  # flux-dev; sdxl's table adds its quality column
    assert lines.count(HEADER + " ssim |") == 1
    flux_rows = [line for line in lines if line.startswith("| black-forest-labs/FLUX.1-dev |")]
    assert len(flux_rows) == len(FLUX)
    assert "| black-forest-labs/FLUX.1-dev | 1 | True | regional | False | fp8dqrow | 20.000 | 23.000 |" in text
    assert "| black-forest-labs/FLUX.1-dev | 4 | False | eager | False | bf16 | 30.000 | 33.000 |" in text
    sdxl_row, = [line for line in lines if line.startswith("| stabilityai/stable-diffusion-xl-base-1.0")]
    assert sdxl_row.endswith("| 0.9712 |")
    assert "nvfp4 needs SM 10.0+" in text and "OutOfMemoryError: oom" in text


def test_a_non_empty_png_per_model(run_file, tmp_path):
    written = report.write(results.load(run_file), tmp_path / "report")
    assert [p.name for p in written] == ["report.md", "flux-dev.png", "sdxl.png"]
    for png in written[1:]:
        assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000


def test_time_is_the_median_of_the_rounds(tmp_path):
    run = write_results(tmp_path / "run.json", {FLUX[0]: [2.0, 9.0, 2.5]})
    (headers, (row,)) = report.table("flux-dev", list(results.load(run).measurements.values()))
    assert row[headers.index("time")] == "2.500"


def test_pareto_front():
    points = [(30.0, 5.0), (20.0, 9.5), (25.0, 9.6), (22.0, 7.0), (30.0, 4.0), (40.0, 4.0)]
    assert report.pareto_front(points) == [1, 3, 4]


def test_the_committed_h100_run(tmp_path):
    out = tmp_path / "h100"
    assert cli.main(["report", str(H100_RUN), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert HEADER in text and "NVIDIA H100 80GB HBM3" in text
    assert "| black-forest-labs/FLUX.1-dev | 1 | False | eager | False | bf16 | 31.434 | 33.848 | 5.295 |" in text
    assert (out / "flux-dev.png").stat().st_size > 0


def test_corrupt_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"benchmarks": ')
    assert cli.main(["report", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
