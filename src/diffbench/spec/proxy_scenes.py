"""A procedural text-image dataset, deterministic by seed: one coloured shape on a coloured background.

Captions read "a red circle on a blue background"; every word is in the local tokenizer's vocabulary.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (235, 215, 40),
    "purple": (140, 50, 180), "orange": (245, 140, 30), "white": (245, 245, 245), "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")


@dataclass(frozen=True)
class Scene:
    color: str
    shape: str
    background: str
    x: float = 0.5  # centre, as a fraction of the image
    y: float = 0.5
    size: float = 0.3  # half-extent, as a fraction of the image

    @property
    def caption(self) -> str:
        article = "an" if self.color[0] in "aeiou" else "a"
        return f"{article} {self.color} {self.shape} on a {self.background} background"

    def render(self, resolution: int = 64) -> np.ndarray:
        # Drawn at 4x and downsampled: smooth edges, like a photo rather than a pixel mask.
        big = resolution * 4
        image = Image.new("RGB", (big, big), COLORS[self.background])
        draw = ImageDraw.Draw(image)
        cx, cy, r = self.x * big, self.y * big, self.size * big
        fill = COLORS[self.color]
        if self.shape == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif self.shape == "square":
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
        else:
            draw.polygon([(cx + r * math.cos(a), cy + r * math.sin(a))
                          for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)], fill=fill)
        return np.asarray(image.resize((resolution, resolution), Image.LANCZOS))


def combinations() -> list[tuple[str, str, str]]:
    """Every (colour, shape, background) with a background unlike the shape."""
    return [(c, s, b) for c, s, b in itertools.product(COLORS, SHAPES, COLORS) if c != b]


def sample(rng: np.random.Generator) -> Scene:
    color, shape, background = combinations()[rng.integers(len(combinations()))]
    return Scene(color, shape, background, x=float(rng.uniform(0.35, 0.65)), y=float(rng.uniform(0.35, 0.65)),
                 size=float(rng.uniform(0.18, 0.3)))


def batch(rng: np.random.Generator, count: int, resolution: int = 64) -> tuple[list[str], np.ndarray]:
    scenes = [sample(rng) for _ in range(count)]
    return [s.caption for s in scenes], np.stack([s.render(resolution) for s in scenes])


def evaluation_prompts(count: int = 64, seed: int = 1234) -> list[str]:
    """Distinct captions for retrieval tests (chance of a correct top-1 guess: 1/count)."""
    combos = combinations()
    order = np.random.default_rng(seed).permutation(len(combos))[:count]
    return [Scene(*combos[i]).caption for i in order]
