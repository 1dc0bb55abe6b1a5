"""Seeded noise on the attention outputs (build/perturbation.py) and the job that finds the proxy's prompts near a
bifurcation with it (`diffbench-jobs prompt-sensitivity`)."""

from __future__ import annotations

import json

import pytest
import torch

from diffbench.build.attention import attention_modules
from diffbench.build.perturbation import perturbed_attention
from diffbench.jobs import prompt_sensitivity, quality_mutations
from diffbench.spec.gates import Gate


def test_the_noise_is_seeded_sized_and_gone_after_the_block(tiny_flux):
    denoiser, inputs = tiny_flux
    with torch.no_grad():
        clean = denoiser(**inputs)[0]
        runs = {}
        for relative, seed in [(0.05, 0), (0.05, 0), (0.05, 1), (0.0, 3), (0.5, 0)]:
            with perturbed_attention(denoiser, relative, seed) as layers:
                runs.setdefault((relative, seed), []).append(denoiser(**inputs)[0])
        after = denoiser(**inputs)[0]
    assert layers == len(attention_modules(denoiser)) > 0
    first, again = runs[0.05, 0]
    assert torch.equal(first, again)  # the same seed, the same noise
    assert not torch.equal(first, runs[0.05, 1][0])
    assert torch.equal(runs[0.0, 3][0], clean)  # no noise, no change
    small, large = ((out.float() - clean.float()).norm() for out in (first, runs[0.5, 0][0]))
    assert 0 < small < large
    assert torch.equal(after, clean)  # the hooks are removed


def test_a_denoiser_without_attention_layers_is_refused():
    with pytest.raises(ValueError, match="no diffusers attention layer"):
        with perturbed_attention(torch.nn.Linear(2, 2), 0.01, 0):
            pass


def _record(relative: float, psnr: list[float], ssim: list[float]) -> dict:
    return dict(perturbation=dict(relative=relative, seed=0),
                metrics=dict(psnr=dict(per_prompt=psnr), ssim=dict(per_prompt=ssim)))


def test_a_prompt_counts_a_seed_when_any_gate_fails_it():
    gates = [Gate("psnr_min", 22.0), Gate("ssim_min", 0.84)]
    records = [_record(0.01, [40.0, 30.0, 50.0], [0.99, 0.99, 0.99]),
               _record(0.01, [40.0, 17.0, 50.0], [0.99, 0.80, 0.99]),
               _record(0.03, [21.9, 30.0, 50.0], [0.99, 0.83, 0.99])]
    small, large = prompt_sensitivity.prompts_below(records, gates)
    assert (small["relative"], small["seeds"], small["failing_seeds_per_prompt"]) == (0.01, 2, [0, 1, 0])
    assert small["worst_per_prompt"] == {"psnr_min": [40.0, 17.0, 50.0], "ssim_min": [0.99, 0.80, 0.99]}
    assert large["failing_seeds_per_prompt"] == [1, 1, 0]  # one on PSNR, one on SSIM


def test_the_job_scores_each_seed_against_bf16_eager_and_writes_its_summary(tmp_path):
    log = tmp_path / "sensitivity.json"
    summary = prompt_sensitivity.measure([1e-4, 0.5], 2, 2, ("fp8dqrow", "cudnn-fp8"), log)
    data = json.loads(log.read_text())
    assert [(r["perturbation"]["relative"], r["perturbation"]["seed"]) for r in data["results"]] == [
        (1e-4, 0), (1e-4, 1), (0.5, 0), (0.5, 1)]
    assert all(r["scenario"] == "flux-dev-bf16-eager-nofuse-bs1" for r in data["results"])
    assert [s["relative"] for s in summary] == [1e-4, 0.5]
    assert [s["failing_seeds_per_prompt"] for s in data["summary"]] == [s["failing_seeds_per_prompt"] for s in summary]
    assert set(data["gate"]["bounds"]) >= {"psnr_min", "ssim_min"}
    quiet, loud = (min(s["worst_per_prompt"]["psnr_min"]) for s in summary)
    assert loud < quiet  # half the attention output's size as noise costs more than a ten-thousandth


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "0.01,x"], "comma-separated numbers"),
    (["--sizes", "2"], "within (0, 1)"),
    (["--gate", "fp9"], "SCHEME[+ATTENTION]"),
    (["--gate", "bf16+nope"], "SCHEME[+ATTENTION]"),
])
def test_bad_options_are_refused_before_any_model_is_built(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        prompt_sensitivity.main([*argv, "--json", str(tmp_path / "x.json")])
    assert exit.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_the_fp8_attention_reruns_take_other_scenarios_by_name(capsys, tmp_path):
    assert quality_mutations._scenarios("fp8dqrow:eager,fp8dqrow:compile") == (
        ("fp8dqrow", "eager"), ("fp8dqrow", "compile"))
    with pytest.raises(SystemExit):
        quality_mutations.main(["--fp8-attention", "--scenarios", "fp8dqrow:fast",
                                "--mutations-json", str(tmp_path / "x.json")])
    assert "fp8dqrow:fast: SCHEME:COMPILE" in capsys.readouterr().err
