"""Options are checked before anything is built, and their help lists the names the suite accepts."""

from __future__ import annotations

import re

from diffbench.spec.attention import ATTENTION_KERNELS
from diffbench.spec.compile_modes import COMPILE_MODES, INDUCTOR_PROFILES
from diffbench.spec.memory_modes import OFFLOAD_MODES, VAE_MODES
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


def test_help_lists_every_name_each_option_accepts(suite):
    suite._monkeypatch.setenv("COLUMNS", "1000")
    result = suite.runpytest_subprocess("--help")
    assert result.ret == 0
    text = result.stdout.str()
    for option, names in {"--compile": COMPILE_MODES, "--attention": ATTENTION_KERNELS, "--offload": OFFLOAD_MODES,
                          "--vae": VAE_MODES, "--inductor-profile": INDUCTOR_PROFILES,
                          "--quantize-paths": QUANTIZE_PATHS}.items():
        assert set(names) <= _words_of_help(text, option), (option, set(names) - _words_of_help(text, option))
    assert "regional-all" in _words_of_help(text, "--compile")
