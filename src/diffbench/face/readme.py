"""Keeping a generated section of a markdown file (the README's measured results) up to date.

The section lies between two markers; `diffbench report --readme FILE` replaces what is between them and
nothing else. A file without exactly one pair of markers, start before end, is refused.
"""

from __future__ import annotations

from pathlib import Path

from diffbench.store.atomic import atomic_write_bytes

START = "<!-- diffbench:results:start -->"
END = "<!-- diffbench:results:end -->"


class ReadmeError(ValueError):
    """The file cannot take the generated section (the message names it)."""


def _bounds(path: Path, text: str) -> tuple[int, int]:
    starts, ends = text.count(START), text.count(END)
    if starts != 1 or ends != 1:
        raise ReadmeError(f"{path}: needs exactly one {START} and one {END} line around the generated section "
                          f"(found {starts} and {ends})")
    start, end = text.index(START) + len(START), text.index(END)
    if end < start:
        raise ReadmeError(f"{path}: {END} comes before {START}")
    return start, end


def read(path: Path) -> str:
    """The file's text, checked for the markers (before anything is generated)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadmeError(f"{path}: cannot read ({exc})") from None
    _bounds(path, text)
    return text


def splice(path: Path, markdown: str, note: str = "") -> None:
    """Replace the text between the markers of `path` with `markdown` (atomically)."""
    text = read(path)
    start, end = _bounds(path, text)
    body = (f"<!-- {note} -->\n\n" if note else "") + markdown.strip("\n")
    atomic_write_bytes(path, (text[:start] + "\n" + body + "\n" + text[end:]).encode())
