"""The diffbench pytest plugin, registered through the `pytest11` entry point (installing diffbench is enough):
the options, the matrix parametrization, the outcome records and the shared fixtures.

Wiring only: what the hooks do lives in `plugin`, `settings` and `workers` beside this module; what they keep
between them is one `session.DiffbenchSession`, read through `get_session`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from diffbench.measure import machine
from diffbench.pytest_plugin import plugin, workers
from diffbench.pytest_plugin.session import get_session
from diffbench.spec.dimensions import DIMENSIONS
from diffbench.spec.selections import SELECTIONS
from diffbench.spec.quantize_paths import QUANTIZE_PATHS
from diffbench.pytest_plugin.settings import Settings
from diffbench.build.sources import NAMED_SOURCES


_RUN_OPTIONS_AFTER = "--attention"  # the matrix option the run options (--weights ... --quant-components) follow


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("diffbench", "diffbench: the (model x quantization x compile x fuse x batch) matrix")
    add = group.addoption
    # The matrix options come from the dimension records (spec/dimensions.py); `pytest --help` lists the run
    # options between them, after --attention, where it always has.
    split = [d.option for d in DIMENSIONS].index(_RUN_OPTIONS_AFTER) + 1
    for dimension in DIMENSIONS[:split]:
        add(dimension.option, **dimension.option_kwargs())
    add("--weights", dest="diffbench_weights", default="auto", metavar="SOURCE",
        help=f"{' | '.join(NAMED_SOURCES)} | a hub id or local pipeline folder "
             "(default: synthetic on CUDA, tiny on CPU)")
    add("--device", dest="diffbench_device", default="auto", choices=["auto", "cpu", "cuda"],
        help="where pipelines run (default: cuda when available)")
    add("--steps", dest="diffbench_steps", type=int, default=None, metavar="N",
        help="override every model's number of inference steps (default: the model's own)")
    add("--rounds", dest="diffbench_rounds", type=int, default=3, metavar="N",
        help="timed pipeline calls per scenario, after an untimed first call and a profiled call (default: 3)")
    add("--quant-components", dest="diffbench_quant_components", default="denoiser", metavar="NAMES",
        help="components to quantize: 'denoiser' and/or component names such as text_encoder_2,vae "
             "(default: denoiser)")
    for dimension in DIMENSIONS[split:]:
        add(dimension.option, **dimension.option_kwargs())
    add("--selection", dest="diffbench_selection", default=None, choices=list(SELECTIONS), metavar="NAME",
        help="run a named matrix instead of the matrix options: "
             + "; ".join(f"{s.name} ({s.description})" for s in SELECTIONS.values())
             + " (src/diffbench/spec/selections.py)")
    add("--quantize-paths", dest="diffbench_quantize_paths", default="all", metavar="NAMES",
        help="comma-separated ways the quantization-cost tests put a quantized denoiser on the device: "
             + ", ".join(f"{p.name} ({p.description})" for p in QUANTIZE_PATHS.values()) + ", or 'all' (default: all)")
    add("--cache-dir", dest="diffbench_cache_dir", default=None, metavar="DIR",
        help="where tiny pipelines are saved (default: $DIFFBENCH_CACHE or ~/.cache/diffbench)")
    add("--allow-pickle", dest="diffbench_allow_pickle", action="store_true", default=False,
        help="allow loading non-safetensors (pickled) checkpoints; off by default")
    add("--compile-cache", dest="diffbench_compile_cache", default=None, metavar="DIR",
        help="keep inductor/Triton compile caches here, in a folder keyed by torch/torchao/diffusers/GPU "
             "(default: torch's own temporary cache)")
    add("--fresh-compile", dest="diffbench_fresh_compile", action="store_true", default=False,
        help="compile cold: use an empty cache folder for this session")
    add("--memory-cap-gib", dest="diffbench_memory_cap_gib", type=float, default=None, metavar="GIB",
        help="cap this process's GPU memory (torch.cuda.set_per_process_memory_fraction), e.g. to see how a "
             "smaller GPU fares; scenarios that do not fit fail with their OOM recorded (default: no cap)")
    add("--durations-from", dest="diffbench_durations_from", type=Path, default=None, metavar="PATH",
        help="under pytest-xdist, hand the longest pipelines out first, as long as they took in these results: "
             "a results JSON, or a folder of them such as a baseline store folder (default: xdist's order)")
    add("--scenario-timeout", dest="diffbench_scenario_timeout", type=float, default=None, metavar="SECONDS",
        help="fail a scenario (build, compile and timed calls) that runs longer than this; the session goes on")
    add("--baselines-dir", dest="diffbench_baselines_dir", default=None, metavar="DIR",
        help="baseline store, one folder per GPU kind (default: <rootdir>/baselines)")
    add("--update-baselines", dest="diffbench_update_baselines", action="store_true", default=False,
        help="regenerate reference outputs on purpose instead of comparing with them")
    add("--thresholds", dest="diffbench_thresholds", default=None, metavar="FILE",
        help="quality gates file (default: the thresholds shipped with diffbench, src/diffbench/data/thresholds.toml)")
    add("--quality-prompts", dest="diffbench_quality_prompts", type=int, default=8, metavar="N",
        help="how many prompts of the default set the quality tests generate (default: 8, the whole default set; "
             "the proxy's gates are calibrated on 8)")
    add("--quality-control", dest="diffbench_quality_control", default="int2wo", metavar="SCHEME",
        help="a lossy scheme scored beside every quality result to show the gates' resolving power, "
             "or 'none' (default: int2wo)")
    add("--clip-model", dest="diffbench_clip_model", default="ViT-B-32", metavar="NAME",
        help="open_clip architecture for CLIP score (default: ViT-B-32)")
    add("--clip-weights", dest="diffbench_clip_weights", default=None, metavar="TAG_OR_FILE",
        help="open_clip pretrained tag or local checkpoint; without it CLIP metrics are skipped with that reason")
    add("--quality-json", dest="diffbench_quality_json", default=None, metavar="PATH",
        help="write the quality results (metrics, gates, control scores, environment) to this JSON file")


def pytest_configure(config: pytest.Config) -> None:
    plugin.configure(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    plugin.parametrize(metafunc)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    plugin.order_by_build(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    plugin.scenario_started(item)
    result = yield  # an interrupt raises here: the scenario stays recorded as the one in progress
    plugin.scenario_finished(item)
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    plugin.scenario_phase(item, "call")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    plugin.record_outcome(item, call, report)
    if report.when == "call":  # (a Ctrl-C or SIGTERM inside the call raises past this hook: no report)
        plugin.scenario_phase(item, "teardown")  # its call is over: a timed result is already recorded
    return report


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    weights = get_session(config).settings.build.source.name
    machine_info["diffbench"] = machine.environment(config.rootpath) | dict(weights=weights) | workers.placement(config)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    plugin.note_saved_benchmarks(config, benchmarks)
    plugin.annotate_results(config, output_json)
    workers.tag_records(config, output_json)


def pytest_sessionstart(session: pytest.Session) -> None:
    workers.time_on_workers(session.config)  # after pytest-benchmark's (trylast) configure made its session


@pytest.hookimpl(tryfirst=True)  # before xdist's own (tryfirst too) sets up the gateways
def pytest_cmdline_main(config: pytest.Config) -> None:
    workers.distribute_over_gateways(config)


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # pytest-xdist's hooks (controller): -n auto, before xdist's
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    return workers.auto_num_workers(config)


@pytest.hookimpl(optionalhook=True)  # how tests are handed out, each worker's device and results
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    plugin.stop_on_terminate(config)  # the controller's SIGTERM: collect the workers' results, then merge
    return workers.make_scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    workers.configure_node(node.config, node)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    workers.receive_results(node.config, node)


def pytest_sessionfinish(session: pytest.Session) -> None:
    plugin.save_results_without_benchmarks(session.config)  # runs after pytest-benchmark's own saving
    workers.send_results(session.config)  # on an xdist worker: its results, back to the controller
    workers.merge_results(session.config)  # on the xdist controller: the results the workers sent
    plugin.write_quality_log(session.config)


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    """The validated options; asking for them prepares the process for building models (once)."""
    plugin.prepare_runtime(pytestconfig)
    return get_session(pytestconfig).settings


@pytest.fixture(scope="session")
def pipeline_cache(pytestconfig: pytest.Config, settings: Settings):
    cache = plugin.pipeline_cache(pytestconfig)
    yield cache
    cache.close()


@pytest.fixture(scope="session")
def quality_session(pytestconfig: pytest.Config, settings: Settings):
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
