"""The `diffbench` command: `compare` two results files, `merge` runs into one, `report` on runs, or draw their
`history` as one HTML page.

Exit codes: 0 fine, 1 a regression (compare), 2 a usage or input error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from diffbench.face import across_gpus, history_page, readme, report, seeds
from diffbench.face.compare import compare, render
from diffbench.face.tolerances import Tolerances, parse_absolute, parse_fraction, parse_percent
from diffbench.face.verdicts import CONFIDENCE
from diffbench.face.history import HistoryError
from diffbench.face.readme import ReadmeError
from diffbench.face.seeds import SeedDataError
from diffbench.store import merge, quality_logs, results
from diffbench.store.results import MismatchError, ResultsError

OK, REGRESSION, USAGE = 0, 1, 2


def _option(parse):
    """An argparse type from a parser raising ValueError, so that a bad value is a usage error (exit 2)."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


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
    compare.add_argument("--host-bound-below", type=_option(parse_fraction), default=default.host_bound_below,
                         metavar="FRACTION", help="GPU busy fraction under which a scenario is host-bound and judged "
                                                  "on its GPU kernel time (default 0.8)")
    compare.add_argument("--confirm", type=Path, nargs="+", default=[], metavar="RUN",
                         help="reruns of NEW in fresh processes (e.g. `pytest ... -k \"$(cat flagged)\"`): a flagged "
                              "scenario stays a regression only if every rerun finds it (single runs only: with "
                              "--base-also/--new-also, give reruns as NEW processes)")
    compare.add_argument("--flagged", type=Path, metavar="FILE",
                         help="write the regressions and inconclusive scenarios as a pytest -k expression, for the "
                              "confirming reruns")
    compare.add_argument("--allow-mismatch", action="store_true",
                         help="compare runs from different GPUs or weights sources")

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
               "baselines/nvidia-h200/nightly.json --seeds --readme README.md\n"
               "exit status: 0 written, 2 usage or input error",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    gpus.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="results JSON, of any GPU kinds")
    gpus.add_argument("--out", type=Path, help="write the markdown to this file")
    gpus.add_argument("--seeds", action="store_true", help="add each GPU kind's published seed time")
    gpus.add_argument("--readme", type=Path, metavar="MARKDOWN",
                      help="also put the tables between the %s and %s markers of this file" % readme.markers("gpus"))

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
    return parser


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
    tolerances = Tolerances(latency=args.fail_latency, memory=args.fail_memory, ssim=args.fail_ssim,
                            host_bound_below=args.host_bound_below)
    if args.confirm and (args.base_also or args.new_also):
        print("diffbench compare: error: --confirm is for a single NEW run; with --base-also/--new-also, give "
              "the reruns as more NEW processes (--new-also)", file=sys.stderr)
        return USAGE
    load = lambda paths: [results.load(path) for path in paths]  # noqa: E731
    comparison = compare(results.load(args.base), results.load(args.new), tolerances, args.allow_mismatch,
                         load(args.confirm), load(args.base_also), load(args.new_also))
    render(comparison, _console())
    if args.flagged:
        # Empty when nothing is flagged, so a script can test it (`[ -s FILE ]`) before rerunning anything.
        args.flagged.write_text(" or ".join(row.scenario for row in comparison.flagged))
    return REGRESSION if comparison.regressions else OK


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
        commands = {"schemes": run_schemes, "compare": lambda: run_compare(args),
                    "history": lambda: run_history(args), "merge": lambda: run_merge(args),
                    "report": lambda: run_report(args, argv), "gpus": lambda: run_gpus(args, argv)}
        return commands[args.command]()
    except (ResultsError, MismatchError, ReadmeError, SeedDataError, HistoryError) as exc:
        print(f"diffbench {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:  # a file that cannot be read or written (a folder, read-only, missing): one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"diffbench {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
