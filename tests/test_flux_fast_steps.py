"""flux-fast's measured steps as options (issue 35): its inductor profile, whole-model compile with CUDA graphs
(regional with CUDA graphs a known failure), the VAE in channels_last with --compile-vae."""

from __future__ import annotations

import torch

from diffbench.build import compilation
from diffbench.measure import capabilities
from diffbench.spec import rules
from diffbench.spec.compile_modes import COMPILE_MODES, INDUCTOR_PROFILES, RECORDED_FLAGS
from diffbench.spec.matrix import Scenario


def test_the_flux_fast_profile_sets_its_flags_and_records_them():
    profile = INDUCTOR_PROFILES["flux-fast"]
    assert profile == dict(conv_1x1_as_mm=True, epilogue_fusion=False, coordinate_descent_tuning=True,
                           coordinate_descent_check_all_directions=True)
    assert set(profile) <= set(RECORDED_FLAGS)
    with compilation.inductor_profile("flux-fast"):
        flags = compilation.inductor_flags()
        assert all(flags[name] == value for name, value in profile.items())
    assert compilation.inductor_flags()["conv_1x1_as_mm"] is False  # restored (torch's default)


def test_cuda_graph_modes_use_reduce_overhead():
    whole, regional = COMPILE_MODES["compile-cudagraphs"], COMPILE_MODES["regional-cudagraphs"]
    assert whole.compile_kwargs == dict(mode="reduce-overhead") and not whole.regional
    assert regional.compile_kwargs["mode"] == "reduce-overhead" and regional.regional and regional.fullgraph


def test_regional_cuda_graphs_on_flux_is_a_known_failure_on_the_gpu_with_the_versions_seen():
    scenario = Scenario("flux-dev", "fp8dqrow", "regional-cudagraphs", True)
    known = [k for k in rules.KNOWN_FAILURES if k.applies(scenario)]
    assert len(known) == 1 and "overwritten by a subsequent run" in known[0].reason
    assert known[0].device == "cuda" and set(known[0].versions) == {"torch", "diffusers"}
    whole = Scenario("flux-dev", "fp8dqrow", "compile-cudagraphs", True)
    assert not any(k.applies(whole) for k in rules.KNOWN_FAILURES)
    assert capabilities.expected_failure(scenario, capabilities.Target("cpu")) is None  # on the CPU no CUDA graphs


def test_compile_vae_puts_image_vaes_in_channels_last_and_leaves_video_vaes():
    from diffusers import AutoencoderKL, AutoencoderKLWan

    image = AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=4)
    assert compilation.to_channels_last(image)
    convs = [m.weight for m in image.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    video = AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 2], num_res_blocks=1, attn_scales=[],
                             temperal_downsample=[False])
    assert not compilation.to_channels_last(video)


def test_flux_steps_without_the_schedulers_host_sync(tmp_path):
    # flux-fast's scheduler.set_begin_index(0): without a begin index FlowMatchEulerDiscreteScheduler finds each
    # step's index by `(timesteps == t).nonzero()`, a host sync per step. diffusers' FluxPipeline sets it itself
    # (0.39 and newer), so there is no option to add; this notices if a release stops doing so.
    from diffbench.build import pipelines
    from diffbench.build.built import BuildOptions
    from diffbench.build.sources import weights_source
    from diffbench.measure import runner

    source = weights_source("tiny", tmp_path, False)
    built = pipelines.build(Scenario("flux-dev", "bf16"), BuildOptions(source=source, device="cpu"))
    scheduler = built.pipe.scheduler
    lookups = []
    original = scheduler.index_for_timestep
    scheduler.index_for_timestep = lambda *args, **kwargs: lookups.append(args) or original(*args, **kwargs)
    call, _ = runner.pipeline_call(built, runner.RunOptions(device="cpu", source=source, steps=3))
    call()
    assert scheduler.begin_index == 0 and lookups == []
