"""What counts as a change in `diffbench compare`: the user's thresholds (--fail-latency, --fail-memory, ...,
read by the option parsers here) and the noise allowances measured on committed reruns (data/run_noise.toml,
written by `diffbench error-rates`)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"

RUN_NOISE_FILE = Path(__file__).resolve().parents[1] / "data" / "run_noise.toml"


def parse_percent(text: str) -> float:
    """'5%' → 0.05; anything else (no '%', negative, words) is a ValueError."""
    if not re.fullmatch(rf"{_NUMBER}%", text.strip()):
        raise ValueError(f"expected a percentage such as 5% or 2.5%, got {text!r}")
    return float(text.strip()[:-1]) / 100


def parse_absolute(text: str) -> float:
    """'0.01' → 0.01 (a non-negative plain number); anything else is a ValueError."""
    if not re.fullmatch(_NUMBER, text.strip()):
        raise ValueError(f"expected a non-negative number such as 0.01, got {text!r}")
    return float(text)


def parse_fraction(text: str) -> float:
    """'0.7' → 0.7, a number in [0, 1]; anything else is a ValueError."""
    value = parse_absolute(text)
    if value > 1:
        raise ValueError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


@dataclass(frozen=True)
class ProcessNoise:
    """A noise class's between-process sd of log process medians, measured from committed clean reruns, and its
    degrees of freedom (clean process medians minus scenarios)."""

    sd: float
    df: int
    kind: str = ""


def load_process_noise(path: Path | None = None) -> dict[str, ProcessNoise]:
    """Noise class → its measured process sd (classes without `process_sd` have none); empty without the file
    (RUN_NOISE_FILE unless given, read when called: tests of the rules pin their own)."""
    path = path or RUN_NOISE_FILE
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text())
        return {name: ProcessNoise(float(entry["process_sd"]), int(entry["process_df"]), name)
                for name, entry in table.items() if "process_sd" in entry}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected [<class>] process_sd = <sd>, process_df = <df> ({exc})") from None


def load_run_noise(path: Path | None = None) -> dict[str, float]:
    """Noise class → run-to-run allowance (a fraction), from the measured file (as load_process_noise); empty
    when there is none."""
    path = path or RUN_NOISE_FILE
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text())
        return {name: float(entry["allowance"]) for name, entry in table.items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected [<class>] allowance = <fraction> tables ({exc})") from None


@dataclass(frozen=True)
class Tolerances:
    latency: float = 0.05  # relative slowdown of the median
    memory: float = 0.02  # relative growth of peak memory
    ssim: float = 0.01  # absolute drop of the mean SSIM
    run_noise: dict[str, float] = field(default_factory=load_run_noise)  # class → run-to-run allowance
    process_noise: dict[str, ProcessNoise] = field(default_factory=load_process_noise)  # class → process sd floor
