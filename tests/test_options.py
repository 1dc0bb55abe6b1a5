"""Options are checked before anything is built, and their help lists the names the suite accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping

from diffbench.build.sources import NAMED_SOURCES
from diffbench.pytest_plugin import options
from diffbench.spec.dimensions import DIMENSIONS
from diffbench.spec.quantize_paths import QUANTIZE_PATHS


def test_rounds_must_be_positive(suite):
    result = suite.runpytest_subprocess("benchmarks", "--rounds", "0")
    assert result.ret == 4  # a usage error, at configure: nothing collected, nothing built
    result.stderr.fnmatch_lines(["*--rounds must be positive, got 0*"])


def _words_of_help(text: str, option: str) -> set[str]:
    """The words of one option's help in `pytest --help` (wrapped lines joined, hyphenated names mended)."""
    start = text.index(f"  {option}=")
    block = text[start:text.find("\n  -", start + 1)]
    return set(re.findall(r"[\w.-]+", re.sub(r"-\n\s*", "-", block)))


def test_help_lists_every_name_each_option_accepts(suite, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    result = suite.runpytest_subprocess("--help")
    assert result.ret == 0
    text = result.stdout.str()
    # every dimension whose values are a table of names (spec/dimensions.py), then the other options with names
    named = {d.option: d.valid() for d in DIMENSIONS if isinstance(d.valid(), Mapping)}
    named |= {"--quantize-paths": QUANTIZE_PATHS, "--weights": NAMED_SOURCES}
    named |= {flag: kwargs["choices"] for flag, kwargs in options.declared() if "choices" in kwargs}
    assert {"--models", "--quant", "--cache", "--parallel", "--compile"} <= named.keys()
    for option, names in named.items():
        assert set(names) <= _words_of_help(text, option), (option, set(names) - _words_of_help(text, option))
    assert "regional-all" in _words_of_help(text, "--compile")


def test_the_plugin_names_the_weights_sources_build_has():
    """options.py lists them without importing build (which imports torch): held equal here."""
    assert options.WEIGHTS_NAMES == NAMED_SOURCES
