"""The matrix dimensions as data: one record per dimension (spec/dimensions.py) gives the Scenario field, the id,
the build key, Selection, the pytest option, its parsing and the report column; ids stay those of before."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from diffbench.spec import rules
from diffbench.spec.dimensions import BY_NAME, DIMENSIONS, UsageError
from diffbench.spec.matrix import Scenario, Selection
from diffbench.spec.parallel import PARALLEL_MODES

GROUP = "diffbench: the (model x quantization x compile x fuse x batch) matrix:"


def _diffbench_help(tmp_path) -> str:
    """The diffbench group of `pytest --help`, one option per line (wide terminal)."""
    env = dict(os.environ, COLUMNS="1000")
    text = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=True).stdout
    start = text.index(GROUP)
    end = text.find("\n\n", start)
    return text[start:end if end != -1 else None]


def test_every_dimension_derives_its_pytest_option(tmp_path):
    section = _diffbench_help(tmp_path)
    flat = " ".join(section.split())
    for d in DIMENSIONS:
        assert re.search(rf"^  {re.escape(d.option)}[=\s]", section, re.MULTILINE), d.option
        assert " ".join(d.help.split()) in flat, d.option
    # The records cover every matrix option and only those, in the Scenario's field order.
    assert [d.name for d in DIMENSIONS] == [f.name for f in dataclasses.fields(Scenario)]
    assert [d.selection for d in DIMENSIONS] == [f.name for f in dataclasses.fields(Selection)]
    assert BY_NAME["parallel"].dest == "diffbench_parallel" and DIMENSIONS[-1].name == "cache"


def test_ids_are_those_of_before_the_records():
    # Written by the hand-made Scenario.id before dimensions were records (baselines are keyed by these).
    selection = Selection(("flux-dev", "sdxl"), ("bf16",), ("eager", "regional"), (False, True), (4,),
                          ("none", "group"))
    assert [s.id for s in selection.scenarios()] == [
        'flux-dev-bf16-eager-nofuse-bs4',
        'flux-dev-bf16-eager-nofuse-bs4-offload-group',
        'flux-dev-bf16-eager-fuse-bs4',
        'flux-dev-bf16-eager-fuse-bs4-offload-group',
        'flux-dev-bf16-regional-nofuse-bs4',
        'flux-dev-bf16-regional-nofuse-bs4-offload-group',
        'flux-dev-bf16-regional-fuse-bs4',
        'flux-dev-bf16-regional-fuse-bs4-offload-group',
        'sdxl-bf16-eager-nofuse-bs4',
        'sdxl-bf16-eager-nofuse-bs4-offload-group',
        'sdxl-bf16-eager-fuse-bs4',
        'sdxl-bf16-eager-fuse-bs4-offload-group',
        'sdxl-bf16-regional-nofuse-bs4',
        'sdxl-bf16-regional-nofuse-bs4-offload-group',
        'sdxl-bf16-regional-fuse-bs4',
        'sdxl-bf16-regional-fuse-bs4-offload-group',
    ]
    assert [s.id for s in (
        Scenario("flux-dev", "fp8dqrow", "regional", True),
        Scenario("flux-dev", "int8wo", offload="model"),
        Scenario("cogvideox-5b", "bf16", vae="tiling"),
        Scenario("flux-dev", "fp8dqrow", "regional", True, attention="sdpa-cudnn", compile_vae=True),
        Scenario("flux-dev", "fp8dqrow", "regional", True, inductor_profile="torchao"),
    )] == [
        "flux-dev-fp8dqrow-regional-fuse-bs1",
        "flux-dev-int8wo-eager-nofuse-bs1-offload-model",
        "cogvideox-5b-bf16-eager-nofuse-bs1-vae-tiling",
        "flux-dev-fp8dqrow-regional-fuse-bs1-attn-sdpa-cudnn-compile-vae",
        "flux-dev-fp8dqrow-regional-fuse-bs1-inductor-torchao",
    ]
    every_dimension_off = Scenario("wan2.1-t2v-1.3b", "int8dq", "regional-all", False, 4, "sequential", "slicing",
                                   "sage", True, "max-autotune-gemm")
    assert every_dimension_off.id == ("wan2.1-t2v-1.3b-int8dq-regional-all-nofuse-bs4-offload-sequential-vae-slicing"
                                      "-attn-sage-compile-vae-inductor-max-autotune-gemm")
    assert dataclasses.replace(every_dimension_off, parallel="ulysses2-ring2").id == \
        every_dimension_off.id + "-cp-ulysses2-ring2"
    assert dataclasses.replace(every_dimension_off, parallel="ulysses2", cache="pab").id == \
        every_dimension_off.id + "-cp-ulysses2-cache-pab"


def test_parallel_joins_the_build_key_and_is_recorded_only_when_used():
    plain, ulysses = Scenario("flux-dev", "bf16"), Scenario("flux-dev", "bf16", parallel="ulysses2")
    assert plain.build_key != ulysses.build_key and ulysses.build_key[-2] == "ulysses2"
    assert plain.build_key == Scenario("flux-dev", "bf16", batch=4).build_key  # the batch is a call argument
    assert "parallel" not in plain.params()  # results of runs without --parallel keep their keys
    assert ulysses.params()["parallel"] == "ulysses2"


def test_the_report_columns_come_from_the_records():
    from diffbench.face import report

    assert report.OPTIONAL_COLUMNS == {"offload": "none", "vae": "default", "attention": "sdpa",
                                       "inductor_profile": "default", "parallel": "none", "cache": "none"}


@pytest.mark.parametrize("name, text, message", [
    ("model", "flux-pro", "unknown model 'flux-pro'; valid: all, flux-dev, "),
    ("scheme", "int3", "unknown quantization scheme 'int3'; valid: all, bf16, "),
    ("compile", "jit", "unknown compile mode 'jit'; valid: all, eager, compile, max-autotune, regional, "
                       "regional-all, regional-breaks"),
    ("fuse_qkv", "maybe", "unknown --fuse value 'maybe'; valid: off, on, both"),
    ("batch", "two", "--batch takes comma-separated positive integers, got 'two'"),
    ("batch", "0", "--batch takes comma-separated positive integers, got '0'"),
    ("offload", "disk", "unknown offload mode 'disk'; valid: all, none, model, sequential, group"),
    ("vae", "", "unknown vae mode (empty); valid: all, default, tiling, slicing"),
    ("attention", "cudnn", "unknown attention kernel 'cudnn'; valid: all, sdpa, sdpa-cudnn, "),
    ("compile_vae", "yes", "unknown --compile-vae value 'yes'; valid: off, on, both"),
    ("inductor_profile", "fast", "unknown inductor profile 'fast'; valid: all, default, torchao, max-autotune-gemm"),
    ("parallel", "ulysses3", "unknown context-parallel layout 'ulysses3'; valid: all, none, ulysses2, ring2, "
                             "ulysses4, ulysses2-ring2"),
])
def test_each_record_parses_its_option_with_the_same_usage_errors(name, text, message):
    with pytest.raises(UsageError) as error:
        BY_NAME[name].parse_option(text)
    assert str(error.value).startswith(message)


def test_each_record_parses_its_option():
    assert BY_NAME["fuse_qkv"].parse_option("both") == (False, True)
    assert BY_NAME["batch"].parse_option("1,8") == (1, 8)
    assert BY_NAME["parallel"].parse_option("all") == tuple(PARALLEL_MODES)
    assert BY_NAME["compile_vae"].option_kwargs() == dict(dest="diffbench_compile_vae", default="off", nargs="?",
                                                          const="on", choices=["off", "on", "both"],
                                                          help=BY_NAME["compile_vae"].help)


def test_models_without_a_context_parallel_plan_skip_every_layout():
    assert rules.skip_reason(Scenario("flux-dev", "bf16", parallel="ulysses2")) is None
    assert rules.skip_reason(Scenario("wan2.1-t2v-1.3b", "bf16", parallel="ulysses4")) is None
    assert "no context-parallel plan" in rules.skip_reason(Scenario("pixart-sigma", "bf16", parallel="ring2"))
    assert rules.skip_reason(Scenario("pixart-sigma", "bf16")) is None
    assert {mode.gpus for mode in PARALLEL_MODES.values()} == {1, 2, 4}


def test_parallel_is_collected_and_skipped_with_its_reason(suite):
    args = ("benchmarks", "--models", "flux-dev,pixart-sigma", "--quant", "bf16", "--parallel", "ulysses2",
            "--steps", "1", "--rounds", "1")
    collected = suite.runpytest_subprocess(*args, "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["*test_latency[[]flux-dev-bf16-eager-nofuse-bs1-cp-ulysses2[]]",
                                    "*test_latency[[]pixart-sigma-bf16-eager-nofuse-bs1-cp-ulysses2[]]"])
    result = suite.runpytest_subprocess(*args, "-rs", "--benchmark-json", "out.json")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED*--parallel ulysses2 on a CPU*there is none*"])
    section = json.loads((suite.path / "out.json").read_text())["diffbench"]
    skipped = {s["scenario"]: s["reason"] for s in section["skipped"]}
    assert "no context-parallel plan" in skipped["pixart-sigma-bf16-eager-nofuse-bs1-cp-ulysses2"]
    assert "no context-parallel plan" in skipped["pixart-sigma-bf16-eager-nofuse-bs1-cp-ulysses2"]


def test_an_unknown_parallel_layout_is_a_usage_error(suite):
    result = suite.runpytest_subprocess("benchmarks", "--parallel", "ulysses3", "--steps", "1", "--rounds", "1")
    assert result.ret == 4  # pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown context-parallel layout 'ulysses3'; valid: all, none, ulysses2, ring2, "
                                 "ulysses4, ulysses2-ring2*"])
