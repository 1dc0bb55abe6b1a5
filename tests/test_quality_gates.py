"""The quality gates bite: a mutation test on the tiny FLUX pipeline, references kept safely."""

from __future__ import annotations

import json

import pytest

from diffbench.store import references
from diffbench.spec import gates

ARGS = ("quality", "--models", "flux-dev", "--quality-prompts", "2", "-p", "no:randomly")


def _run(suite, *args):
    return suite.runpytest_subprocess(*ARGS, "--baselines-dir", "store", "--quality-json", "q.json", *args)


def _results(suite):
    return {r["scenario"]: r for r in json.loads((suite.path / "q.json").read_text())["results"]}


def test_gate_passes_int8_and_rejects_a_broken_scheme(suite):
    first = _run(suite, "--quant", "bf16")
    first.assert_outcomes(failed=1)  # the missing reference is written, and the test fails
    first.stdout.fnmatch_lines(["*reference outputs were missing and have been written*"])
    assert (suite.path / "store" / "cpu" / "references" / "flux-dev-tiny.npz").exists()

    result = _run(suite, "--quant", "bf16,int8wo,int8dq,int2wo")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*flux-dev-int2wo-eager-nofuse-bs1: ssim min over prompts = 0.9*must be ≥ 0.95*"])
    records = _results(suite)
    assert records["flux-dev-bf16-eager-nofuse-bs1"]["metrics"]["ssim"]["min"] == 1.0
    assert records["flux-dev-bf16-eager-nofuse-bs1"]["metrics"]["psnr"]["min"] == "inf"
    assert records["flux-dev-int8wo-eager-nofuse-bs1"]["metrics"]["ssim"]["min"] > 0.99
    # Every result carries the control's score: what a broken scheme scores on this model and weights.
    control = records["flux-dev-int8wo-eager-nofuse-bs1"]["control"]
    assert control["scenario"] == "flux-dev-int2wo-eager-nofuse-bs1" and control["rejected_by_gates"]
    assert control["metrics"]["ssim"]["mean"] < 0.95
    evidence = records["flux-dev-int2wo-eager-nofuse-bs1"]["evidence"]
    assert evidence.endswith(".obtained.png") and (suite.path / evidence).stat().st_size > 0
    assert "skipped: no CLIP weights" in records["flux-dev-int8wo-eager-nofuse-bs1"]["clip"]


def test_reference_made_with_other_settings_is_refused(suite):
    _run(suite, "--quant", "bf16", "--steps", "2")
    result = _run(suite, "--quant", "int8wo", "--steps", "3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ReferenceMismatch*made with other settings*'steps': (2, 3)*--update-baselines*"])
    updated = _run(suite, "--quant", "int8wo", "--steps", "3", "--update-baselines")
    updated.assert_outcomes(passed=1)


def test_corrupt_reference_is_refused_and_kept(suite):
    _run(suite, "--quant", "bf16")
    npz = suite.path / "store" / "cpu" / "references" / "flux-dev-tiny.npz"
    npz.write_bytes(npz.read_bytes()[:100])  # truncated
    before = npz.read_bytes()
    result = _run(suite, "--quant", "int8wo")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CorruptBaseline*flux-dev-tiny.npz: unreadable*will not be overwritten*"])
    assert npz.read_bytes() == before


def test_thresholds_are_data(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[default]\nssim_min = 0.9\n[scheme.int8wo]\nssim_min = 0.99\n'
                    '[weights.proxy.model.flux-dev.scheme.int8wo]\npsnr_min = 40\n')
    thresholds = gates.Thresholds.load(path)
    assert {g.key: g.bound for g in thresholds.gates("flux-dev", "int8wo", "tiny")} == {"ssim_min": 0.99}
    assert {g.key: g.bound for g in thresholds.gates("flux-dev", "int8wo", "proxy")} == {"ssim_min": 0.99,
                                                                                          "psnr_min": 40}
    assert {g.key: g.bound for g in thresholds.gates("sdxl", "fp8wo", "tiny")} == {"ssim_min": 0.9}
    path.write_text("[default]\nssim = 0.9\n")
    with pytest.raises(ValueError, match="gates are <metric>_min/_max"):
        gates.Thresholds.load(path)


def test_a_reference_drawn_from_other_noise_is_refused(tmp_path):
    """torch 2.12 changed seeded bf16 noise: a reference from other noise is not this run's reference."""
    import numpy as np

    from diffbench.measure.quality_session import noise_fingerprint

    store = references.ReferenceStore(tmp_path)
    images = np.full((1, 4, 4, 3), 128, dtype=np.uint8)
    settings = dict(model="flux-dev", prompts=["p"], steps=2, noise=noise_fingerprint(0))
    store.save("flux-dev", "tiny", settings | dict(noise="0123456789abcdef"), images, {})
    with pytest.raises(references.ReferenceMismatch, match="'noise': \\('0123456789abcdef'"):
        store.load("flux-dev", "tiny", settings)
    old = {k: v for k, v in settings.items() if k != "noise"}  # written before the noise was recorded
    store.save("flux-dev", "tiny", old, images, {})
    assert np.array_equal(store.load("flux-dev", "tiny", settings), images)
    assert noise_fingerprint(0) != noise_fingerprint(1)


def test_a_lossy_attention_kernel_has_gates_of_its_own_like_a_cache():
    table = {"scheme": {"bf16": {"psnr_min": 36.5, "ssim_min": 0.98},
                        "fp8dqrow": {"psnr_min": 31.0, "ssim_min": 0.951}},
             "weights": {"proxy": {"attention": {"cudnn-fp8": {"psnr_min": 30.5, "ssim_min": 0.97}},
                                   "cache": {"pab": {"psnr_min": 41.0, "ssim_min": 0.99}}}}}
    thresholds = gates.Thresholds(table, "test")

    def bounds(scheme, **components):
        return {g.key: g.bound for g in thresholds.gates("flux-dev", scheme, "proxy", **components)}

    # with bf16 (the scheme they were derived with) its own bounds replace bf16's
    assert bounds("bf16", attention="cudnn-fp8") == {"psnr_min": 30.5, "ssim_min": 0.97}
    # with another scheme the looser of the two, metric by metric
    assert bounds("fp8dqrow", attention="cudnn-fp8") == {"psnr_min": 30.5, "ssim_min": 0.951}
    # a bf16 attention kernel adds nothing; two lossy components: the looser of theirs
    assert bounds("bf16", attention="sdpa-cudnn") == {"psnr_min": 36.5, "ssim_min": 0.98}
    assert bounds("bf16", cache="pab", attention="cudnn-fp8") == {"psnr_min": 30.5, "ssim_min": 0.97}


def test_the_committed_fp8_attention_runs_pass_their_calibrated_gates_and_the_control_does_not():
    from pathlib import Path

    from diffbench.face import calibration

    log = Path("baselines/nvidia-h100-80gb-hbm3/fp8-attention/fp8-attention-proxy-quality.json")
    rows = calibration.rows(log)
    assert {r["kind"] for r in rows if r["attention"] == "cudnn-fp8"} == {"attention"}
    thresholds = gates.Thresholds.load(gates.DEFAULT_THRESHOLDS)
    for record in json.loads(log.read_text())["results"]:
        bounds = thresholds.gates("flux-dev", record["scheme"], "proxy", record.get("cache", "none"),
                                   record.get("attention", "sdpa"))
        worst = {"ssim": record["metrics"]["ssim"]["min"], "psnr": record["metrics"]["psnr"]["min"]}
        assert all(g.passes(worst[g.metric]) for g in bounds if g.metric in worst and worst[g.metric] != "inf")
        control = record["control"]["metrics"]
        assert not all(g.passes(control[g.metric]["min"]) for g in bounds if g.metric in ("ssim", "psnr"))
