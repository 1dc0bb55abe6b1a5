"""Named selections (--selection): data in spec/selections.py, run as one matrix; the nightly covers every seed
model and holds the gated FLUX set."""

from __future__ import annotations

import pytest

from diffbench.spec.matrix import Scenario, Selection, Selections
from diffbench.spec.dimensions import BY_NAME, DIMENSIONS
from diffbench.spec.selections import SELECTIONS


def parts(name: str) -> Selections:
    return Selections(tuple(Selection(**{d.selection: d.parse_option(part.get(d.name, d.option_default))
                                         for d in DIMENSIONS}) for part in SELECTIONS[name].parts))


@pytest.mark.parametrize("name", list(SELECTIONS))
def test_every_part_names_dimensions_and_valid_values(name):
    for part in SELECTIONS[name].parts:
        assert set(part) <= set(BY_NAME), part
    assert parts(name).scenarios()  # each value parses as if typed


def test_the_nightly_covers_every_seed_model_and_the_gated_flux_set():
    nightly = parts("nightly")
    assert set(nightly.models) == {"flux-dev", "flux-schnell", "sdxl", "cogvideox-5b", "wan2.1-t2v-1.3b",
                                   "pixart-sigma"}
    ids = [s.id for s in nightly.scenarios()]
    assert len(ids) == len(set(ids))
    for scheme in ("bf16", "fp8dqrow"):
        for mode in ("eager", "regional"):
            assert Scenario("flux-dev", scheme, mode, True).id in ids
    assert SELECTIONS["nightly"].budget_s == 20 * 60
    assert set(SELECTIONS["nightly"].steps) <= set(nightly.models)


def test_the_box_selection_is_the_flux_and_sdxl_subset_that_measures_workers():
    ids = {s.id for s in parts("box").scenarios()}
    assert len(ids) == 12 and {s.model for s in parts("box").scenarios()} == {"flux-dev", "sdxl"}
    assert "flux-dev-int8dq-regional-fuse-bs1-inductor-max-autotune-gemm" in ids
    assert "sdxl-fp8dqrow-eager-nofuse-bs1" in ids and "flux-dev-int8dq-regional-fuse-bs1" not in ids


def test_a_selections_steps_apply_to_its_models_unless_steps_are_given():
    from diffbench.measure.runner import RunOptions
    from diffbench.build.sources import weights_source
    steps = tuple(SELECTIONS["nightly"].steps.items())
    run = RunOptions(device="cpu", source=weights_source("tiny", None, False), steps_by_model=steps)
    assert run.steps_for("cogvideox-5b") == 10 and run.steps_for("flux-dev") is None
    assert RunOptions(device="cpu", source=run.source, steps=3, steps_by_model=steps).steps_for("cogvideox-5b") == 3


@pytest.mark.slow  # two pytest sessions collecting the suite
def test_a_named_selection_runs_as_the_matrix_and_refuses_matrix_options(suite):
    result = suite.runpytest_subprocess("benchmarks", "--selection", "nightly", "--collect-only", "-q")
    result.assert_outcomes()
    expected = [f"benchmarks/test_pipelines.py::test_latency[{s.id}]" for s in parts("nightly").scenarios()]
    collected = [line for line in result.outlines if line.startswith("benchmarks/")]
    assert sorted(collected) == sorted(expected)  # ordered by build key, as any matrix
    refused = suite.runpytest_subprocess("benchmarks", "--selection", "nightly", "--models", "sdxl")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--selection nightly sets the matrix itself: leave out --models*"])


def test_the_store_selection_is_the_issue_21_matrix():
    store = parts("store")
    ids = {s.id for s in store.scenarios()}
    flux_bs1 = {i for i in ids if i.startswith("flux-dev-") and "-bs1" in i}
    # 6 schemes x eager/regional x fuse off/on, compiled int8dq through autotuned GEMMs
    assert len(flux_bs1) == 24 and "flux-dev-int8dq-regional-nofuse-bs1-inductor-max-autotune-gemm" in flux_bs1
    assert {"flux-dev-bf16-regional-fuse-bs4", "flux-dev-fp8dqrow-regional-fuse-bs4"} <= ids
    assert set(store.models) == {"flux-dev", "flux-schnell", "sdxl", "cogvideox-5b", "wan2.1-t2v-1.3b",
                                 "pixart-sigma"}
    for model in set(store.models) - {"flux-dev"}:
        schemes = {"bf16", "fp8dqrow"} | ({"fp8dq"} if model in ("sdxl", "wan2.1-t2v-1.3b") else set())
        expected = {Scenario(model, scheme, mode).id for scheme in schemes for mode in ("eager", "regional")}
        assert {i for i in ids if i.startswith(f"{model}-")} == expected, model
    assert SELECTIONS["store"].steps == {"cogvideox-5b": 4, "wan2.1-t2v-1.3b": 4}
