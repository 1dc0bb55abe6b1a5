"""Where diffbench relies on torch's and diffusers' internals (no public API does the job), and the releases each
reliance is tested with (the declared floors up to the newest release tried: README "Supported versions").

Outside those releases the suite still runs, and `untested()` says which reliance is unverified (the plugin warns
once per session, before any model is built): an upgrade then names the code to check again instead of changing
behaviour silently. Each use also reads the internal defensively (a missing attribute falls back or is a clear
error), and tests/test_internals.py holds the installed releases to these ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Reliance:
    distribution: str
    first_tested: tuple[int, ...]
    first_untested: tuple[int, ...]
    uses: str  # which internals, and where

    def tested(self, version: Version) -> bool:
        return self.first_tested <= version.release < self.first_untested

    def message(self, version: Version) -> str:
        first = ".".join(map(str, self.first_tested))
        last = ".".join(map(str, (*self.first_untested[:-1], self.first_untested[-1] - 1)))
        return (f"{self.distribution} {version} is outside the releases diffbench is tested with "
                f"({first} to {last}.x): check {self.uses}")


RELIANCES = (
    Reliance("torch", (2, 11), (2, 15),
             "torch._inductor.config and torch._dynamo.config (inductor profiles, the recompile guards: "
             "build/compilation.py), torch._dynamo.utils.counters (compile-cache state) and inductor's "
             "triton_heuristics (build/torch_fixes.py)"),
    Reliance("diffusers", (0, 39), (0, 43),
             "ModelMixin._repeated_blocks (regional compilation: build/compilation.py) and _cp_plan (which denoisers "
             "split across GPUs, and which hook a block: spec/rules.py), and AttentionBackendName's value map, "
             "_AttentionBackendRegistry and a processor's _attention_backend (the cudnn-fp8 backend diffbench "
             "registers: build/attention.py)"),
)


def installed(distribution: str) -> Version | None:
    try:
        return Version(metadata.version(distribution))
    except (metadata.PackageNotFoundError, InvalidVersion):
        return None


def untested() -> list[str]:
    """One message per installed library whose internals diffbench relies on outside the tested releases."""
    return [r.message(version) for r in RELIANCES
            if (version := installed(r.distribution)) is not None and not r.tested(version)]
