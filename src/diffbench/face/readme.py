"""Keeping a generated section of a markdown file (the README's measured results) up to date.

A section lies between two markers named after it (`results`: `diffbench report --readme FILE`; `gpus`:
`diffbench gpus --readme FILE`); the command replaces what is between them and nothing else. A file without
exactly one pair of the section's markers, start before end, is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from diffbench.store.atomic import atomic_write_bytes


def markers(section: str = "results") -> tuple[str, str]:
    return f"<!-- diffbench:{section}:start -->", f"<!-- diffbench:{section}:end -->"


START, END = markers("results")  # `diffbench report --readme`'s section


def demoted(markdown: str, levels: int) -> str:
    """Every heading of `markdown` `levels` deeper, to stand under a heading of the file it is spliced into."""
    return re.sub(r"^(#+) ", lambda h: "#" * (len(h.group(1)) + levels) + " ", markdown, flags=re.MULTILINE)


class ReadmeError(ValueError):
    """The file cannot take the generated section (the message names it)."""


def _lines(text: str, marker: str) -> list[re.Match]:
    """The marker where it stands as a line of its own (prose that names it, e.g. in backticks, is no marker)."""
    return list(re.finditer(rf"^{re.escape(marker)}[ \t]*$", text, re.MULTILINE))


def _bounds(path: Path, text: str, section: str) -> tuple[int, int]:
    first, last = markers(section)
    starts, ends = _lines(text, first), _lines(text, last)
    if len(starts) != 1 or len(ends) != 1:
        raise ReadmeError(f"{path}: needs exactly one {first} and one {last} line around the generated section "
                          f"(found {len(starts)} and {len(ends)})")
    start, end = starts[0].start() + len(first), ends[0].start()
    if end < start:
        raise ReadmeError(f"{path}: {last} comes before {first}")
    return start, end


def read(path: Path, section: str = "results") -> str:
    """The file's text, checked for the markers (before anything is generated)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadmeError(f"{path}: cannot read ({exc})") from None
    _bounds(path, text, section)
    return text


def splice(path: Path, markdown: str, note: str = "", section: str = "results") -> None:
    """Replace the text between the section's markers in `path` with `markdown` (atomically)."""
    text = read(path, section)
    start, end = _bounds(path, text, section)
    body = (f"<!-- {note} -->\n\n" if note else "") + markdown.strip("\n")
    atomic_write_bytes(path, (text[:start] + "\n" + body + "\n" + text[end:]).encode())
