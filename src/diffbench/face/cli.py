"""The `diffbench` command: `compare` two results files, `gate` a night against its history, `merge` runs into one,
`report` on runs, tabulate FLUX.1-dev's `frontier`, count the prompts quality logs lose (`lost-prompts`), draw the
runs' `history` as one HTML page, or measure the verdicts' `error-rates`.

Exit codes: 0 fine, 1 a regression (compare, gate), 2 a usage, input or output error (one line says which),
3 incomplete: nothing or not everything the baseline gates was judged (compare, gate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from diffbench.face import (across_gpus, breakdown, calibration, error_rates, frontier, gate, gate_view, history_page,
                            lost_prompts, readme, report, seeds)
from diffbench.face import compare as comparing
from diffbench.face.compare import compare, render
from diffbench.face.tolerances import Tolerances, parse_absolute, parse_percent
from diffbench.face.verdicts import CONFIDENCE
from diffbench.face.frontier import FrontierError
from diffbench.face.history import HistoryError
from diffbench.face.readme import ReadmeError
from diffbench.face.seeds import SeedDataError
from diffbench.store import merge, nights, quality_logs, results
from diffbench.store.results import MismatchError, ResultsError

OK, REGRESSION, USAGE, INCOMPLETE = 0, 1, 2, 3


def _option(parse):
    """An argparse type from a parser raising ValueError, so that a bad value is a usage error (exit 2)."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _section_option(parser: argparse.ArgumentParser, section: str) -> None:
    parser.add_argument("--readme", type=Path, metavar="MARKDOWN",
                        help="put the markdown between the %s and %s markers of this file (else it is printed)"
                             % readme.markers(section))


def _parser() -> argparse.ArgumentParser:
    default = Tolerances(run_noise={})
    first, _, rest = __doc__.partition("\n\n")  # the whole first paragraph: one line, never cut mid-sentence
    parser = argparse.ArgumentParser(prog="diffbench", description=" ".join(first.split()),
                                     epilog=" ".join(rest.split()) or None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("schemes", help="which torchao object each scheme resolves to in the installed torchao")

    compare = commands.add_parser(
        "compare", help="compare two results files (BASE, NEW), or several processes of each",
        description="Compare NEW against BASE per scenario.\n\n"
                    "One run per side: latency is judged on the rounds, against the larger of --fail-latency and\n"
                    "the run-to-run allowance of the scenario's noise class.\n"
                    "Several runs per side (--base-also, --new-also; each run a separate process of the same code\n"
                    "and selection, e.g. the suite run 3 times for each side): latency is judged on the process\n"
                    f"medians, Student's t interval ({CONFIDENCE:.0%}) of the ratio of their geometric means\n"
                    "against --fail-latency alone (the processes measure the run-to-run noise themselves).",
        epilog="example: diffbench compare base-1.json new-1.json --base-also base-2.json base-3.json "
               "--new-also new-2.json new-3.json\n"
               "exit status: 0 no regression, 1 regression, 2 usage or input error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("base", type=Path, metavar="BASE", help="baseline results JSON (its first process)")
    compare.add_argument("new", type=Path, metavar="NEW", help="results JSON to check (its first process)")
    compare.add_argument("--base-also", type=Path, nargs="+", default=[], metavar="RUN",
                         help="more runs of BASE, each its own process; with 2 or more processes a side, latency "
                              "is judged across processes (a scenario with fewer: the single-run rule)")
    compare.add_argument("--new-also", type=Path, nargs="+", default=[], metavar="RUN",
                         help="more runs of NEW, each its own process (as --base-also)")
    compare.add_argument("--fail-latency", type=_option(parse_percent), default=default.latency, metavar="PCT",
                         help="relative slowdown of the median beyond noise that fails, e.g. 5%% (default 5%%)")
    compare.add_argument("--fail-memory", type=_option(parse_percent), default=default.memory, metavar="PCT",
                         help="relative growth of peak memory that fails, e.g. 2%% (default 2%%)")
    compare.add_argument("--fail-ssim", type=_option(parse_absolute), default=default.ssim, metavar="DROP",
                         help="absolute drop of the mean SSIM that fails (default 0.01)")
    _reruns(compare, confirm="reruns of NEW in fresh processes (e.g. `pytest ... -k \"$(cat flagged)\"`): a flagged "
                              "scenario stays a regression only if every rerun finds it (single runs only: with "
                              "--base-also/--new-also, give reruns as NEW processes)",
            flagged="write the regressions and inconclusive scenarios as a pytest -k expression, for the "
                    "confirming reruns")
    compare.add_argument("--allow-mismatch", action="store_true",
                         help="compare runs from different GPUs or weights sources")
    compare.add_argument("--partial", action="store_true",
                         help="NEW measures a part of BASE's scenarios on purpose (e.g. a -k selection): BASE's "
                              "other scenarios are listed, not missing (without it, exit 3)")
    _verdict_files(compare)

    gate_parser = commands.add_parser(
        "gate", help="judge a night against its history: a rolling window per scenario, two channels, change points",
        description="Judge NEW against the nights of its GPU kind under HISTORY (results files or folders).\n\n"
                    "Per scenario, GPU work and host time are each judged against the window of the last nights of\n"
                    "the same settings and library versions (their own spread); a shift one night shows is\n"
                    "`suspected`, `confirmed` when the night before or every --confirm rerun shows it too.\n"
                    "Change points over each scenario's series come from apache-otava.",
        epilog="example: diffbench gate baselines/nvidia-h200/history new.json --flagged flagged.txt --append\n"
               "exit status: 0 passed, 1 a confirmed regression, 2 usage, input or output error, 3 incomplete "
               "(a gated scenario missing, NEW empty or already in the history)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    gate_parser.add_argument("history", type=Path, nargs="+", metavar="HISTORY",
                             help="the history: results files or folders of them (e.g. baselines/<gpu>/history)")
    gate_parser.add_argument("new", type=Path, metavar="NEW", help="the night to judge (its results JSON)")
    gate_parser.add_argument("--window", type=_option(_positive_int), default=gate.WINDOW, metavar="N",
                             help=f"nights in the rolling window (default {gate.WINDOW})")
    gate_parser.add_argument("--min-shift", type=_option(parse_percent), default=gate.MIN_SHIFT, metavar="PCT",
                             help=f"the smallest shift reported whatever the window's spread (default "
                                  f"{gate.MIN_SHIFT:.0%}%)")
    _reruns(gate_parser, confirm="reruns of NEW's suspected scenarios in fresh processes: a suspected regression "
                                 "every rerun shows is confirmed",
            flagged="write the suspected scenarios as a pytest -k expression (empty when none)")
    gate_parser.add_argument("--append", action="store_true",
                             help="when the gate passes, add NEW to the history folder (the first HISTORY path)")
    gate_parser.add_argument("--accept", action="store_true",
                             help="add NEW to the history folder whatever the verdict (a person's decision: "
                                  "the new level becomes the baseline)")
    _verdict_files(gate_parser)

    merge = commands.add_parser(
        "merge", help="merge results files of one GPU and weights source into one",
        description="Merge results files into one pytest-benchmark JSON (the baseline store: "
                    "baselines/<gpu>/<model>.json). On a scenario measured twice the later file given wins.",
        epilog="exit status: 0 written, 2 usage or input error (including a GPU or weights mismatch)")
    merge.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="results JSON, oldest first")
    merge.add_argument("--out", type=Path, required=True, help="the merged results JSON to write")
    merge.add_argument("--allow-mismatch", action="store_true",
                       help="merge runs from different GPUs or weights sources")
    merge.add_argument("--models", type=_option(_model_names), metavar="MODEL[,MODEL]",
                       help="keep only these models' scenarios (the store holds a file per model; a run of "
                            "`--selection store` spans all of them)")

    report = commands.add_parser("report", help="markdown tables and latency-vs-memory plots from runs")
    report.add_argument("runs", type=Path, nargs="+", metavar="RUN",
                        help="results JSON; several are merged as by `diffbench merge`")
    report.add_argument("--out", type=Path, default=Path("diffbench-report"),
                        help="output folder (default ./diffbench-report)")
    report.add_argument("--seeds", action="store_true",
                        help="add the seed documents' published time and model memory for the same "
                             "configurations (columns seed_time, seed_model_memory)")
    report.add_argument("--readme", type=Path, metavar="MARKDOWN",
                        help=f"also put the report between the {readme.START} and {readme.END} markers of "
                             "this file (refused when it lacks them)")
    report.add_argument("--quality", type=Path, nargs="+", default=[], metavar="LOG",
                        help="quality logs (pytest --quality-json) whose metrics fill those of timed scenarios "
                             "that have none (a run's own win; a later log wins over an earlier one)")
    report.add_argument("--allow-mismatch", action="store_true",
                        help="report runs (and quality logs) from different GPUs or weights sources together")

    gpus = commands.add_parser(
        "gpus", help="each GPU kind's time and memory side by side, one table per model",
        description="Group the runs by the GPU that made them (merged within a kind as by `diffbench merge`) and\n"
                    "write one markdown table per model: a row per configuration (scenario id, steps, resolution,\n"
                    "frames), each kind's median time and peak memory, and its time over the first kind's.",
        epilog="example: diffbench gpus baselines/nvidia-h100-80gb-hbm3/flux-dev.json "
               "baselines/nvidia-h200/nightly.json --seeds --readme docs/results.md\n"
               "exit status: 0 written, 2 usage or input error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    gpus.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="results JSON, of any GPU kinds")
    gpus.add_argument("--out", type=Path, help="write the markdown to this file")
    gpus.add_argument("--seeds", action="store_true", help="add each GPU kind's published seed time")
    gpus.add_argument("--readme", type=Path, metavar="MARKDOWN",
                      help="also put the tables between the %s and %s markers of this file" % readme.markers("gpus"))

    front = commands.add_parser(
        "frontier", help="FLUX.1-dev's speed/quality frontier per GPU kind from runs, beside the peers' figures",
        description="One markdown table of FLUX.1-dev at its own size and steps, batch 1: a row per GPU kind and\n"
                    "step (the newest run of it among the files), its latency, GPU work, attention share, first\n"
                    "call, peak memory and proxy quality (--quality), lossless or lossy; by default the speed/quality\n"
                    "frontier with bf16 eager and regional as references, and the steps that failed. Then the\n"
                    "peers' published figures (src/diffbench/data/peer_figures.toml) with ours of the same kind.",
        epilog="example: diffbench frontier baselines/nvidia-h100-80gb-hbm3/flux-dev.json "
               "baselines/nvidia-h200/flux-dev.json --quality QUALITY.json --readme README.md\n"
               "exit status: 0 written, 2 usage or input error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    front.add_argument("runs", type=Path, nargs="+", metavar="RESULTS", help="results JSON, of any GPU kinds")
    front.add_argument("--quality", type=Path, nargs="+", default=[], metavar="LOG",
                       help="quality logs (pytest --quality-json) whose worst-prompt PSNR and SSIM against bf16 eager "
                            "fill the rows of the same scheme, compile mode and attention kernel")
    front.add_argument("--all", action="store_true", help="every row, not only the frontier and the references")
    _section_option(front, "frontier")

    split = commands.add_parser(
        "breakdown", help="where each profiled call's time goes: host, attention, GEMMs, inductor's kernels",
        description="One markdown table: each scenario's median wall time split into host time and its profiled\n"
                    "call's GPU time by kernel class (face/breakdown.py), from `gpu_top_kernels`. Scenarios\n"
                    "recorded without profiled kernels are left out.",
        epilog="exit status: 0 written, 2 usage or input error", formatter_class=argparse.RawDescriptionHelpFormatter)
    split.add_argument("runs", type=Path, nargs="+", metavar="RESULTS", help="results JSON")
    _section_option(split, "breakdown")

    lost = commands.add_parser(
        "lost-prompts", help="which prompts each scenario of quality logs loses, each prompt judged on its own",
        description="One markdown table: per GPU kind and scenario, how many of its prompts fail the quality\n"
                    "gates in force on their own, in how many of its prompt sets, and which prompts they are\n"
                    "(face/lost_prompts.py). A log of `diffbench-jobs quality-mutations --scenarios` holds 8 sets.",
        epilog="example: diffbench lost-prompts fp8-attention-modes-sets.json\n"
               "exit status: 0 written, 2 usage or input error (a log without per-prompt metrics, or with no records)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    lost.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="quality logs (--quality-json, a job's)")
    _section_option(lost, "lost-prompts")

    rates = commands.add_parser(
        "error-rates", help="measure how often compare and gate cry wolf and miss, on the committed runs",
        description="Measure the verdicts' error rates on the committed runs of the baseline store (run it from the\n"
                    "repository's root): compare's allowances per channel, the gate's false alarms and catches on\n"
                    "every GPU kind's nights (real and simulated), the CPU sessions' single- and multi-process rates.\n"
                    "Writes baselines/error-rates.{json,md} and the allowances compare reads (data/run_noise.toml).",
        epilog="exit status: 0 written, 2 usage, input or output error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rates.add_argument("--trials", type=_option(_positive_int), default=4000, metavar="N",
                       help="simulated pairs per estimate (default 4000; the gate's draws are capped at "
                            f"{error_rates.GPU_TRIALS})")
    rates.add_argument("--out", type=Path, default=Path("baselines/error-rates"), metavar="STEM",
                       help="where the report goes: STEM.json and STEM.md (default baselines/error-rates)")
    rates.add_argument("--readme", type=Path, metavar="MARKDOWN",
                       help="also put the gate's summary table between the %s and %s markers of this file"
                            % readme.markers("error-rates"))
    rates.add_argument("--from", dest="from_report", type=Path, metavar="JSON",
                       help="measure nothing: put the summary of this committed report (STEM.json) into --readme")

    history = commands.add_parser(
        "history", help="one HTML page of every scenario's figures over time, per GPU kind",
        description="Draw latency, peak memory, first-call time and SSIM of every scenario over time, one figure\n"
                    "per GPU kind, into one self-contained HTML file (plotly.js embedded: it opens offline).\n"
                    "Each point is marked with `diffbench compare`'s verdict against the scenario's previous run\n"
                    "on the same GPU kind; torch, torchao and diffusers upgrades are marked with vertical lines.",
        epilog="example: diffbench history baselines -o history.html\n"
               "exit status: 0 written, 2 usage or input error (a path without results files)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    history.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                         help="a results JSON, or a folder searched for them (a merged store is split into its "
                              "runs; files that are not pytest-benchmark results are ignored, corrupt ones "
                              "skipped and named)")
    history.add_argument("-o", "--out", type=Path, required=True, help="the HTML file to write")

    calibration.add_arguments(commands.add_parser(
        "calibrate", help="derive the proxy's quality gates from measured quality logs (run in the repository)",
        description=calibration.__doc__.split("\n\n", 1)[1],
        epilog="example: diffbench calibrate --check\n"
               "exit status: 0 written or up to date, 1 stale (--check) or the control passes, 2 usage or input "
               "error", formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def _reruns(parser: argparse.ArgumentParser, confirm: str, flagged: str) -> None:
    """--confirm (the reruns) and --flagged (what to rerun), as compare and gate take them."""
    parser.add_argument("--confirm", type=Path, nargs="+", default=[], metavar="RUN", help=confirm)
    parser.add_argument("--flagged", type=Path, metavar="FILE", help=flagged)


def _verdict_files(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the verdict as markdown (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the verdict as JSON")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected a positive whole number, got {text!r}")
    return value


def _write_verdict(args, markdown: str, data: dict) -> None:
    if args.markdown:
        with args.markdown.open("a") as out:  # appended: $GITHUB_STEP_SUMMARY collects several steps
            out.write(markdown)
    if args.json:
        args.json.write_text(json.dumps(data, indent=1, default=str) + "\n")


def _console() -> Console:
    # Wide when not a terminal (CI logs, pipes), so that scenario ids are never folded.
    return Console() if sys.stdout.isatty() else Console(width=200)


def _not_a_file_to_write(path: Path | None, makes_folder: bool = False) -> str | None:
    """Why `path` cannot be written as a file (checked before the work that would fill it), None if it can."""
    if path is not None and path.is_dir():
        return f"{path}: is a folder"
    if path is not None and not makes_folder and not path.parent.is_dir():
        return f"{path}: no such folder {path.parent}"
    return None


def run_compare(args) -> int:
    if why := _not_a_file_to_write(args.flagged):
        print(f"diffbench compare: error: --flagged {why}", file=sys.stderr)
        return USAGE
    tolerances = Tolerances(latency=args.fail_latency, memory=args.fail_memory, ssim=args.fail_ssim)
    if args.confirm and (args.base_also or args.new_also):
        print("diffbench compare: error: --confirm is for a single NEW run; with --base-also/--new-also, give "
              "the reruns as more NEW processes (--new-also)", file=sys.stderr)
        return USAGE
    load = lambda paths: [results.load(path) for path in paths]  # noqa: E731
    comparison = compare(results.load(args.base), results.load(args.new), tolerances, args.allow_mismatch,
                         load(args.confirm), load(args.base_also), load(args.new_also), args.partial)
    render(comparison, _console())
    if args.flagged:
        # Empty when nothing is flagged, so a script can test it (`[ -s FILE ]`) before rerunning anything.
        args.flagged.write_text(" or ".join(row.scenario for row in comparison.flagged))
    _write_verdict(args, comparing.as_markdown(comparison), comparing.as_json(comparison))
    return REGRESSION if comparison.regressions else INCOMPLETE if comparison.incomplete else OK


def run_gate(args) -> int:
    if (args.append or args.accept) and not args.history[0].is_dir():
        print(f"diffbench gate: error: --append/--accept add NEW to the history folder, and {args.history[0]} is "
              "not a folder", file=sys.stderr)
        return USAGE
    new = results.load(args.new)
    verdict = gate.gate(args.history, new, [results.load(path) for path in args.confirm], args.window,
                        args.min_shift)
    gate_view.render(verdict, _console())
    if args.flagged:
        args.flagged.write_text(gate_view.flagged_expression(verdict))
    _write_verdict(args, gate_view.as_markdown(verdict), gate_view.as_json(verdict))
    if args.accept or (args.append and verdict.passed):
        print(f"added {nights.append(args.history[0], new)} to the history")
    elif args.append:
        print(f"not added to the history ({gate_view.verdict_line(verdict).split(':')[0]}): pass --accept to make "
              "this night part of the baseline on purpose")
    return REGRESSION if verdict.confirmed else INCOMPLETE if verdict.incomplete else OK


def _merged(args) -> merge.Merged:
    merged = merge.merge_files(args.runs, args.allow_mismatch)
    for note in merged.notes:
        print(f"diffbench {args.command}: {note}", file=sys.stderr)
    return merged


def _model_names(text: str) -> set[str]:
    from diffbench.spec.models import MODELS

    names = {name.strip() for name in text.split(",") if name.strip()}
    if unknown := names - set(MODELS):
        raise ValueError(f"unknown model(s) {', '.join(sorted(unknown))}; known: {', '.join(MODELS)}")
    return names


def run_merge(args) -> int:
    merged = _merged(args)
    if args.models:
        merged = merge.only_models(merged, args.models)
    merge.write(merged, args.out)
    section = merged.data["diffbench"]
    print(f"wrote {args.out}: {len(merged.data['benchmarks'])} benchmarks from {len(args.runs)} files, "
          f"{len(section['failures'])} failure records, {len(section['skipped'])} skipped")
    return OK


def run_report(args, argv: list[str]) -> int:
    if args.readme:
        readme.read(args.readme)  # refuse a file without markers before writing anything
    figures = seeds.load() if args.seeds else None
    logs = [quality_logs.read(path) for path in args.quality]
    if len(args.runs) == 1 and not logs:
        run = results.load(args.runs[0])
    else:
        data = _merged(args).data if len(args.runs) > 1 else results.read_json(args.runs[0])
        for note in quality_logs.join(data, logs, args.allow_mismatch):
            print(f"diffbench report: {note}", file=sys.stderr)
        run = results.parse(data, Path(" + ".join(p.name for p in [*args.runs, *args.quality])))
    note = readme.generated_by(argv)
    for path in report.write(run, args.out, figures, note):
        print(f"wrote {path}")
    if args.readme:
        markdown = readme.demoted(report.render(run, args.out, figures, link_base=args.readme.parent), 2)
        readme.splice(args.readme, markdown, note=note)
        print(f"updated {args.readme}")
    return OK


def run_history(args) -> int:
    if why := _not_a_file_to_write(args.out, makes_folder=True):
        print(f"diffbench history: error: --out {why}", file=sys.stderr)
        return USAGE
    page = history_page.write(args.paths, args.out)
    for line in page.skipped:
        print(f"diffbench history: skipped {line}", file=sys.stderr)
    print(f"wrote {args.out}: {len(page.runs)} runs from {len(page.files)} results files, {len(page.series)} "
          f"series on {', '.join(page.kinds)}")
    return OK


def run_gpus(args, argv: list[str]) -> int:
    if args.readme:
        readme.read(args.readme, "gpus")  # refuse a file without markers before writing anything
    groups = across_gpus.group(args.runs)
    markdown = across_gpus.render(groups, seeds.load() if args.seeds else None)
    if args.out:
        args.out.write_text(markdown + "\n")
        print(f"wrote {args.out}")
    if args.readme:
        readme.splice(args.readme, readme.demoted(markdown, 2), section="gpus", note=readme.generated_by(argv))
        print(f"updated {args.readme}")
    if not (args.out or args.readme):
        print(markdown)
    return OK


def run_frontier(args, argv: list[str]) -> int:
    if args.readme:
        readme.read(args.readme, "frontier")  # refuse a file without markers before reading anything
    peers = frontier.load_peers()
    table = frontier.collect(args.runs, [quality_logs.read(path) for path in args.quality])
    for path, why in table.skipped:
        print(f"diffbench frontier: skipped {path}: {why}", file=sys.stderr)
    markdown = frontier.render(table, peers, args.all, args.readme.parent if args.readme else None)
    return _section_out(markdown, args.readme, "frontier", argv)


def run_breakdown(args, argv: list[str]) -> int:
    if args.readme:
        readme.read(args.readme, "breakdown")  # refuse a file without markers before reading anything
    rows = [b for run in map(results.load, args.runs) for m in run.measurements.values()
            if (b := breakdown.of(m, run.datetime))]
    markdown = breakdown.markdown(rows) if rows else "No profiled kernels in these runs."
    return _section_out(markdown, args.readme, "breakdown", argv)


def run_lost_prompts(args, argv: list[str]) -> int:
    if args.readme:
        readme.read(args.readme, "lost-prompts")  # refuse a file without markers before reading anything
    rows = lost_prompts.rows([quality_logs.read(path) for path in args.logs])
    if not rows:  # an empty log (a job stopped before its first set) is nothing to count, not a table of nothing
        raise ResultsError(f"no quality records in {', '.join(map(str, args.logs))}")
    return _section_out(lost_prompts.markdown(rows), args.readme, "lost-prompts", argv)


def _section_out(markdown: str, page: Path | None, section: str, argv: list[str]) -> int:
    """A generated section spliced into its page (naming the command that made it), or printed without one."""
    if page:
        readme.splice(page, markdown, section=section, note=readme.generated_by(argv))
        print(f"updated {page}")
    else:
        print(markdown)
    return OK


def run_error_rates(args, argv: list[str]) -> int:
    if args.from_report:
        if not args.readme:
            print("diffbench error-rates: error: --from puts a report's summary into a page: give --readme",
                  file=sys.stderr)
            return USAGE
        report = results.read_json(args.from_report)
        readme.splice(args.readme, "\n".join(error_rates.gpu_summary(report)), section="error-rates",
                      note=readme.generated_by(argv))
        print(f"updated {args.readme}")
        return OK
    if not error_rates.BASELINES.is_dir():
        print("diffbench error-rates: error: no baselines/ here: run it from the repository's root", file=sys.stderr)
        return USAGE
    if args.readme:
        readme.read(args.readme, "error-rates")  # refuse a file without markers before measuring anything
    report = error_rates.measure_all(args.trials)
    for path in error_rates.write(report, args.out):
        print(f"wrote {path}")
    if args.readme:
        readme.splice(args.readme, "\n".join(error_rates.gpu_summary(report)), section="error-rates",
                      note=readme.generated_by(argv))
        print(f"updated {args.readme}")
    return OK


def run_schemes() -> int:
    from rich.table import Table

    from diffbench.spec.schemes import TorchAO, resolution_table

    table = Table(title=f"quantization schemes in torchao {TorchAO().version}")
    for column in ("scheme", "status", "resolved"):
        table.add_column(column)
    for row in resolution_table():
        table.add_row(row["scheme"], row["status"], row["resolved"])
    _console().print(table)
    return OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return exc.code if isinstance(exc.code, int) else USAGE
    try:
        commands = {"schemes": run_schemes, "compare": lambda: run_compare(args), "gate": lambda: run_gate(args),
                    "error-rates": lambda: run_error_rates(args, argv),
                    "history": lambda: run_history(args), "merge": lambda: run_merge(args),
                    "report": lambda: run_report(args, argv), "gpus": lambda: run_gpus(args, argv),
                    "frontier": lambda: run_frontier(args, argv), "breakdown": lambda: run_breakdown(args, argv),
                    "lost-prompts": lambda: run_lost_prompts(args, argv),
                    "calibrate": lambda: calibration.run(args)}
        return commands[args.command]()
    except (ResultsError, MismatchError, ReadmeError, SeedDataError, HistoryError, FrontierError) as exc:
        print(f"diffbench {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:  # a file that cannot be read or written (a folder, read-only, missing): one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"diffbench {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
