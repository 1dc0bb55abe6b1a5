"""What one pytest session of diffbench keeps between its hooks and fixtures: one object, under one key of the
pytest config's stash, made in `pytest_configure` for every session. It stays inert (`settings` None, every hook a
no-op) until the session asks for diffbench: a diffbench option given, or a test that takes a scenario collected
(`plugin.activate` then validates the options and fills `settings`).

Read it through `get_session(config)`, never through a stash key of its own: a new piece of session state is a
field here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from diffbench.pytest_plugin.settings import Settings
    from diffbench.build.pipelines import PipelineCache
    from diffbench.measure.quality_session import QualitySession
    from diffbench.store.results import Measurement


def _no_outcomes() -> dict[str, list[dict]]:
    return dict(failures=[], skipped=[])


@dataclass
class DiffbenchSession:
    """The state of one diffbench session (one per process: the controller and each xdist worker have their own)."""

    settings: Settings | None = None  # the validated options; None: diffbench is not in play (yet)
    started: float = field(default_factory=time.perf_counter)  # session_wall_s counts from here (configure)
    outcomes: dict[str, list[dict]] = field(default_factory=_no_outcomes)  # failed and skipped scenarios
    serialization: list[dict] = field(default_factory=list)  # round trips (the serialization_log fixture)
    quantization_cost: list[dict] = field(default_factory=list)  # (the quantization_cost_log fixture)
    pipeline_cache: PipelineCache | None = None  # made by the pipeline_cache fixture, when a test first asks
    quality: QualitySession | None = None  # made by the quality_session fixture, when a test first asks
    running: dict | None = None  # the scenario in progress: still set if the session is interrupted in it
    # node id -> pytest's seconds for each phase of the test (setup, call, teardown), for its results record
    phase_s: dict[str, dict[str, float]] = field(default_factory=dict)
    cuda_device: int | None = None  # an xdist worker's own CUDA device (scheduling.use_worker_device)
    # xdist controller: worker id -> the results JSON it sent back (None: it sent none, e.g. it crashed)
    worker_results: dict[str, str | None] = field(default_factory=dict)
    # --durations-from, read where tests are handed out (not on workers): scenario id -> its recorded measurement
    recorded_durations: dict[str, Measurement] = field(default_factory=dict)
    benchmarks_saved: bool = False  # pytest-benchmark saved completed benchmarks (it saves nothing without one)
    usage_error: str | None = None  # options found bad while collecting: raised as a usage error once collected
    session_started: bool = False  # pytest_sessionstart has run (pytest-benchmark's session exists)
    last_lines: list[str] = field(default_factory=list)  # said at the end of the output (plugin.say_last)
    results_written: Path | None = None  # where this process's results JSON went (a fallback, if the asked failed)


_SESSION = pytest.StashKey[DiffbenchSession]()


def start_session(config: pytest.Config, settings: Settings | None = None) -> DiffbenchSession:
    """This pytest config's session, made now (its clock starts) where there is none; given settings, in play."""
    session = config.stash.get(_SESSION, None)
    if session is None:
        session = config.stash[_SESSION] = DiffbenchSession()
    if settings is not None:
        session.settings = settings
    return session


def get_session(config: pytest.Config) -> DiffbenchSession:
    """This pytest config's diffbench session (made in `pytest_configure`)."""
    return config.stash[_SESSION]


def in_play(config: pytest.Config) -> bool:
    """Whether this session uses diffbench (its options are validated): every hook is a no-op until it does."""
    session = config.stash.get(_SESSION, None)
    return session is not None and session.settings is not None
