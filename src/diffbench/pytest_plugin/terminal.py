"""The plugin's own lines in pytest's output: `say` at once, `say_last` after pytest-benchmark's table, where
what became of the session's results is seen."""

from __future__ import annotations

import sys

import pytest

from diffbench.pytest_plugin.session import get_session


def say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"diffbench: {line}")
    else:
        print(f"diffbench: {line}", file=sys.stderr)


def say_last(config: pytest.Config, line: str) -> None:
    """A line for the end of the output (`summarize`): what the session did with its results, said where it
    is seen, after pytest-benchmark's table, rather than inside pytest's progress line."""
    get_session(config).last_lines.append(line)


def summarize(config: pytest.Config, reporter) -> None:
    """The last lines (`say_last`): where the results went when not where asked, or why there are no timings."""
    for line in get_session(config).last_lines:
        reporter.write_line(f"diffbench: {line}")
