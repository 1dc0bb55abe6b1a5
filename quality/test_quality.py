"""Each optimized pipeline's outputs against the bf16 eager reference, gated by src/diffbench/data/thresholds.toml."""


def test_quality(scenario, quality_session, pipeline_cache):
    result = quality_session.evaluate(scenario, pipeline_cache.get)
    assert not result["failures"], (
        f"{scenario.id}: " + "; ".join(result["failures"]) + f" (thresholds: {result['thresholds_file']}; "
        f"side-by-side: {result['evidence']})"
    )
