"""The benchmark matrix as data: scenarios, their stable ids, and the combinations that cannot run.

A scenario is one (model, scheme, compile mode, fuse_qkv, batch size, ...) point: the fields of `Scenario`. Its id
(`flux-dev-fp8dqrow-max-autotune-fuse-bs1`) keys baseline files, so the id format never changes: new
dimensions are appended only when they differ from their default.
Hardware and library checks live in `capabilities`; this module holds what is invalid on any machine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, fields

from diffbench.spec.models import MODELS, ModelSpec

BATCH_SIZES = (1, 4, 8, 16)


@dataclass(frozen=True, order=True)
class Scenario:
    model: str
    scheme: str
    compile: str = "eager"
    fuse_qkv: bool = False
    batch: int = 1
    offload: str = "none"
    vae: str = "default"
    attention: str = "sdpa"
    compile_vae: bool = False  # compile the VAE decoder too, with the scenario's compile mode (a seeds' column)
    inductor_profile: str = "default"  # named inductor flags the scenario compiles with (compilation.py)

    @property
    def id(self) -> str:
        base = f"{self.model}-{self.scheme}-{self.compile}-{'fuse' if self.fuse_qkv else 'nofuse'}-bs{self.batch}"
        # Dimensions added later appear only when they leave their default, so older ids never change.
        extra = [f"offload-{self.offload}"] * (self.offload != "none") + [f"vae-{self.vae}"] * (self.vae != "default")
        extra += [f"attn-{self.attention}"] * (self.attention != "sdpa") + ["compile-vae"] * self.compile_vae
        extra += [f"inductor-{self.inductor_profile}"] * (self.inductor_profile != "default")
        return "-".join([base, *extra])

    @property
    def spec(self) -> ModelSpec:
        return MODELS[self.model]

    @property
    def build_key(self) -> tuple:
        """Scenarios with the same build key share one built pipeline: every field but the batch size, which is
        a call argument (a new dimension joins the key by being a field)."""
        return tuple(value for name, value in self.params().items() if name != "batch")

    def params(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Selection:
    """What the user asked for (names already validated by `parse_names`)."""

    models: tuple[str, ...]
    schemes: tuple[str, ...]
    compile_modes: tuple[str, ...] = ("eager",)
    fuse_qkv: tuple[bool, ...] = (False,)
    batches: tuple[int, ...] = (1,)
    offloads: tuple[str, ...] = ("none",)
    vaes: tuple[str, ...] = ("default",)
    attentions: tuple[str, ...] = ("sdpa",)
    compile_vae: tuple[bool, ...] = (False,)
    inductor_profiles: tuple[str, ...] = ("default",)

    def scenarios(self) -> list[Scenario]:
        return [Scenario(*combo) for combo in itertools.product(
            self.models, self.schemes, self.compile_modes, self.fuse_qkv, self.batches, self.offloads, self.vaes,
            self.attentions, self.compile_vae, self.inductor_profiles)]


class UsageError(ValueError):
    """Bad user input; the plugin turns it into a pytest usage error."""


def parse_names(value: str, valid: Iterable[str], label: str) -> tuple[str, ...]:
    """'a,b' → ('a', 'b'); 'all' → every valid name."""
    valid = list(valid)
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if names == ("all",):
        return tuple(valid)
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise UsageError(f"unknown {label} {', '.join(map(repr, unknown)) or '(empty)'}; valid: all, {', '.join(valid)}")
    return names


def parse_ints(value: str, label: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{label} takes comma-separated positive integers, got {value!r}") from None
    if not numbers or min(numbers) < 1:
        raise UsageError(f"{label} takes comma-separated positive integers, got {value!r}")
    return numbers


ON_OFF_CHOICES = {"off": (False,), "on": (True,), "both": (False, True)}  # --fuse, --compile-vae
