"""The benchmark matrix as data: scenarios, their stable ids, and the combinations that cannot run.

A scenario is one (model, scheme, compile mode, fuse_qkv, batch size, ...) point: the fields of `Scenario`, one per
record of `dimensions.DIMENSIONS`, which also give its id, its build key and `Selection`. Its id
(`flux-dev-fp8dqrow-max-autotune-fuse-bs1`) keys baseline files, so the id format never changes: new
dimensions are appended only when they differ from their default.
Hardware and library checks live in `capabilities`; this module holds what is invalid on any machine.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

# The parsing helpers live with the records that use them; importing them from here keeps working.
from diffbench.spec.dimensions import (BATCH_SIZES, DIMENSIONS, ON_OFF_CHOICES, UsageError, parse_choice, parse_ints,
                                       parse_names)
from diffbench.spec.models import MODELS, ModelSpec

__all__ = ["BATCH_SIZES", "DIMENSIONS", "ON_OFF_CHOICES", "Scenario", "Selection", "Selections", "UsageError",
           "parse_choice", "parse_ints", "parse_names"]


def _fields(name: str, field, order: bool = False) -> type:
    """A frozen dataclass holding one field per dimension, in DIMENSIONS' order (`field(d)`: its name, type and
    default), for `Scenario` and `Selection` to extend."""
    cls = dataclasses.make_dataclass(name, [field(d) for d in DIMENSIONS], frozen=True, order=order)
    cls.__module__ = __name__
    return cls


def _scenario_field(d) -> tuple:
    return (d.name, d.field_type) if d.required else (d.name, d.field_type, d.default)


def _selection_field(d) -> tuple:
    # What a run selects of each dimension: its default alone unless asked (models and schemes must be given).
    return (d.selection, tuple) if d.required else (d.selection, tuple, (d.default,))


_ScenarioFields = _fields("_ScenarioFields", _scenario_field, order=True)
_SelectionFields = _fields("_SelectionFields", _selection_field)


@dataclass(frozen=True, order=True)
class Scenario(_ScenarioFields):
    """One point of the matrix: a field per dimension (`dimensions.DIMENSIONS`: model, scheme, compile, fuse_qkv,
    batch, offload, vae, attention, compile_vae, inductor_profile, parallel, cache), each with its default but model
    and scheme, so `Scenario("flux-dev", "int8wo", "regional")` reads positionally."""

    @property
    def id(self) -> str:
        # Dimensions added later appear only when they leave their default, so older ids never change.
        return "-".join(fragment for d in DIMENSIONS if (fragment := d.id_fragment(getattr(self, d.name))) is not None)

    @property
    def spec(self) -> ModelSpec:
        return MODELS[self.model]

    @property
    def build_key(self) -> tuple:
        """Scenarios with the same build key share one built pipeline: every field but the batch size, which is
        a call argument (a dimension joins the key through its record's `in_build_key`)."""
        return tuple(getattr(self, d.name) for d in DIMENSIONS if d.in_build_key)

    def params(self) -> dict:
        """The fields a result records (a dimension with `recorded_at_default=False` only off its default)."""
        return {d.name: value for d in DIMENSIONS
                if (value := getattr(self, d.name)) != d.default or d.recorded_at_default}


@dataclass(frozen=True)
class Selection(_SelectionFields):
    """What the user asked for (names already validated by each dimension's parser): a tuple of values per
    dimension (models, schemes, compile_modes, fuse_qkv, batches, offloads, vaes, attentions, compile_vae,
    inductor_profiles, parallels, caches)."""

    def scenarios(self) -> list[Scenario]:
        return [Scenario(*combo) for combo in itertools.product(*(getattr(self, d.selection) for d in DIMENSIONS))]


@dataclass(frozen=True)
class Selections:
    """Several selections run as one (a named selection's parts): their scenarios in order, each once."""

    parts: tuple[Selection, ...]

    def scenarios(self) -> list[Scenario]:
        return list(dict.fromkeys(s for part in self.parts for s in part.scenarios()))

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for part in self.parts for m in part.models))

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for part in self.parts for s in part.schemes))
