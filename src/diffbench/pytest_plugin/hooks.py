"""The diffbench pytest plugin, registered through the `pytest11` entry point (installing diffbench is enough):
the options, the matrix parametrization, the outcome records and the shared fixtures.

Wiring only: what the hooks do lives in `plugin`, `settings` and `workers` beside this module; what they keep
between them is one `session.DiffbenchSession`, read through `get_session`.

A good citizen in someone else's pytest: this module imports only pytest and the spec (no torch), and every hook
is a no-op until the session is in play (`session.in_play`): a diffbench option given, the project's ini saying
`diffbench_suite = true` (this repository's does), or a test that takes a `scenario` or `quantization_case`
collected. Only then are the options validated and the model code imported (`plugin.activate`).
"""

from __future__ import annotations

import pytest

from diffbench.pytest_plugin import options
from diffbench.pytest_plugin.session import get_session, in_play, start_session

SCENARIO_ARGUMENTS = {"scenario", "quantization_case"}  # a test taking one of these is a diffbench test


def _asked_for(config: pytest.Config) -> bool:
    """Whether the command line or the ini asks for diffbench (known before collection, on every process)."""
    return bool(options.given(config.option)) or bool(config.getini("diffbench_suite"))


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from diffbench.pytest_plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)  # the innermost: users' plugins wrap it
def pytest_diffbench_build(scenario, options):
    from diffbench.build import pipelines

    return pipelines.build(scenario, options)


@pytest.hookimpl(trylast=True)
def pytest_diffbench_call(scenario, call):
    return call()


@pytest.hookimpl(trylast=True)
def pytest_diffbench_known_failure(scenario, target, weights, suite):
    from diffbench.measure import capabilities

    return capabilities.expected_failure(scenario, target, weights, suite)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)
    parser.addini("diffbench_suite", type="bool", default=False,
                  help="diffbench: this project's tests are diffbench suites (the plugin is in play from the start, "
                       "e.g. for -n auto's one worker per GPU)")


def pytest_configure(config: pytest.Config) -> None:
    start_session(config)  # its clock starts now; settings come when the session is in play
    if not config.option.help and _asked_for(config):
        from diffbench.pytest_plugin import plugin

        plugin.activate(config)


def _parametrized_by_the_test(metafunc: pytest.Metafunc) -> set[str]:
    """The arguments a test parametrizes itself (another project's `scenario` is its own, not diffbench's)."""
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        names.update(n.strip() for n in argnames.split(",")) if isinstance(argnames, str) else names.update(argnames)
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = SCENARIO_ARGUMENTS.intersection(metafunc.fixturenames) - _parametrized_by_the_test(metafunc)
    if not wanted:
        return
    from diffbench.pytest_plugin import plugin

    if plugin.activate_while_collecting(metafunc.config):
        plugin.parametrize(metafunc, wanted)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if (error := get_session(config).usage_error) is not None:
        raise pytest.UsageError(error)  # a bad option found while collecting: before anything is built
    if in_play(config):
        from diffbench.pytest_plugin import plugin

        plugin.order_by_build(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    if not in_play(item.config):
        return (yield)
    from diffbench.pytest_plugin import plugin

    plugin.scenario_started(item)
    result = yield  # an interrupt raises here: the scenario stays recorded as the one in progress
    plugin.scenario_finished(item)
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if in_play(item.config):
        from diffbench.pytest_plugin import plugin

        plugin.scenario_phase(item, "call")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if in_play(item.config):
        from diffbench.pytest_plugin import plugin

        plugin.record_outcome(item, call, report)
        if report.when == "call":  # (a Ctrl-C or SIGTERM inside the call raises past this hook: no report)
            plugin.scenario_phase(item, "teardown")  # its call is over: a timed result is already recorded
    return report


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    if in_play(config):
        from diffbench.pytest_plugin import results

        results.describe_machine(config, machine_info)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    if in_play(config):
        from diffbench.pytest_plugin import results, worker_results

        results.note_saved_benchmarks(config, benchmarks)
        results.annotate_results(config, output_json)
        worker_results.tag_records(config, output_json)
        results.redirect_unwritable_json(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    get_session(session.config).session_started = True
    if in_play(session.config):
        from diffbench.pytest_plugin import worker_results

        worker_results.time_on_workers(session.config)  # after pytest-benchmark's (trylast) configure made its session


@pytest.hookimpl(tryfirst=True)  # before xdist's own (tryfirst too) sets up the gateways
def pytest_cmdline_main(config: pytest.Config) -> None:
    if getattr(config.option, "tx", None) and _asked_for(config):
        from diffbench.pytest_plugin import scheduling

        scheduling.distribute_over_gateways(config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # pytest-xdist's hooks (controller): -n auto, before xdist's
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    if not _asked_for(config):
        return None
    from diffbench.pytest_plugin import scheduling

    return scheduling.auto_num_workers(config)


@pytest.hookimpl(optionalhook=True)  # how tests are handed out, each worker's device and results
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from diffbench.pytest_plugin import scheduling, signals

    if in_play(config):
        signals.stop_on_terminate(config)  # the controller's SIGTERM: collect the workers' results, then merge
    return scheduling.make_scheduler(config, log, on_first_scenario=lambda: _controller_in_play(config))


def _controller_in_play(config: pytest.Config):
    from diffbench.pytest_plugin import plugin

    return plugin.controller_in_play(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    from diffbench.pytest_plugin import scheduling

    scheduling.configure_node(node.config, node)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    from diffbench.pytest_plugin import worker_results

    worker_results.receive_results(node.config, node)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if get_session(config).worker_results:  # on the xdist controller: the results the workers sent
        from diffbench.pytest_plugin import worker_results

        worker_results.merge_results(config)
    if not in_play(config):
        return
    from diffbench.pytest_plugin import results, worker_results

    results.save_results_without_benchmarks(config)  # runs after pytest-benchmark's own saving
    worker_results.send_results(config)  # on an xdist worker: its results, back to the controller
    results.write_quality_log(config)


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's table: the last thing said before pytest's summary
def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if in_play(config):
        from diffbench.pytest_plugin import terminal

        terminal.summarize(config, terminalreporter)


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest):
    """The validated options; asking for them prepares the process for building models (once)."""
    from diffbench.pytest_plugin import plugin

    plugin.activate(request.config)
    plugin.prepare_runtime(request.config, request.session)
    return get_session(request.config).settings


@pytest.fixture(scope="session")
def pipeline_cache(pytestconfig: pytest.Config, settings):
    from diffbench.pytest_plugin import plugin

    cache = plugin.pipeline_cache(pytestconfig)
    yield cache
    cache.close()


@pytest.fixture(scope="session")
def quality_session(pytestconfig: pytest.Config, settings):
    from diffbench.pytest_plugin import plugin

    return plugin.quality_session(pytestconfig)


@pytest.fixture(scope="session")
def serialization_log(pytestconfig: pytest.Config) -> list:
    return get_session(pytestconfig).serialization


@pytest.fixture(scope="session")
def quantization_cost_log(pytestconfig: pytest.Config) -> list:
    return get_session(pytestconfig).quantization_cost


@pytest.fixture
def built(scenario, pipeline_cache):
    """The scenario's pipeline, built once and shared by consecutive tests with the same build key."""
    return pipeline_cache.get(scenario)
