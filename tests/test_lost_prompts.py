"""`diffbench lost-prompts`: every prompt of a quality log judged on its own by the gates in force, counted per GPU
kind and scenario over its prompt sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_results import H100

from diffbench.face import cli, lost_prompts, readme, record_gates
from diffbench.store import quality_logs

SCENARIO = "flux-dev-fp8dqrow-regional-nofuse-bs1-attn-cudnn-fp8"
RECORD = dict(scenario=SCENARIO, model="flux-dev", scheme="fp8dqrow", compile="regional", attention="cudnn-fp8",
              fuse_qkv=False, batch=1, weights="proxy")
BOUNDS = {gate.metric: gate for gate in record_gates.gates_of(RECORD)}  # the gates in force, not typed again


def prompt_set(first: int, psnr: list[float], ssim_ok: bool = True) -> dict:
    """A set's record: `psnr` per prompt; SSIM just inside its bound (or the last prompt's just outside)."""
    ssim = [BOUNDS["ssim"].bound + 0.01] * len(psnr)
    if not ssim_ok:
        ssim[-1] = BOUNDS["ssim"].bound - 0.01
    metrics = {name: dict(min=min(values), max=max(values), mean=sum(values) / len(values), per_prompt=values)
               for name, values in (("psnr", psnr), ("ssim", ssim))}
    return dict(RECORD, prompt_set=dict(first=first, count=len(psnr)), metrics=metrics)


def write_log(path: Path, records: list[dict], gpu: str | None = H100) -> Path:
    path.write_text(json.dumps(dict(schema_version=1, environment=dict(gpu=gpu), results=records)))
    return path


def test_each_prompt_is_judged_alone_and_counted_over_the_sets(tmp_path):
    bound = BOUNDS["psnr"].bound
    log = write_log(tmp_path / "sets.json", [prompt_set(0, [bound + 10, bound - 3, bound + 1]),
                                             prompt_set(3, [bound + 5, bound + 5, bound + 5]),
                                             prompt_set(6, [bound + 5, bound + 5, bound + 5], ssim_ok=False)])
    cpu = write_log(tmp_path / "cpu.json", [prompt_set(0, [bound - 1, bound - 1, bound - 1])], gpu=None)
    gpu_row, cpu_row = lost_prompts.rows([quality_logs.read(log), quality_logs.read(cpu)])
    assert (gpu_row.gpu, gpu_row.scenario, gpu_row.prompts, gpu_row.sets, gpu_row.sets_failing) == \
        (H100, SCENARIO, 9, 3, 2)
    assert [(lost.prompt, [gate.key for gate, _ in lost.failed]) for lost in gpu_row.lost] == \
        [(1, ["psnr_min"]), (8, ["ssim_min"])]  # numbered from each set's first prompt
    assert gpu_row.lost[0].failed[0][1] == bound - 3
    assert (cpu_row.gpu, cpu_row.prompts, len(cpu_row.lost), cpu_row.sets_failing) == ("CPU", 3, 3, 1)


def test_the_table_names_each_lost_prompt_with_what_it_fails(tmp_path, capsys):
    bound = BOUNDS["psnr"].bound
    log = write_log(tmp_path / "sets.json", [prompt_set(8, [bound + 1, bound - 2]), prompt_set(10, [bound + 1] * 2)])
    assert cli.main(["lost-prompts", str(log)]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        H100, f"`{SCENARIO}`", "4", "1 (25.0%)", "1 of 2", f"9 (psnr {bound - 2:.4g} < {bound:g})"]


def test_the_readme_section_is_spliced(tmp_path, capsys):
    log = write_log(tmp_path / "sets.json", [prompt_set(0, [BOUNDS["psnr"].bound + 1] * 2)])
    page = tmp_path / "page.md"
    start, end = readme.markers("lost-prompts")
    page.write_text(f"# Page\n\n{start}\nold\n{end}\n")
    assert cli.main(["lost-prompts", str(log), "--readme", str(page)]) == 0
    text = page.read_text()
    assert "old" not in text and "| 2 | 0 (0.0%) | 0 of 1 | none |" in text and "diffbench lost-prompts" in text


@pytest.mark.parametrize("spoil", ["worst prompt only", "no prompts", "no scheme"])
def test_a_record_it_cannot_judge_prompt_by_prompt_is_exit_2(tmp_path, capsys, spoil):
    record = prompt_set(0, [30.0, 31.0])
    for stats in record["metrics"].values():
        if spoil == "worst prompt only":
            del stats["per_prompt"]
        elif spoil == "no prompts":
            stats["per_prompt"] = []
    if spoil == "no scheme":
        del record["scheme"]
    log = write_log(tmp_path / "log.json", [record])
    assert cli.main(["lost-prompts", str(log)]) == 2
    assert f"{SCENARIO} holds no per-prompt metrics of one length, or no model and scheme" in capsys.readouterr().err


def test_a_log_with_no_records_is_exit_2(tmp_path, capsys):
    log = write_log(tmp_path / "empty.json", [])
    assert cli.main(["lost-prompts", str(log)]) == 2
    assert capsys.readouterr().err.strip() == f"diffbench lost-prompts: error: no quality records in {log}"
