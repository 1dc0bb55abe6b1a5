"""The `diffbench` command: `compare` two results files, or `report` on one.

Exit codes: 0 fine, 1 a regression (compare), 2 a usage or input error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from . import report, results
from .compare import MismatchError, Thresholds, compare, parse_absolute, parse_percent, render
from .results import ResultsError

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
    default = Thresholds()
    parser = argparse.ArgumentParser(prog="diffbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="compare two results files (BASE, NEW)",
                                  description="Compare NEW against BASE per scenario.",
                                  epilog="exit status: 0 no regression, 1 regression, 2 usage or input error")
    compare.add_argument("base", type=Path, metavar="BASE", help="baseline results JSON")
    compare.add_argument("new", type=Path, metavar="NEW", help="results JSON to check")
    compare.add_argument("--fail-latency", type=_option(parse_percent), default=default.latency, metavar="PCT",
                         help="relative slowdown of the median beyond noise that fails, e.g. 5%% (default 5%%)")
    compare.add_argument("--fail-memory", type=_option(parse_percent), default=default.memory, metavar="PCT",
                         help="relative growth of peak memory that fails, e.g. 2%% (default 2%%)")
    compare.add_argument("--fail-ssim", type=_option(parse_absolute), default=default.ssim, metavar="DROP",
                         help="absolute drop of the mean SSIM that fails (default 0.01)")
    compare.add_argument("--noise-k", type=_option(parse_absolute), default=default.noise_k, metavar="K",
                         help="a latency shift must exceed K x the rounds' IQR (default 2)")
    compare.add_argument("--allow-mismatch", action="store_true",
                         help="compare runs from different GPUs or weights sources")

    report = commands.add_parser("report", help="markdown tables and latency-vs-memory plots from one file")
    report.add_argument("run", type=Path, metavar="RUN", help="results JSON")
    report.add_argument("--out", type=Path, default=Path("diffbench-report"),
                        help="output folder (default ./diffbench-report)")
    return parser


def _console() -> Console:
    # Wide when not a terminal (CI logs, pipes), so that scenario ids are never folded.
    return Console() if sys.stdout.isatty() else Console(width=200)


def run_compare(args) -> int:
    thresholds = Thresholds(latency=args.fail_latency, memory=args.fail_memory, ssim=args.fail_ssim,
                            noise_k=args.noise_k)
    comparison = compare(results.load(args.base), results.load(args.new), thresholds, args.allow_mismatch)
    render(comparison, _console())
    return REGRESSION if comparison.regressions else OK


def run_report(args) -> int:
    for path in report.write(results.load(args.run), args.out):
        print(f"wrote {path}")
    return OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return exc.code if isinstance(exc.code, int) else USAGE
    try:
        return run_compare(args) if args.command == "compare" else run_report(args)
    except (ResultsError, MismatchError) as exc:
        print(f"diffbench {args.command}: error: {exc}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
