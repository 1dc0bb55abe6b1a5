"""`diffbench report`: markdown in the seeds' layout, one row per scenario, and a non-empty plot per model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_results import noisy, write_results

from diffbench.face import cli, readme, report, seeds
from diffbench.store import results

ROOT = Path(__file__).resolve().parents[1]
H100_RUN = ROOT / "baselines/nvidia-h100-80gb-hbm3/runs/flux-dev-bf16-fp8dqrow-eager.json"
HEADER = ("| ckpt | batch_size | fuse | compile | compile_vae | quantization | model_memory | inference_memory "
          "| time | step_s | first_call_s |")
FLUX = ["flux-dev-bf16-eager-nofuse-bs1", "flux-dev-fp8dqrow-eager-nofuse-bs1",
        "flux-dev-fp8dqrow-regional-fuse-bs1", "flux-dev-bf16-eager-nofuse-bs4"]
SDXL = ["sdxl-int8wo-compile-nofuse-bs1"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FLUX_CKPT = "synthetic (black-forest-labs/FLUX.1-dev config)"  # the fake runs' weights are synthetic
SDXL_CKPT = "synthetic (stabilityai/stable-diffusion-xl-base-1.0 config)"


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
    flux_rows = [line for line in lines if line.startswith(f"| {FLUX_CKPT} |")]
    assert len(flux_rows) == len(FLUX)
    assert f"| {FLUX_CKPT} | 1 | True | regional | False | fp8dqrow | 20.000 | 23.000 |" in text
    assert f"| {FLUX_CKPT} | 4 | False | eager | False | bf16 | 30.000 | 33.000 |" in text
    sdxl_row, = [line for line in lines if line.startswith(f"| {SDXL_CKPT} |")]
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
    assert f"| {FLUX_CKPT} | 1 | False | eager | False | bf16 | 31.434 | 33.848 | 5.295 |" in text
    assert (out / "flux-dev.png").stat().st_size > 0


def test_corrupt_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"benchmarks": ')
    assert cli.main(["report", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- several runs, the seeds' published figures, the README section ----

SEED_HEADER_END = "| seed_time | seed_model_memory |"
FULL_SIZE = dict(steps=28, height=1024, width=1024)  # the settings the seeds state for FLUX.1-dev


def _row(text: str, *cells: str) -> str:
    """The one markdown row starting with the FLUX ckpt and these cells."""
    prefix = "| " + " | ".join([FLUX_CKPT, *cells]) + " |"
    rows = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, (prefix, rows)
    return rows[0]


def test_a_report_over_two_files(run_file, tmp_path, capsys):
    later = write_results(tmp_path / "later.json",
                          {FLUX[0]: noisy(7.0), "flux-dev-fp8wo-eager-nofuse-bs1": noisy(8.0, seed=9)},
                          datetime="2026-11-24T09:00:00+00:00")
    out = tmp_path / "report"
    assert cli.main(["report", str(run_file), str(later), "--out", str(out)]) == 0
    assert f"{FLUX[0]}: later.json" in capsys.readouterr().err  # the duplicate is reported
    text = (out / "report.md").read_text()
    assert "# diffbench report: run.json + later.json" in text and "Merged from 2 run files" in text
    flux_rows = [line for line in text.splitlines() if line.startswith(f"| {FLUX_CKPT} |")]
    assert len(flux_rows) == len(FLUX) + 1  # the duplicate once, the new scenario added
    later_time = float(_row(text, "1", "False", "eager", "False", "bf16").split(" | ")[8])
    assert later_time == pytest.approx(7.0, rel=0.03)  # the later file's figure
    assert SEED_HEADER_END not in text  # no seed columns without --seeds


def test_seeds_add_the_published_figures_where_a_seed_row_matches(tmp_path):
    rounds = {s: noisy(3.0, seed=i) for i, s in enumerate(FLUX + SDXL + ["flux-dev-fp8dqrow-regional-nofuse-bs1"])}
    run = write_results(tmp_path / "run.json", rounds, info={s: FULL_SIZE for s in rounds})
    out = tmp_path / "report"
    assert cli.main(["report", str(run), "--out", str(out), "--seeds"]) == 0
    text = (out / "report.md").read_text()
    assert text.count(HEADER.removesuffix(" |") + " " + SEED_HEADER_END) == 2  # flux-dev and sdxl
    # bf16 eager bs1 ↔ the seeds' quantization None, compile False: 6.573 s, 31.438 GB (README v2, line 120)
    assert _row(text, "1", "False", "eager", "False", "bf16").endswith("| 6.573 | 31.438 |")
    # our regional compile ↔ the seeds' compile=True (max-autotune): fp8dqrow bs1 nofuse, no VAE compile
    assert _row(text, "1", "False", "regional", "False", "fp8dqrow").endswith("| 3.039 | 20.370 |")
    assert _row(text, "1", "True", "regional", "False", "fp8dqrow").endswith("| 3.030 | 22.376 |")  # fused
    # the seeds published fp8dqrow compiled only; and nothing for SDXL
    assert _row(text, "1", "False", "eager", "False", "fp8dqrow").endswith("| — | — |")
    sdxl_row, = [line for line in text.splitlines() if line.startswith(f"| {SDXL_CKPT} |")]
    assert sdxl_row.endswith("| — | — |")
    assert "published by the seed documents, not measured here" in text
    assert "diffusers-torchao-README-v2.md" in text and 'mode="max-autotune"' in text and "`regional`" in text
    assert "2.966 s" in text  # the quoted headline figure, listed as the seeds'


def test_seed_figures_need_the_settings_the_seeds_state(tmp_path):
    quick = write_results(tmp_path / "quick.json", {FLUX[0]: noisy(1.0)}, info={FLUX[0]: dict(FULL_SIZE, steps=4)})
    (headers, (row,)) = report.table("flux-dev", list(results.load(quick).measurements.values()),
                                     seeds.load(), results.load(quick).gpu)
    assert row[headers.index("seed_time")] == "—"  # 4 steps are not the seeds' 28
    a100 = write_results(tmp_path / "a100.json", {FLUX[0]: noisy(1.0)}, info={FLUX[0]: FULL_SIZE},
                         gpu="NVIDIA A100-SXM4-80GB")
    (headers, (row,)) = report.table("flux-dev", list(results.load(a100).measurements.values()),
                                     seeds.load(), "NVIDIA A100-SXM4-80GB")
    assert row[headers.index("seed_time")] == "—"  # the FLUX figures are H100 figures


def _readme(path: Path, markers: bool = True) -> Path:
    middle = f"{readme.START}\nold generated text\n{readme.END}\n" if markers else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Project\n\nIntro.\n\n## Measured results\n\nSee below.\n\n{middle}\n## After\n\nMore.\n")
    return path


def test_readme_section_is_replaced_and_nothing_else(run_file, tmp_path):
    doc = _readme(tmp_path / "docs" / "README.md")
    before = doc.read_text()
    out = tmp_path / "baselines" / "report"
    argv = ["report", str(run_file), "--seeds", "--out", str(out), "--readme", str(doc)]
    assert cli.main(argv) == 0
    after = doc.read_text()
    head, tail = before.split(readme.START)[0], before.split(readme.END)[1]
    assert after.startswith(head + readme.START) and after.endswith(readme.END + tail)
    section = after.split(readme.START)[1].split(readme.END)[0]
    assert "old generated text" not in section and "generated by `diffbench report" in section
    assert "### diffbench report: run.json" in section and "#### flux-dev" in section  # under a ## section
    assert "![flux-dev: latency vs peak memory](../baselines/report/flux-dev.png)" in section
    assert (doc.parent / "../baselines/report/flux-dev.png").exists()
    assert SEED_HEADER_END in section
    assert cli.main(argv) == 0 and doc.read_text() == after  # idempotent


def test_readme_without_markers_is_refused(run_file, tmp_path, capsys):
    doc = _readme(tmp_path / "README.md", markers=False)
    before = doc.read_text()
    out = tmp_path / "report"
    assert cli.main(["report", str(run_file), "--out", str(out), "--readme", str(doc)]) == 2
    assert readme.START in capsys.readouterr().err
    assert doc.read_text() == before and not out.exists()


def test_memory_strategy_columns_appear_only_when_used(tmp_path):
    scenario = "flux-dev-bf16-eager-nofuse-bs1"
    plain = write_results(tmp_path / "plain.json", {scenario: [1.0, 1.1, 1.0]})
    headers, _ = report.table("flux-dev", list(results.load(plain).measurements.values()))
    assert "offload" not in headers and "host_peak_rss" not in headers
    offloaded = write_results(tmp_path / "offload.json", {scenario: [2.0, 2.1, 2.0]},
                              info={scenario: dict(offload="model", host_peak_rss_gib=12.5)})
    measurements = list(results.load(offloaded).measurements.values())
    headers, rows = report.table("flux-dev", measurements)
    assert rows[0][headers.index("offload")] == "model" and rows[0][headers.index("host_peak_rss")] == "12.500"
    assert "vae" not in headers
    assert report.label(measurements[0]) == "bf16/eager+offload model"


def test_plot_labels_stay_apart_and_a_wide_latency_span_goes_log(tmp_path):
    # Ten scenarios at the same memory and near-equal times: their labels must not pile onto each other.
    times = {f"flux-dev-bf16-eager-nofuse-bs{b}": [3.0 + 0.01 * b] * 3 for b in range(1, 11)}
    measurements = list(results.load(write_results(tmp_path / "near.json", times)).measurements.values())
    fig = report.figure(measurements, "near")
    [ax] = fig.axes
    boxes = [t.get_window_extent() for t in ax.texts]
    assert len(boxes) == 10
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert ax.get_yscale() == "linear"
    spread = {"flux-dev-bf16-eager-nofuse-bs1": [3.0] * 3, "flux-dev-int8dq-eager-nofuse-bs1": [47.0] * 3}
    fig = report.figure(list(results.load(write_results(tmp_path / "wide.json", spread)).measurements.values()), "w")
    assert fig.axes[0].get_yscale() == "log"


def test_an_interrupted_scenario_is_reported(run_file, tmp_path):
    data = json.loads(run_file.read_text())
    data["diffbench"]["interrupted"] = dict(scenario="flux-dev-int8dq-regional-nofuse-bs1", phase="call",
                                            elapsed_s=238.7)
    run_file.write_text(json.dumps(data))
    assert cli.main(["report", str(run_file), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Interrupted\n\n- `flux-dev-int8dq-regional-nofuse-bs1`: the session was stopped in it (phase call, " \
           "after 238.7 s)" in text


@pytest.mark.parametrize("weights, shown", [
    ("tiny", "tiny (black-forest-labs/FLUX.1-dev config)"),
    ("synthetic", FLUX_CKPT),
    ("proxy", "proxy"),
    ("black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-dev"),  # real weights: the hub id or folder
    ("/data/flux-finetune", "/data/flux-finetune"),
])
def test_ckpt_says_which_weights_ran(tmp_path, weights, shown):
    """Random weights are never shown as the real checkpoint they copy the config of."""
    run = write_results(tmp_path / "run.json", {FLUX[0]: [1.0, 1.1]}, weights=weights,
                        info={FLUX[0]: {"weights": weights}})
    (headers, (row,)) = report.table("flux-dev", list(results.load(run).measurements.values()))
    assert row[headers.index("ckpt")] == shown
    old = write_results(tmp_path / "old.json", {FLUX[0]: [1.0, 1.1]}, weights=weights,
                        info={FLUX[0]: {"weights": None}})
    loaded = results.load(old)  # a file whose rows do not record their weights: the run's source is used
    (headers, (row,)) = report.table("flux-dev", list(loaded.measurements.values()), weights=loaded.weights)
    assert row[headers.index("ckpt")] == shown


def test_a_speed_quality_front_is_drawn_where_the_run_measured_quality(tmp_path):
    uncached, cached = "flux-dev-bf16-eager-nofuse-bs1", "flux-dev-bf16-eager-nofuse-bs1-cache-pab"
    run = write_results(tmp_path / "run.json", {uncached: [2.0, 2.1, 2.0], cached: [1.5, 1.6, 1.5]}, info={
        uncached: {"quality": {"ssim": {"mean": 1.0, "min": 1.0}}},
        cached: {"cache": "pab", "quality": {"ssim": {"mean": 0.97, "min": 0.95}},
                 "cache_work": {"kind": "lossy, fixed schedule", "computed_fraction": 0.85}}})
    written = report.write(results.load(run), tmp_path / "report")
    front = tmp_path / "report" / "flux-dev-speed-quality.png"
    assert front in written and front.read_bytes().startswith(PNG_MAGIC)
    assert "![flux-dev: speed vs quality, Pareto set marked](flux-dev-speed-quality.png)" in written[0].read_text()
    no_quality = write_results(tmp_path / "plain.json", {uncached: [2.0, 2.1, 2.0]})
    assert not any("speed-quality" in p.name for p in report.write(results.load(no_quality), tmp_path / "plain"))


def _quality_log(path: Path, metrics: dict[str, float], gpu: str = "NVIDIA H100 80GB HBM3",
                 weights: str = "synthetic") -> Path:
    records = [dict(scenario=s, weights=weights, metrics=dict(ssim=dict(per_prompt=[v], mean=v, min=v, max=v)))
               for s, v in metrics.items()]
    path.write_text(json.dumps(dict(environment=dict(gpu=gpu), results=records)))
    return path


def test_a_quality_log_fills_the_quality_of_scenarios_timed_without_it(run_file, tmp_path, capsys):
    log = _quality_log(tmp_path / "quality.json", {FLUX[1]: 0.9876, SDXL[0]: 0.5})
    out = tmp_path / "report"
    assert cli.main(["report", str(run_file), "--quality", str(log), "--out", str(out)]) == 0
    assert f"{FLUX[1]}: quality from quality.json" in capsys.readouterr().err
    text = (out / "report.md").read_text()
    assert "0.9876" in text  # joined to the timed fp8dqrow row
    assert "0.9712" in text and "| 0.5000 |" not in text  # the run's own quality wins over the log's
    other_gpu = _quality_log(tmp_path / "h200.json", {FLUX[1]: 0.9}, gpu="NVIDIA H200")
    assert cli.main(["report", str(run_file), "--quality", str(other_gpu), "--out", str(out)]) == 2
    assert "another setup" in capsys.readouterr().err
    assert cli.main(["report", str(run_file), "--quality", str(run_file), "--out", str(out)]) == 2
    assert "not a quality log" in capsys.readouterr().err
