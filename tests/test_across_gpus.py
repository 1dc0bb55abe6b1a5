"""`diffbench gpus`: each GPU kind's figures side by side, rows matched by configuration."""

from __future__ import annotations

from fake_results import H100, write_results

from diffbench.face import across_gpus, cli, readme

H200 = "NVIDIA H200"
BF16 = "flux-dev-bf16-regional-fuse-bs1"
FP8 = "flux-dev-fp8dqrow-regional-fuse-bs1"
SLOW = "flux-dev-int8dq-eager-fuse-bs1"
SETTINGS = dict(steps=28, height=1024, width=1024)


def runs(tmp_path):
    h100 = write_results(tmp_path / "h100.json", {BF16: [4.0, 4.0, 4.0], FP8: [3.0, 3.0, 3.0]}, gpu=H100,
                         info={BF16: SETTINGS, FP8: SETTINGS})
    # the H200 ran fp8dqrow at fewer steps: not the same configuration, so not the same row
    h200 = write_results(tmp_path / "h200.json", {BF16: [3.0, 3.0, 3.0], FP8: [1.0, 1.0, 1.0]}, gpu=H200,
                         info={BF16: SETTINGS, FP8: SETTINGS | dict(steps=10)})
    return h100, h200


def test_rows_match_on_the_scenario_and_its_run_settings(tmp_path):
    groups = across_gpus.group(list(runs(tmp_path)))
    assert [g.gpu for g in groups] == [H100, H200]
    headers, rows = across_gpus.tables(groups)["flux-dev"]
    assert headers == ["scenario", "steps", "resolution", "time H100 80GB HBM3", "memory H100 80GB HBM3",
                       "time H200", "memory H200", "H200 / H100 80GB HBM3"]
    by_id = {(row[0], row[1]): row for row in rows}
    assert by_id[(f"`{BF16}`", "28")][3:] == ["4.000", "33.000", "3.000", "33.000", "0.75"]
    assert by_id[(f"`{FP8}`", "28")][5:] == ["—", "—", "—"]  # the H200 has no 28-step fp8dqrow run
    assert by_id[(f"`{FP8}`", "10")][3:5] == ["—", "—"] and by_id[(f"`{FP8}`", "10")][5] == "1.000"


def test_a_scenario_a_gpu_kind_failed_was_stopped_in_or_skipped_says_so_instead_of_a_dash(tmp_path):
    h200 = write_results(tmp_path / "h200.json", {}, gpu=H200,
                         failures=[dict(scenario=FP8, error_type="BadOutput", message="output has NaN/Inf values")],
                         skipped=[dict(scenario=BF16, reason="known failure: all-NaN")])
    stopped = write_results(tmp_path / "h200-stopped.json", {}, gpu=H200, datetime="2026-11-24T07:05:34+00:00",
                            session=dict(interrupted=dict(scenario=SLOW, phase="call", elapsed_s=165.0)))
    h100 = write_results(tmp_path / "h100.json", {BF16: [4.0] * 3, FP8: [3.0] * 3, SLOW: [40.0] * 3}, gpu=H100)
    headers, rows = across_gpus.tables(across_gpus.group([h100, h200, stopped]))["flux-dev"]
    by_id = {row[0]: dict(zip(headers, row)) for row in rows}
    assert by_id[f"`{FP8}`"]["time H200"] == "failed (BadOutput)" and by_id[f"`{FP8}`"]["memory H200"] == "—"
    assert by_id[f"`{BF16}`"]["time H200"] == "skipped" and by_id[f"`{BF16}`"]["H200 / H100 80GB HBM3"] == "—"
    assert by_id[f"`{SLOW}`"]["time H200"] == "interrupted"


def test_runs_of_one_gpu_kind_are_merged_the_later_winning(tmp_path):
    h100, _ = runs(tmp_path)
    again = write_results(tmp_path / "h100-again.json", {BF16: [5.0, 5.0, 5.0]}, gpu=H100, info={BF16: SETTINGS},
                          datetime="2026-11-24T07:05:34+00:00")
    [group] = across_gpus.group([h100, again])
    assert group.results.measurements[BF16].median == 5.0 and group.results.measurements[FP8].median == 3.0


def test_the_readme_section_is_replaced_and_nothing_else(tmp_path):
    first, last = readme.markers("gpus")
    page = tmp_path / "README.md"
    page.write_text(f"# top\n\n{first}\nold\n{last}\n\n{readme.START}\nkept\n{readme.END}\n")
    assert cli.main(["gpus", *map(str, runs(tmp_path)), "--readme", str(page)]) == 0
    text = page.read_text()
    assert "old" not in text and f"{readme.START}\nkept\n{readme.END}" in text
    section = text.split(first)[1].split(last)[0]
    assert "#### flux-dev" in section and "| H200 / H100 80GB HBM3 |" in section  # headings under the README's


def test_a_readme_without_the_section_is_refused_before_anything_is_written(tmp_path, capsys):
    page = tmp_path / "README.md"
    page.write_text(f"{readme.START}\n{readme.END}\n")
    out = tmp_path / "gpus.md"
    assert cli.main(["gpus", *map(str, runs(tmp_path)), "--readme", str(page), "--out", str(out)]) == 2
    assert not out.exists() and "diffbench:gpus:start" in capsys.readouterr().err


def test_prose_that_names_the_markers_is_not_taken_for_them(tmp_path):
    """A README explaining the section names its markers in backticks; only the marker lines count."""
    first, last = readme.markers("gpus")
    page = tmp_path / "README.md"
    page.write_text(f"fills the lines `{first}` and `{last}`\n\n{first}\nold\n{last}\n")
    assert cli.main(["gpus", *map(str, runs(tmp_path)), "--readme", str(page)]) == 0
    assert page.read_text().startswith(f"fills the lines `{first}` and `{last}`\n\n{first}\n")
    assert "old" not in page.read_text()
