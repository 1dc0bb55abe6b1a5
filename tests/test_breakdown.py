"""diffbench breakdown: a call's median wall time split by where it went, from its profiled kernels."""

from __future__ import annotations

import pytest

from diffbench.face import breakdown
from diffbench.store.results import Measurement


def measurement(kernels, gpu_s=2.0, median=2.5, attention_s=0.0):
    info = dict(gpu_kernel_s=gpu_s, gpu_top_kernels=kernels, attention_gpu_s=attention_s)
    return Measurement("flux-dev-fp8dqrow-regional-fuse-bs1", info, median, 0.0, median, median)


def test_kernels_are_classed_by_name_and_the_rest_is_what_the_longest_do_not_cover():
    # attention: every attention kernel's recorded time (0.5 s), not its longest kernel's share of it
    m = measurement([["cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f8_knob_32", 0.45],
                     ["nvjet_sm90_qqtst_128x128_128x6_1x2_h_bz_ovscale_bias_TNT", 0.9],
                     ["triton_red_fused__scaled_mm__to_copy_abs_amax_clamp_div_gelu_t_unsqueeze_view_22", 0.3],
                     ["void at::native::RowwiseMomentsCUDAKernel<c10::BFloat16>", 0.1]], attention_s=0.5)
    seconds = breakdown.of(m).seconds
    assert seconds["attention"] == 0.5 and seconds["GEMM"] == 0.9 and seconds["inductor"] == 0.3
    assert seconds["other named"] == 0.1
    assert seconds["rest"] == pytest.approx(0.2) and seconds["host"] == pytest.approx(0.5)
    assert sum(seconds[c] for c in breakdown.COLUMNS[1:]) == pytest.approx(seconds["wall"])


def test_a_result_without_profiled_kernels_has_no_breakdown():
    assert breakdown.of(measurement(None)) is None
    assert breakdown.of(Measurement("x", dict(gpu_kernel_s=1.0, gpu_top_kernels=[["k", 1.0]]), 1.0, 0.0, 1.0, 1.0)) \
        is None  # written before attention_gpu_s: not the same record
    assert breakdown.of(Measurement("x", {}, 1.0, 0.0, 1.0, 1.0)) is None


def test_the_table_orders_by_wall_time_and_gives_shares():
    fast = measurement([["nvjet_gemm", 1.0]], gpu_s=1.0, median=1.25)
    slow = measurement([["nvjet_gemm", 1.0]], gpu_s=1.0, median=2.0)
    slow = Measurement("slow", slow.info, slow.median, 0.0, 2.0, 2.0)
    lines = breakdown.markdown([breakdown.of(slow, "2026-12-06T13:33:10.78+00:00"), breakdown.of(fast)]).splitlines()
    assert "flux-dev-fp8dqrow" in lines[2] and "`slow`" in lines[3]
    assert "0.250 (20%)" in lines[2]  # host: 0.25 s of 1.25 s
    assert "| 2026-12-06 13:33 |" in lines[3] and "| ? |" in lines[2]  # each row's run: machines may differ
