"""Save each scenario's quantized denoiser with safetensors, reload it with from_pretrained, compare outputs."""

from diffbench.build import reload
from diffbench.measure import serialization


def test_round_trip(built, settings, serialization_log):
    result = serialization.round_trip(built, settings.run, list(settings.quality.prompts[:2]),
                                      reload.reloaded(built, settings.build.dtype, settings.run.device))
    serialization_log.append(result)
    tolerance = settings.quality.thresholds.serialization_tolerance()
    assert result["pixel_diff_max"] <= tolerance, (
        f"{built.scenario.id}: the reloaded denoiser's outputs differ by up to {result['pixel_diff_max']}/255, "
        f"tolerance {tolerance} ({settings.quality.thresholds.source})")
