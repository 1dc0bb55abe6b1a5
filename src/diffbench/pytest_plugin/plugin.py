"""pytest glue: the session put in play, the matrix as parameters, test ordering and the outcome records.

`hooks` declares the options and calls these functions once the session is in play (options are validated in
`settings`); nothing here builds a model at import time. The results JSON is `results`' job, what xdist workers
send back `worker_results`', SIGTERM `signals`'.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from diffbench.measure import capabilities, instruments, machine
from diffbench.build import compilation, internals, torch_fixes
from diffbench.spec import rules
from diffbench.pytest_plugin import compat, durations, paths, progress, scheduling, signals, worker_results
from diffbench.build.pipelines import PipelineCache
from diffbench.spec.matrix import Scenario, UsageError
from diffbench.measure.quality_session import QualitySession
from diffbench.measure.quantization_cost import QuantizationCase
from diffbench.spec.schemes import SCHEMES
from diffbench.store import references
from diffbench.store.schema import FailureRecord, SkipRecord
from diffbench.pytest_plugin.session import get_session, in_play, start_session
from diffbench.pytest_plugin.settings import Settings, settings_from_options


def activate(config: pytest.Config) -> None:
    """The session is in play: validate the options (a bad value is a usage error before anything is built) and
    fill the session (`session.DiffbenchSession`: its settings and records). Once; nothing process-wide changes
    here: that waits for the first diffbench test (`prepare_runtime`)."""
    if in_play(config):
        return
    try:
        settings = settings_from_options(config.option, config.rootpath)
        recorded = recorded_durations(config)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if scheduling.worker_id() is not None and settings.device == "cuda":  # a worker runs on its own GPU alone
        settings = replace(settings, target=replace(settings.target, accelerators=1))
    settings = replace(settings, run=replace(settings.run, wrap_call=call_hook(config)))
    session = start_session(config, settings)
    session.recorded_durations = recorded
    scheduling.use_worker_device(config, settings.device)  # under xdist: this worker's own GPU
    if session.session_started:  # in play from collection on: pytest_sessionstart has passed
        worker_results.time_on_workers(config)
    progress.check_load(config)


def call_hook(config: pytest.Config):
    """RunOptions.wrap_call: each pipeline call through the `pytest_diffbench_call` hook, where a plugin
    implements it besides diffbench (asked per scenario: conftest files register while collecting); else the
    call as it is, with nothing in between."""
    hook = config.hook.pytest_diffbench_call

    def wrap(scenario: Scenario, call):
        if len(hook.get_hookimpls()) <= 1:
            return call
        return lambda: hook(scenario=scenario, call=call)

    return wrap


def build_hook(config: pytest.Config):
    """PipelineCache's builder: the `pytest_diffbench_build` hook (diffbench's own implementation builds)."""
    return lambda scenario, options: config.hook.pytest_diffbench_build(scenario=scenario, options=options)


def activate_while_collecting(config: pytest.Config) -> bool:
    """A test that takes a scenario was collected: the session is in play. A bad option is kept and raised as a
    usage error once collection ends (`pytest_collection_modifyitems`): raised here, pytest would report a
    collection error instead. Whether the session is in play."""
    session = get_session(config)
    if session.usage_error is None:
        try:
            activate(config)
        except pytest.UsageError as exc:
            session.usage_error = str(exc)
    return in_play(config)


def controller_in_play(config: pytest.Config) -> dict[str, durations.Expected]:
    """Controller, once the workers have collected diffbench scenarios: diffbench is in play here too (the
    options validated, timing and SIGTERM handled as for one process). The pipelines' expected durations."""
    activate(config)
    worker_results.time_on_workers(config)
    signals.stop_on_terminate(config)  # the controller's SIGTERM: collect the workers' results, then merge
    expected = scheduling.expected_durations(config)
    scheduling.say_expected(config, expected)
    return expected


def recorded_durations(config: pytest.Config) -> dict:
    """--durations-from, read by the process that hands tests out; an xdist worker runs what it is given (and on
    another host the path may not exist)."""
    path = config.option.diffbench_durations_from
    if path is None or scheduling.worker_id() is not None:
        return {}
    return durations.read_recorded(path)


def prepare_runtime(config: pytest.Config, session: pytest.Session | None = None) -> None:
    """What a diffbench session changes for the whole process, once, before its first model is built. `session`:
    the pytest session a SIGTERM stops."""
    for message in internals.untested():
        warnings.warn(compat.UntestedVersionWarning(f"diffbench: {message}"), stacklevel=2)
    _quiet_progress_bars()
    signals.stop_on_terminate(config, session)
    torch_fixes.apply()
    opt = config.option
    if opt.diffbench_compile_cache or opt.diffbench_fresh_compile:
        root = Path(opt.diffbench_compile_cache or Path(tempfile.gettempdir()) / "diffbench-compile")
        compilation.use_compile_cache(root.expanduser(), machine.environment(), opt.diffbench_fresh_compile)
    if (cap := get_session(config).settings.memory_cap_gib) is not None:
        instruments.cap_gpu_memory(cap)


def _quiet_progress_bars() -> None:
    """Loading bars from diffusers/transformers would drown pytest's output."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def scenario_params(settings: Settings, suite: str = "", known_failure=None) -> list:
    """Every selected scenario, skipped with its reason where it cannot run here; known failures of this suite
    (the test file's folder: benchmarks, quality, ...) marked as such (`known_failure`: the plugin's
    pytest_diffbench_known_failure hook)."""
    known_failure = known_failure or capabilities.expected_failure
    params = []
    for scenario in settings.selection.scenarios():
        marks = _marks(settings, rules.skip_reason(scenario) or _cannot_run_here(scenario, settings))
        if known := known_failure(scenario, settings.target, settings.build.source.name, suite):
            reason, run = known
            marks.append(pytest.mark.xfail(reason=reason, strict=True, run=run))
        params.append(pytest.param(scenario, id=scenario.id, marks=marks))
    return params


def quantization_params(settings: Settings) -> list:
    """One case per selected (model, scheme) and quantization path: the other dimensions play no part."""
    params = []
    for scenario in dict.fromkeys(Scenario(s.model, s.scheme) for s in settings.selection.scenarios()):
        for path in settings.quantize_paths:
            case = QuantizationCase(scenario, path)
            reason = ("bf16 has nothing to quantize" if SCHEMES[scenario.scheme].make is None else None) \
                or _cannot_run_here(scenario, settings) \
                or (f"path '{path.name}' needs a CUDA device"
                    if path.needs_cuda and settings.device != "cuda" else None)
            params.append(pytest.param(case, id=case.id, marks=_marks(settings, reason)))
    return params


def _cannot_run_here(scenario: Scenario, settings: Settings) -> str | None:
    return settings.build.source.unavailable(scenario.spec) or capabilities.skip_reason(scenario, settings.target)


def _marks(settings: Settings, skip_reason: str | None) -> list:
    marks = [pytest.mark.scenario]  # under pytest-xdist, scheduling.make_scheduler keeps a pipeline on one worker
    if skip_reason:
        marks.append(pytest.mark.skip(reason=skip_reason))
    if settings.scenario_timeout:
        # pytest-timeout's signal method fails only this test; the session goes on.
        marks.append(pytest.mark.timeout(settings.scenario_timeout, method="signal"))
    return marks


def parametrize(metafunc: pytest.Metafunc, names: set[str]) -> None:
    """Parametrize the test's `scenario` and `quantization_case` arguments (those of `names`) by the matrix."""
    if "scenario" in names:
        hook = metafunc.config.hook.pytest_diffbench_known_failure
        metafunc.parametrize("scenario", scenario_params(
            get_session(metafunc.config).settings, metafunc.definition.path.parent.name,
            lambda scenario, target, weights, suite: hook(scenario=scenario, target=target, weights=weights,
                                                          suite=suite)))
    if "quantization_case" in names:
        metafunc.parametrize("quantization_case", quantization_params(get_session(metafunc.config).settings))


def order_by_build(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests that share a pipeline so each is built once (stable: keeps the file order otherwise); check
    before anything is built that the quality tests can write the references they will write."""
    check_references(config, items)
    progress.counted(config, items, _subject)

    def key(item):
        scenario = _scenario(item)
        return (0, scenario.build_key, scenario.batch) if scenario else (1,)

    items.sort(key=key)


def check_references(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The references folder must take files where the quality tests will write references: with
    --update-baselines, or where a selected model has none yet (the first `pytest quality`)."""
    models = {s.model for item in items if "quality_session" in item.fixturenames and (s := _scenario(item))}
    if not models:
        return
    options = get_session(config).settings.quality
    store = references.ReferenceStore(options.references)
    weights = get_session(config).settings.build.source.name
    if options.update or any(not store.base(model, weights).with_suffix(".npz").exists() for model in models):
        if (why := paths.unwritable(options.references)) is not None:
            given = config.option.diffbench_baselines_dir or "(default: baselines)"
            raise pytest.UsageError(f"--baselines-dir {given}: the quality tests write references in "
                                    f"{options.references}, but {why}")


def pipeline_cache(config: pytest.Config) -> PipelineCache:
    session = get_session(config)
    device = session.settings.device
    # The memory a freshly built pipeline holds, before any call (measured by measure, not by build).
    session.pipeline_cache = PipelineCache(session.settings.build, on_built=lambda built: built.info.update(
        instruments.model_memory(built.pipe, device)), builder=build_hook(config))
    return session.pipeline_cache


def quality_session(config: pytest.Config) -> QualitySession:
    session = get_session(config)
    settings = session.settings
    session.quality = QualitySession(settings.quality, settings.run, settings.build.source.name)
    return session.quality


def _scenario(item: pytest.Item) -> Scenario | None:
    callspec = getattr(item, "callspec", None)
    scenario = callspec.params.get("scenario") if callspec else None
    return scenario if isinstance(scenario, Scenario) else None


def _subject(item: pytest.Item) -> Scenario | QuantizationCase | None:
    """What a test's outcome is recorded under (by its `.id`): its scenario or its quantization case."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("quantization_case") if callspec else None
    return case if isinstance(case, QuantizationCase) else _scenario(item)


def scenario_started(item: pytest.Item) -> None:
    if (scenario := _subject(item)) is not None:
        get_session(item.config).running = dict(scenario=scenario.id, nodeid=item.nodeid, phase="setup",
                                                started=time.perf_counter())
        progress.started(item, scenario)


def scenario_phase(item: pytest.Item, phase: str) -> None:
    if (running := get_session(item.config).running) is not None:
        running["phase"] = phase


def scenario_finished(item: pytest.Item) -> None:
    get_session(item.config).running = None  # (never reached when Ctrl-C or `timeout -s INT` stops the session)
    if (scenario := _subject(item)) is not None:
        progress.finished(item, scenario)


def record_outcome(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """Failed and skipped scenarios go into the results JSON with their reason; a failure frees the device."""
    session = get_session(item.config)
    scenario = _subject(item)
    exc = call.excinfo.value if call.excinfo else None
    if scenario is not None:
        progress.note(item, report)
        session.phase_s.setdefault(item.nodeid, {})[report.when] = report.duration
        outcomes = session.outcomes
        entry = dict(scenario=scenario.id, nodeid=item.nodeid, phase=report.when)
        if hasattr(report, "wasxfail"):  # a known failure (rules.KNOWN_FAILURES): no measurement, a reason
            outcomes["skipped"].append(SkipRecord(**entry, reason=f"known failure: {report.wasxfail}").to_json())
        elif report.skipped and isinstance(report.longrepr, tuple):
            outcomes["skipped"].append(
                SkipRecord(**entry, reason=report.longrepr[2].removeprefix("Skipped: ")).to_json())
        elif report.failed:
            memory = instruments.inference_memory(session.settings.device)
            error_type, message = (type(exc).__name__, str(exc)) if exc else ("XPASS(strict)", str(report.longrepr))
            outcomes["failures"].append(FailureRecord(**entry, error_type=error_type, message=message[:4000],
                                                      peak_memory_gib=memory["peak_memory_gib"],
                                                      traceback=_traceback_tail(exc)).to_json())
    if report.failed:
        _release_frames(exc)
        if session.pipeline_cache is not None:  # drop the pipeline: the next scenario starts on a clean device
            session.pipeline_cache.close()


def _traceback_tail(exc: BaseException | None, limit: int = 6000) -> str | None:
    """The end of the chained traceback: wrappers such as InductorError hide the real failure's stack."""
    if exc is None:
        return None
    return "".join(traceback.format_exception(exc))[-limit:]


def _release_frames(exc: BaseException | None) -> None:
    """A failed test's traceback keeps its frames' locals (a whole pipeline, an OOM's tensors) alive, and pytest
    keeps the last one in sys.last_traceback for post-mortem debugging. The report is already formatted, so
    clear those locals: the next scenario must start with the device memory free."""
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            setattr(sys, name, None)
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__
