"""What one pytest session of diffbench keeps between its hooks and fixtures: one object, under one key of the
pytest config's stash, made in `plugin.configure` once the options are valid.

Read it through `get_session(config)`, never through a stash key of its own: a new piece of session state is a
field here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from diffbench.pytest_plugin.settings import Settings

if TYPE_CHECKING:
    from diffbench.build.pipelines import PipelineCache
    from diffbench.measure.quality_session import QualitySession
    from diffbench.store.results import Measurement


def _no_outcomes() -> dict[str, list[dict]]:
    return dict(failures=[], skipped=[])


@dataclass
class DiffbenchSession:
    """The state of one diffbench session (one per process: the controller and each xdist worker have their own)."""

    settings: Settings  # the validated options
    started: float = field(default_factory=time.perf_counter)  # session_wall_s counts from here (configure)
    outcomes: dict[str, list[dict]] = field(default_factory=_no_outcomes)  # failed and skipped scenarios
    serialization: list[dict] = field(default_factory=list)  # round trips (the serialization_log fixture)
    quantization_cost: list[dict] = field(default_factory=list)  # (the quantization_cost_log fixture)
    pipeline_cache: PipelineCache | None = None  # made by the pipeline_cache fixture, when a test first asks
    quality: QualitySession | None = None  # made by the quality_session fixture, when a test first asks
    running: dict | None = None  # the scenario in progress: still set if the session is interrupted in it
    # node id -> pytest's seconds for each phase of the test (setup, call, teardown), for its results record
    phase_s: dict[str, dict[str, float]] = field(default_factory=dict)
    cuda_device: int | None = None  # an xdist worker's own CUDA device (workers.use_worker_device)
    # xdist controller: worker id -> the results JSON it sent back (None: it sent none, e.g. it crashed)
    worker_results: dict[str, str | None] = field(default_factory=dict)
    # --durations-from, read where tests are handed out (not on workers): scenario id -> its recorded measurement
    recorded_durations: dict[str, Measurement] = field(default_factory=dict)
    benchmarks_saved: bool = False  # pytest-benchmark saved completed benchmarks (it saves nothing without one)


_SESSION = pytest.StashKey[DiffbenchSession]()


def start_session(config: pytest.Config, settings: Settings) -> DiffbenchSession:
    """A new session for this pytest config (its clock starts now)."""
    session = config.stash[_SESSION] = DiffbenchSession(settings)
    return session


def get_session(config: pytest.Config) -> DiffbenchSession:
    """This pytest config's diffbench session (made by `plugin.configure`; absent only under --help)."""
    return config.stash[_SESSION]
