"""The model registry: every family module contributes its `SPECS`."""

from __future__ import annotations

from diffbench.spec.models import cogvideox, flux, pixart, sdxl, wan
from diffbench.spec.models.spec import Component, Inputs, ModelSpec, Tokenizer

_FAMILIES = [flux, sdxl, cogvideox, pixart, wan]

MODELS: dict[str, ModelSpec] = {spec.name: spec for family in _FAMILIES for spec in family.SPECS}

__all__ = ["MODELS", "Component", "Inputs", "ModelSpec", "Tokenizer"]
