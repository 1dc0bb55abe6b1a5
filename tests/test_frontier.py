"""`diffbench frontier`: FLUX.1-dev's rows per GPU kind from results files (the newest run of a step winning), lossy
marking, proxy quality matched by scheme, compile and attention, failed steps, the frontier's rule, the peers'
figures with our ratio beside them, and the README section it splices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_results import H100, write_results

from diffbench.face import cli, frontier, readme
from diffbench.spec.dimensions import DIMENSIONS
from diffbench.spec.matrix import Scenario

H200 = "NVIDIA H200"
FULL = dict(steps=28, height=1024, width=1024)  # FLUX.1-dev's own size and steps
EAGER = "flux-dev-bf16-eager-nofuse-bs1"
REGIONAL = "flux-dev-bf16-regional-nofuse-bs1"
FP8 = "flux-dev-fp8dqrow-regional-fuse-bs1"
FP8_ATTN = "flux-dev-fp8dqrow-regional-fuse-bs1-attn-cudnn-fp8"
FP8_WHOLE = "flux-dev-fp8dqrow-compile-fuse-bs1"
ATTENTION = {FP8_ATTN: "cudnn-fp8"}


def run(path: Path, medians: dict[str, float], gpu: str = H100, when: str = "2026-12-01T10:00:00+00:00",
        info: dict[str, dict] | None = None, **kwargs) -> Path:
    """A results file of FLUX.1-dev scenarios at its own size and steps: scenario id → median seconds."""
    extra = {s: dict(FULL, attention=ATTENTION.get(s, "sdpa"), gpu_kernel_s=round(0.95 * median, 3),
                     attention_share=0.25, first_call_s=12.0) | (info or {}).get(s, {})
             for s, median in medians.items()}
    return write_results(path, {s: [m * 0.99, m, m * 1.01] for s, m in medians.items()}, gpu=gpu, info=extra,
                         datetime=when, **kwargs)


def quality_log(path: Path, records: dict[str, tuple[str, str, str, float | str, float]]) -> Path:
    """A quality log (pytest --quality-json): scenario → (scheme, compile, attention, worst PSNR, worst SSIM)."""
    results = [dict(scenario=s, model="flux-dev", scheme=scheme, compile=compile_mode, attention=attention,
                    fuse_qkv=False, batch=1, weights="proxy",
                    metrics=dict(psnr=dict(min=psnr, mean=50.0), ssim=dict(min=ssim, mean=0.999)))
               for s, (scheme, compile_mode, attention, psnr, ssim) in records.items()]
    path.write_text(json.dumps(dict(schema_version=1, environment=dict(gpu=H100), results=results)))
    return path


def table_rows(markdown: str) -> dict[str, list[str]]:
    """The frontier table's rows by 'GPU | step' (the first table of the section)."""
    table = markdown.split("\n\n| GPU |", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {f"{row[0]} | {row[1]}": row for row in rows}


def frontier_md(capsys, *args: str) -> str:
    assert cli.main(["frontier", *args]) == 0
    return capsys.readouterr().out


def test_a_row_per_gpu_kind_and_step_with_its_figures(tmp_path, capsys):
    h100 = run(tmp_path / "h100.json", {EAGER: 5.3, REGIONAL: 4.0, FP8_ATTN: 2.8},
               info={EAGER: {"attention_share": None, "gpu_kernel_s": None}})
    h200 = run(tmp_path / "h200.json", {EAGER: 5.0, FP8: 2.9}, gpu=H200)
    rows = table_rows(frontier_md(capsys, str(h100), str(h200)))
    assert list(rows) == ["H100 80GB HBM3 | fp8dqrow, regional, fuse, attn-cudnn-fp8",
                          "H100 80GB HBM3 | bf16, regional (reference)", "H100 80GB HBM3 | bf16, eager (reference)",
                          "H200 | fp8dqrow, regional, fuse", "H200 | bf16, eager (reference)"]  # by median per kind
    assert rows["H100 80GB HBM3 | fp8dqrow, regional, fuse, attn-cudnn-fp8"][2:] == [
        "lossy", "2.800", "2.660", "25%", "12.0", "23.00", "—", "—", "—", "h100.json"]
    assert rows["H100 80GB HBM3 | bf16, eager (reference)"][2:6] == ["lossless", "5.300", "—", "—"]


def test_only_flux_dev_at_its_own_size_and_steps_with_batch_1(tmp_path, capsys):
    path = run(tmp_path / "run.json", {EAGER: 5.3, REGIONAL: 4.0, "flux-dev-bf16-eager-nofuse-bs4": 20.0,
                                       "sdxl-bf16-eager-nofuse-bs1": 3.0},
               info={REGIONAL: {"steps": 10}, "flux-dev-bf16-eager-nofuse-bs4": {"batch": 4}})
    rows = table_rows(frontier_md(capsys, str(path), "--all"))
    assert list(rows) == ["H100 80GB HBM3 | bf16, eager (reference)"]


def test_the_newest_run_of_a_step_wins_and_is_named(tmp_path, capsys):
    new = run(tmp_path / "new.json", {EAGER: 5.0}, when="2026-12-06T10:00:00+00:00")
    old = run(tmp_path / "old.json", {EAGER: 6.0}, when="2026-11-23T10:00:00+00:00")
    row, = table_rows(frontier_md(capsys, str(new), str(old))).values()  # the older file given last
    assert row[3] == "5.000" and row[-1] == "new.json"


def test_a_step_is_its_settings_not_its_id(tmp_path):
    """A run whose id left a setting out (compile-vae, before the id named it) is the step it ran."""
    old = run(tmp_path / "old.json", {FP8: 3.0}, when="2026-11-23T10:00:00+00:00", info={FP8: {"compile_vae": True}})
    new = run(tmp_path / "new.json", {FP8: 2.9}, when="2026-12-06T10:00:00+00:00")
    steps = {row.step: row.median for row in frontier.collect([old, new]).rows}
    assert steps == {"fp8dqrow, regional, fuse, compile-vae": pytest.approx(3.0),
                     "fp8dqrow, regional, fuse": pytest.approx(2.9)}


@pytest.mark.parametrize(("scenario", "attention", "lossy"), [
    (EAGER, "sdpa", False), ("flux-dev-bf16-eager-nofuse-bs1-attn-sdpa-cudnn", "sdpa-cudnn", False),
    ("flux-dev-bf16-eager-nofuse-bs1-attn-cudnn-fp8", "cudnn-fp8", True),
    ("flux-dev-bf16-eager-nofuse-bs1-attn-sage", "sage", True), (FP8, "sdpa", True),
])
def test_lossy_is_a_scheme_other_than_bf16_or_a_lossy_attention_kernel(tmp_path, scenario, attention, lossy):
    path = run(tmp_path / "run.json", {scenario: 3.0}, info={scenario: {"attention": attention}})
    row, = frontier.collect([path]).rows
    assert row.lossy is lossy


def test_quality_is_matched_by_scheme_compile_and_attention(tmp_path, capsys):
    path = run(tmp_path / "run.json", {EAGER: 5.3, FP8: 2.9, FP8_ATTN: 2.8, FP8_WHOLE: 2.7})
    log = quality_log(tmp_path / "quality.json", {
        "flux-dev-bf16-eager-nofuse-bs1": ("bf16", "eager", "sdpa", "inf", 1.0),
        "flux-dev-fp8dqrow-regional-nofuse-bs1": ("fp8dqrow", "regional", "sdpa", 40.27, 0.9938),  # nofuse: matches
        "flux-dev-fp8dqrow-regional-nofuse-bs1-attn-cudnn-fp8": ("fp8dqrow", "regional", "cudnn-fp8", 32.345, 0.9811),
    })
    rows = table_rows(frontier_md(capsys, str(path), "--quality", str(log), "--all"))
    quality = {step.split(" | ")[1]: row[8:11] for step, row in rows.items()}
    assert quality == {"fp8dqrow, compile, fuse": ["—", "—", "—"],  # not measured
                       "fp8dqrow, regional, fuse, attn-cudnn-fp8": ["32.3", "0.9811", "passes"],
                       "fp8dqrow, regional, fuse": ["40.3", "0.9938", "passes"],
                       "bf16, eager (reference)": ["∞", "1.0000", "passes"]}


def test_the_quality_gate_is_the_one_in_force_and_the_worst_matched_record_decides(tmp_path, capsys):
    path = run(tmp_path / "run.json", {EAGER: 5.3, FP8: 2.9, FP8_ATTN: 2.8})
    log = quality_log(tmp_path / "quality.json", {
        # judged by older, tighter bounds when it ran (`failures`): the gates in force decide
        "flux-dev-fp8dqrow-regional-nofuse-bs1-attn-cudnn-fp8": ("fp8dqrow", "regional", "cudnn-fp8", 32.3, 0.98),
        "flux-dev-fp8dqrow-regional-nofuse-bs1": ("fp8dqrow", "regional", "sdpa", 40.3, 0.9938)})
    data = json.loads(log.read_text())
    data["results"][0]["failures"] = ["psnr min over prompts = 32.3, gate psnr_min: must be ≥ 36.5"]
    log.write_text(json.dumps(data))
    # another run of the FP8 attention row, its worst prompt far below any bound
    worse = quality_log(tmp_path / "worse.json", {
        "flux-dev-fp8dqrow-regional-fuse-bs1-attn-cudnn-fp8": ("fp8dqrow", "regional", "cudnn-fp8", 12.0, 0.5)})
    rows = table_rows(frontier_md(capsys, str(path), "--quality", str(log), "--all"))
    assert rows["H100 80GB HBM3 | fp8dqrow, regional, fuse, attn-cudnn-fp8"][8:11] == ["32.3", "0.9800", "passes"]
    rows = table_rows(frontier_md(capsys, str(path), "--quality", str(log), str(worse), "--all"))
    assert rows["H100 80GB HBM3 | fp8dqrow, regional, fuse, attn-cudnn-fp8"][8:11] == [
        "12.0", "0.5000", "fails (psnr_min, ssim_min)"]
    assert rows["H100 80GB HBM3 | fp8dqrow, regional, fuse"][8:11] == ["40.3", "0.9938", "passes"]


def test_the_frontier_and_the_references_are_shown_every_row_with_all(tmp_path, capsys):
    path = run(tmp_path / "run.json", {EAGER: 5.3, REGIONAL: 4.0, "flux-dev-bf16-regional-fuse-bs1": 3.9,
                                       "flux-dev-bf16-eager-fuse-bs1": 5.4, FP8_ATTN: 2.8, FP8: 2.9,
                                       "flux-dev-fp8dqrow-regional-nofuse-bs1": 3.0, FP8_WHOLE: 2.85,
                                       "flux-dev-fp8wo-regional-nofuse-bs1": 2.95,
                                       "flux-dev-fp8dqrow-eager-nofuse-bs1": 9.0})
    log = quality_log(tmp_path / "quality.json", {
        "a": ("fp8dqrow", "regional", "sdpa", 40.0, 0.99), "b": ("fp8dqrow", "regional", "cudnn-fp8", 32.0, 0.98),
        "c": ("fp8dqrow", "eager", "sdpa", 41.0, 0.995)})
    shown = [step.split(" | ")[1] for step in table_rows(frontier_md(capsys, str(path), "--quality", str(log)))]
    assert shown == [
        "fp8dqrow, regional, fuse, attn-cudnn-fp8",  # the fastest
        "fp8dqrow, compile, fuse",  # no quality figure: the fastest of those without
        "fp8dqrow, regional, fuse",  # better quality than the faster FP8 attention
        # fp8dqrow regional nofuse: slower, the same quality; fp8wo: slower than the whole compile, neither measured
        "bf16, regional, fuse",  # the fastest lossless
        "bf16, regional (reference)", "bf16, eager (reference)",
        # bf16 eager fuse: a slower lossless; fp8dqrow eager: better PSNR, but slower than a lossless row
    ]
    assert len(table_rows(frontier_md(capsys, str(path), "--quality", str(log), "--all"))) == 10


def test_every_prompt_set_of_a_log_counts_not_only_its_last(tmp_path, capsys):
    """A job's log (`diffbench-jobs quality-mutations --scenarios`) holds a scenario once per prompt set."""
    path = run(tmp_path / "run.json", {EAGER: 5.3, FP8_ATTN: 2.8})
    log = quality_log(tmp_path / "sets.json", {
        "flux-dev-fp8dqrow-regional-nofuse-bs1-attn-cudnn-fp8": ("fp8dqrow", "regional", "cudnn-fp8", 12.0, 0.5)})
    data = json.loads(log.read_text())
    worse = data["results"][0]
    data["results"].append(dict(worse, metrics=dict(psnr=dict(min=40.0), ssim=dict(min=0.99))))  # the next set
    log.write_text(json.dumps(data))
    rows = table_rows(frontier_md(capsys, str(path), "--quality", str(log), "--all"))
    assert rows["H100 80GB HBM3 | fp8dqrow, regional, fuse, attn-cudnn-fp8"][8:11] == [
        "12.0", "0.5000", "fails (psnr_min, ssim_min)"]


def test_failed_and_stopped_steps_are_rows_where_no_file_measured_them(tmp_path, capsys):
    failed = "flux-dev-fp8dqrow-compile-cudagraphs-fuse-bs1-attn-cudnn-fp8-compile-vae-inductor-flux-fast"
    path = run(tmp_path / "run.json", {EAGER: 5.3}, failures=[
        dict(scenario=failed, nodeid=f"benchmarks/test_pipelines.py::test_latency[{failed}]", error_type="RuntimeError",
             message="Detected 2 tensor(s) in the cudagraph pool not tracked as outputs. All live allocations must "
                     "be tracked for correctness.\nDebugging: ..."),
        dict(scenario=EAGER, error_type="ReferenceWritten", message="measured in this run all the same"),
        dict(scenario="flux-dev-bf16-eager-nofuse-bs4", error_type="OutOfMemoryError", message="batch 4"),
        dict(scenario="sdxl-bf16-eager-nofuse-bs1", error_type="OutOfMemoryError", message="another model"),
    ], session=dict(interrupted=dict(scenario="flux-dev-fp8dqrow-regional-fuse-bs1-attn-cudnn-fp8", phase="call",
                                     elapsed_s=207.9)))
    rows = table_rows(frontier_md(capsys, str(path)))
    assert list(rows) == ["H100 80GB HBM3 | bf16, eager (reference)",
                          "H100 80GB HBM3 | fp8dqrow, compile-cudagraphs, fuse, attn-cudnn-fp8, compile-vae, "
                          "inductor-flux-fast",
                          "H100 80GB HBM3 | fp8dqrow, regional, fuse, attn-cudnn-fp8"]
    failed_row, stopped_row = list(rows.values())[1:]
    assert failed_row[2:4] == ["lossy", "failed: RuntimeError: Detected 2 tensor(s) in the cudagraph pool not "
                                        "tracked as outputs. All live… (test_latency)"]
    assert stopped_row[3] == "interrupted (call, after 208 s)" and stopped_row[4:-1] == ["—"] * 7


def test_a_failure_measured_elsewhere_is_no_row(tmp_path):
    failed = run(tmp_path / "failed.json", {}, failures=[dict(scenario=FP8, error_type="OutOfMemoryError")],
                 when="2026-12-06T10:00:00+00:00")
    measured = run(tmp_path / "measured.json", {FP8: 2.9}, when="2026-11-23T10:00:00+00:00")
    row, = frontier.collect([failed, measured]).rows
    assert row.median == pytest.approx(2.9) and row.outcome == ""


def test_a_slowed_run_is_passed_over(tmp_path, capsys):
    clean = run(tmp_path / "clean.json", {FP8: 2.9}, when="2026-11-23T10:00:00+00:00")
    slowed = run(tmp_path / "slowed.json", {FP8: 3.2}, when="2026-12-06T10:00:00+00:00",
                 info={FP8: {"injected_slowdown": {"where": "gpu", "fraction": 0.1}}})
    assert cli.main(["frontier", str(clean), str(slowed)]) == 0
    out, err = capsys.readouterr()
    assert table_rows(out)["H100 80GB HBM3 | fp8dqrow, regional, fuse"][3] == "2.900"
    assert f"skipped {slowed}: a slowdown injected on purpose" in err and "Passed over: `slowed.json`" in out


def test_the_peers_figures_as_published_with_our_ratio_of_the_same_kind(tmp_path, capsys):
    h100 = run(tmp_path / "h100.json", {EAGER: 6.0, FP8: 3.0, FP8_ATTN: 2.4})
    h200 = run(tmp_path / "h200.json", {REGIONAL: 3.9}, gpu=H200)  # no bf16 eager there: no ratio
    peers = frontier_md(capsys, str(h100), str(h200)).split("| peer |", 1)[1].splitlines()[2:]
    fast, sglang = ([cell.strip() for cell in line.strip("|").split("|")] for line in peers)
    assert fast[:4] == ["flux-fast (huggingface/flux-fast)", "H100", "FA3 with FP8 inputs, FP8 dynamic "
                        "quantization, torch.export + AOTI + CUDA graphs, inductor flags", "about 2.5x over bf16 eager"]
    assert fast[4] == "2.50x on H100 80GB HBM3 (bf16 eager 6.000 s over fp8dqrow, regional, fuse, attn-cudnn-fp8 " \
                      "2.400 s)"  # computed: the fastest lossy row over bf16 eager
    assert "<https://pytorch.org/blog/presenting-flux-fast-making-flux-go-brrr-on-h100s/>" in fast[5]
    assert sglang[2:6] == ["FA3 + torch.compile, bf16", "3.50 s", "3.900 s on H200 (bf16, regional)",
                           "as quoted in diffbench issue 35 (SGLang diffusion engine)"]  # our fastest lossless
    rows = frontier.collect([h200]).rows
    assert frontier.speedup_over_bf16_eager(rows, H200) is None


def test_a_malformed_peers_file_is_refused(tmp_path):
    bad = tmp_path / "peers.toml"
    bad.write_text('[[peer]]\nname = "x"\ngpu = "H100"\nsetting = "s"\nfigure = "2x"\nmeasure = "vibes"\n'
                   'source = "y"\n')
    with pytest.raises(frontier.FrontierError, match="measure 'vibes' is none of"):
        frontier.load_peers(bad)
    bad.write_text('[[peer]]\nname = "x"\n')
    with pytest.raises(frontier.FrontierError, match="lacks gpu, setting, figure, measure, source"):
        frontier.load_peers(bad)


def test_a_scenario_id_reads_back_into_its_settings():
    for scenario in [Scenario("flux-dev", "fp8dqrow", "compile-cudagraphs", True, attention="cudnn-fp8",
                              compile_vae=True, inductor_profile="flux-fast"),
                     Scenario("flux-dev", "bf16", "regional-all"), Scenario("sdxl", "int8dq", "regional", batch=4,
                                                                             inductor_profile="max-autotune-gemm")]:
        assert frontier.scenario_values(scenario.id) == {d.name: getattr(scenario, d.name) for d in DIMENSIONS}
    assert frontier.scenario_values("flux-dev-nonsense-eager-nofuse-bs1") is None


def _page(path: Path, markers: bool = True) -> Path:
    first, last = readme.markers("frontier")
    path.write_text("# Title\n\nprose before\n\n" + (f"{first}\nold table\n{last}\n" if markers else "")
                    + "\nprose after\n")
    return path


def test_the_readme_section_is_replaced_and_nothing_else(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    path = run(tmp_path / "runs" / "run.json", {EAGER: 5.3})
    page = _page(tmp_path / "README.md")
    argv = ["frontier", str(path), "--readme", str(page)]
    assert cli.main(argv) == 0
    text = page.read_text()
    first, last = readme.markers("frontier")
    assert text.startswith(f"# Title\n\nprose before\n\n{first}\n<!-- {readme.generated_by(argv)} -->")
    assert text.endswith(f"\n{last}\n\nprose after\n") and "old table" not in text
    assert "[run.json](runs/run.json)" in text  # the run named by a link relative to the page
    assert "updated" in capsys.readouterr().out


def test_a_readme_without_markers_is_refused(tmp_path, capsys):
    path = run(tmp_path / "run.json", {EAGER: 5.3})
    page = _page(tmp_path / "README.md", markers=False)
    before = page.read_text()
    assert cli.main(["frontier", str(path), "--readme", str(page)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("diffbench frontier: error: ") and "diffbench:frontier:start" in err[0]
    assert page.read_text() == before


@pytest.mark.parametrize("content", [None, "{not json", '{"benchmarks": []}'])
def test_an_unreadable_input_is_exit_2_in_one_line(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    good = run(tmp_path / "run.json", {EAGER: 5.3})
    assert cli.main(["frontier", str(good), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"diffbench frontier: error: {bad}")


def test_an_unreadable_quality_log_and_nothing_to_show_are_exit_2(tmp_path, capsys):
    good = run(tmp_path / "run.json", {EAGER: 5.3})
    (tmp_path / "log.json").write_text('{"results": [{"no": "scenario"}]}')
    assert cli.main(["frontier", str(good), "--quality", str(tmp_path / "log.json")]) == 2
    assert "not a quality log" in capsys.readouterr().err
    other = run(tmp_path / "sdxl.json", {"sdxl-bf16-eager-nofuse-bs1": 3.0})
    assert cli.main(["frontier", str(other)]) == 2
    assert "no flux-dev scenario at 1024×1024, 28 steps, batch 1" in capsys.readouterr().err
