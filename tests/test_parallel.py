"""Context parallelism (--parallel): ids, skips with their reasons, the mirrored calls, the speedup records, and
a real 2-rank run on the CPU (gloo) started by a plain pytest session."""

from __future__ import annotations

import json
import os

import pytest
import torch

from diffbench.build import parallel
from diffbench.measure.capabilities import Target, parallel_unavailable
from diffbench.pytest_plugin.results import add_parallel_speedups
from diffbench.spec import rules
from diffbench.spec.matrix import Scenario


def test_a_layout_names_its_scenario_and_one_gpu_keeps_every_older_id():
    assert Scenario("flux-dev", "fp8dqrow", "regional", True).id == "flux-dev-fp8dqrow-regional-fuse-bs1"
    assert Scenario("flux-dev", "fp8dqrow", "regional", True, parallel="ulysses2").id == \
        "flux-dev-fp8dqrow-regional-fuse-bs1-cp-ulysses2"


@pytest.mark.parametrize(("case", "reason"), [
    (Scenario("sdxl", "bf16", parallel="ulysses2"), "no context-parallel plan"),
    (Scenario("pixart-sigma", "bf16", parallel="ulysses2"), "no context-parallel plan"),
    (Scenario("flux-dev", "bf16", parallel="ring2"), "--attention native-cudnn"),
    (Scenario("flux-dev", "bf16", parallel="ulysses2-ring2"), "return_lse"),
    (Scenario("flux-dev", "bf16", "regional-breaks", parallel="ulysses2", cache="pab"), "step caching"),
    (Scenario("flux-dev", "bf16", parallel="ulysses2", offload="model"), "offloading"),
])
def test_what_cannot_run_in_parallel_is_skipped_with_its_reason(case, reason):
    assert reason in rules.skip_reason(case)


@pytest.mark.parametrize("case", [
    Scenario("flux-dev", "fp8dqrow", "regional", True, parallel="ulysses2"),
    Scenario("wan2.1-t2v-1.3b", "bf16", parallel="ulysses2"),
    Scenario("flux-dev", "bf16", parallel="ring2", attention="native-cudnn"),
])
def test_layouts_combine_with_schemes_compile_modes_fused_qkv_and_ring_capable_kernels(case):
    assert rules.skip_reason(case) is None


def test_a_layout_needs_a_gpu_per_rank_and_an_xdist_worker_has_one():
    ulysses2, ulysses4 = Scenario("flux-dev", "bf16", parallel="ulysses2"), Scenario("flux-dev", "bf16",
                                                                                      parallel="ulysses4")
    two_gpus = Target("cuda", (9, 0), "NVIDIA H200", accelerators=2)
    assert parallel_unavailable(ulysses2, two_gpus) is None
    assert "needs 4; this process sees 2" in parallel_unavailable(ulysses4, two_gpus)
    assert "sees 1" in parallel_unavailable(ulysses2, Target("cuda", (9, 0), "NVIDIA H200", accelerators=1))
    assert "on a CPU" in parallel_unavailable(ulysses2, Target("cpu"))
    assert parallel_unavailable(Scenario("flux-dev", "bf16"), Target("cpu")) is None


def test_the_other_ranks_rebuild_rank_0s_call_with_the_same_seeds_and_no_callbacks():
    kwargs = dict(prompt=["a"], num_inference_steps=2, callback_on_step_end=lambda *a: None,
                  generator=[torch.Generator("cpu").manual_seed(3), torch.Generator("cpu").manual_seed(4)])
    sent = parallel._portable(kwargs)
    assert "callback_on_step_end" not in sent and sent["generator"] == ("seeds", [3, 4])
    rebuilt = parallel._rebuilt(sent)
    assert [g.initial_seed() for g in rebuilt["generator"]] == [3, 4] and rebuilt["prompt"] == ["a"]
    one = parallel._rebuilt(parallel._portable(dict(generator=torch.Generator("cpu").manual_seed(7))))
    assert torch.equal(torch.randn(3, generator=one["generator"]),
                       torch.randn(3, generator=torch.Generator("cpu").manual_seed(7)))


def test_a_parallel_result_gets_its_speedup_over_the_same_scenario_on_one_gpu():
    def bench(scenario, median, layout=None):
        return dict(stats=dict(median=median), extra_info=dict(scenario=scenario, **(
            dict(context_parallel=layout) if layout else {})))

    runs = [bench("s", 4.0), bench("s-cp-ulysses2", 2.5, dict(gpus=2, single_gpu_scenario="s")),
            bench("t-cp-ulysses2", 1.0, dict(gpus=2, single_gpu_scenario="t"))]  # t did not run: no speedup
    add_parallel_speedups(runs)
    assert runs[1]["extra_info"]["context_parallel"] == dict(gpus=2, single_gpu_scenario="s", speedup=1.6,
                                                             efficiency=0.8)
    assert "speedup" not in runs[2]["extra_info"]["context_parallel"]


def test_wan_in_parallel_under_a_fullgraph_regional_compile_is_a_known_failure_of_diffusers_0_42(monkeypatch):
    from diffbench.measure import capabilities

    two_gpus = Target("cuda", (9, 0), "NVIDIA H200", accelerators=2)
    monkeypatch.setattr(capabilities.internals, "installed", dict(torchao="0.18.0", diffusers="0.42.1").get)
    wan = Scenario("wan2.1-t2v-1.3b", "bf16", "regional", parallel="ulysses2")
    reason, run = capabilities.expected_failure(wan, two_gpus, "synthetic", "benchmarks")
    assert "inspect.signature" in reason and run
    # FLUX's plan hooks nothing inside its blocks; graph breaks allowed; one GPU: no hook at all
    for other in (Scenario("flux-dev", "bf16", "regional", parallel="ulysses2"),
                  Scenario("wan2.1-t2v-1.3b", "bf16", "regional-breaks", parallel="ulysses2"),
                  Scenario("wan2.1-t2v-1.3b", "bf16", "regional")):
        assert capabilities.expected_failure(other, two_gpus, "synthetic", "benchmarks") is None
    monkeypatch.setattr(capabilities.internals, "installed", dict(torchao="0.18.0", diffusers="0.43.0").get)
    assert capabilities.expected_failure(wan, two_gpus, "synthetic", "benchmarks") is None  # a newer diffusers runs it


def test_the_idle_time_of_a_parallel_step_comes_from_the_timed_rounds_not_the_profiled_call():
    from diffbench.measure import instruments, runner

    # 10 steps; the GPU was busy 3 s of the profiled call (0.5 s of it NCCL), whose own wall time the profiler
    # inflates: idle is taken against the timed rounds' median, 4 s
    gpu = instruments.GpuTime(busy_s=3.0, communication_s=0.5, compute_s=2.5)
    layout = runner.context_parallel(Scenario("flux-dev", "bf16", parallel="ring2", attention="native-cudnn"),
                                     gpu, 10, [4.5, 4.0, 3.9])
    assert layout["compute_per_step_s"] == pytest.approx(0.25)
    assert layout["communication_per_step_s"] == pytest.approx(0.05)
    assert layout["idle_per_step_s"] == pytest.approx(0.1)
    assert layout["single_gpu_scenario"] == "flux-dev-bf16-eager-nofuse-bs1-attn-native-cudnn"
    assert runner.context_parallel(Scenario("flux-dev", "bf16"), gpu, 10, [4.0]) is None


# diffusers places rank r on accelerator r % torch.accelerator.device_count(); a CPU has none, so this test gives
# every process of the session (the spawned ranks too, through PYTHONPATH) a count of one: the ranks then run on
# the CPU over gloo, the way they run on GPUs over NCCL.
ONE_ACCELERATOR = """
import torch
if torch.accelerator.device_count() == 0:
    torch.accelerator.device_count = lambda: 1
"""


@pytest.mark.slow  # two tiny FLUX sessions' worth: one rank 0, one spawned rank
def test_a_plain_pytest_session_starts_the_ranks_and_gates_the_parallel_output(suite, tmp_path, monkeypatch):
    shim = tmp_path / "one-accelerator"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(ONE_ACCELERATOR)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")])))
    result = suite.runpytest_subprocess(
        "benchmarks", "quality", "--models", "flux-dev", "--quant", "bf16", "--parallel", "none,ulysses2",
        "--steps", "2", "--rounds", "2", "--quality-prompts", "2", "--update-baselines",
        "--benchmark-json", "out.json")
    result.assert_outcomes(passed=4)
    data = json.loads((suite.path / "out.json").read_text())
    info = {b["extra_info"]["scenario"]: b["extra_info"] for b in data["benchmarks"]}
    layout = info["flux-dev-bf16-eager-nofuse-bs1-cp-ulysses2"]["context_parallel"]
    assert layout["gpus"] == 2 and layout["ulysses_degree"] == 2
    assert layout["single_gpu_scenario"] == "flux-dev-bf16-eager-nofuse-bs1"
    assert layout["speedup"] > 0 and layout["efficiency"] == pytest.approx(layout["speedup"] / 2)
    # the quality suite compares the 2-rank output with the one-GPU bf16 reference, like any scheme
    quality = info["flux-dev-bf16-eager-nofuse-bs1-cp-ulysses2"]["quality"]
    assert float(quality["psnr"]["min"]) > 40  # "inf" where the two outputs are identical
