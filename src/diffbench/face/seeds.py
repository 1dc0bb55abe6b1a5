"""The seed documents' published figures (`data/seed_figures.toml`) and the rule matching them to our scenarios.

These are the seeds' numbers (the diffusers-torchao README's tables), never ours: the report shows them in
columns of their own (`seed_time`, `seed_model_memory`) with their source. Which of our scenarios a seed row
stands for is data too (`[match]` in the file); `seed_row` applies it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffbench.store.results import Measurement

FIGURES = Path(__file__).resolve().parents[1] / "data" / "seed_figures.toml"
_TABLE_KEYS = ("source", "also_in", "section", "lines", "gpu", "model", "ckpt", "settings", "settings_note",
               "columns", "rows")


class SeedDataError(ValueError):
    """The seed figures file is malformed (the message names it)."""


@dataclass(frozen=True)
class SeedRow:
    """One published row: its columns (table-wide keys included) and where it was published."""

    gpu: str
    model: str
    values: dict[str, Any]  # seed column → value: batch_size, fuse, compile, compile_vae, quantization, time, ...
    settings: dict[str, Any]  # run settings the seed states (steps, height, width, frames): must be ours too
    source: str  # file name of the seed document
    section: str
    lines: str

    def get(self, column: str) -> Any:
        return self.values.get(column)

    @property
    def citation(self) -> str:
        return f"{self.source}, “{self.section}” (lines {self.lines})"


@dataclass(frozen=True)
class Headline:
    gpu: str
    model: str
    what: str
    quote: str
    source: str
    lines: str
    time: float | None = None
    speedup_pct: float | None = None


@dataclass(frozen=True)
class Seeds:
    rows: tuple[SeedRow, ...]
    headlines: tuple[Headline, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)  # seed column → our extra_info key
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # seed column → {seed value: ours}

    def ours(self, column: str, value: Any) -> list[Any]:
        """The values of ours that a seed value stands for: `[match.values]`, else the value itself."""
        key = str(value).lower() if isinstance(value, bool) else str(value)
        translated = self.values.get(column, {}).get(key, value)
        return translated if isinstance(translated, list) else [translated]


def seed_row(m: Measurement, gpu: str | None, seeds: Seeds) -> SeedRow | None:
    """The seed row published for `m`'s configuration, or None.

    A row matches when it was measured on the same kind of GPU (the seed's "H100" in our GPU's name), for the
    same model, with the run settings the seed states (steps, resolution, frames), and when every column of
    `[match.columns]` that the row has (batch, fuse, compile_vae, quantization, compile) stands for our value,
    after the seed's value is translated by `[match.values]` (quantization None → bf16; compile True → any
    compiled mode of ours). The data file holds at most one such row per configuration (checked on load).
    """
    for row in seeds.rows:
        if (gpu and row.gpu in gpu and row.model == m.get("model")
                and all(m.get(key) == value for key, value in row.settings.items())
                and all(_same(m.get(ours), seeds.ours(column, row.get(column)))
                        for column, ours in seeds.columns.items() if column in row.values)):
            return row
    return None


def _same(value: Any, accepted: list[Any]) -> bool:
    # A missing boolean (fuse_qkv, compile_vae) in our extra_info is False, as the report shows it.
    return any(value == a or (isinstance(a, bool) and bool(value) == a) for a in accepted)


def load(path: Path = FIGURES) -> Seeds:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SeedDataError(f"{path}: cannot read the seed figures ({exc})") from None
    try:
        match = data["match"]
        seeds = Seeds(
            rows=tuple(row for table in data.get("table", []) for row in _rows(table)),
            headlines=tuple(Headline(**headline) for headline in data.get("headline", [])),
            columns=dict(match["columns"]),
            values={column: dict(mapping) for column, mapping in match.get("values", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SeedDataError(f"{path}: malformed ({type(exc).__name__}: {exc})") from None
    _check_unambiguous(seeds, path)
    return seeds


def _rows(table: dict[str, Any]) -> list[SeedRow]:
    columns = table["columns"]
    common = {key: value for key, value in table.items() if key not in _TABLE_KEYS}  # e.g. batch_size
    rows = []
    for row in table["rows"]:
        if len(row) != len(columns):
            raise ValueError(f"a row of “{table['section']}” has {len(row)} values for {len(columns)} columns")
        rows.append(SeedRow(table["gpu"], table["model"], common | dict(zip(columns, row)),
                            dict(table.get("settings", {})), table["source"], table["section"], table["lines"]))
    return rows


def _check_unambiguous(seeds: Seeds, path: Path) -> None:
    seen: dict[tuple, SeedRow] = {}
    for row in seeds.rows:
        key = (row.gpu, row.model, tuple(sorted(row.settings.items())),
               tuple((c, repr(sorted(map(repr, seeds.ours(c, row.get(c))))))
                     for c in seeds.columns if c in row.values))
        if key in seen:
            raise SeedDataError(f"{path}: two rows for one configuration ({seen[key].citation}; {row.citation})")
        seen[key] = row
