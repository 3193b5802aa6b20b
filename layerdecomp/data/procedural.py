"""Procedural scenes: smooth backgrounds, flat-shaded shapes, bars that occlude them.

No files needed, deterministic by seed, cheap at any size: what the learnability tests and smoke runs train
on, and a source the composer can mix with real pictures. The content is simple on purpose: the hidden
part of an ellipse or a rectangle and the background behind it can be inferred from what is visible, so a
model that uses its context can learn both and one that ignores it cannot.
"""

from __future__ import annotations

import cv2
import numpy as np

from .compose import Layer, compose
from .triplet import Triplet

SHAPES = ("ellipse", "rectangle", "triangle")


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """RGB uint8: a two-colour gradient in a random direction with a gentle low-frequency ripple."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(1, size - 1)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    c0, c1 = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    ripple = 0.05 * np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * xx + rng.uniform(0.5, 1.5) * yy) + rng.uniform(0, 6.3))
    rgb = c0 * (1 - t[..., None]) + c1 * t[..., None] + ripple[..., None]
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def shape(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """RGBA uint8 of width×height: one shape with an antialiased edge and a linear shade across it."""
    scale = 4  # draw at 4× and shrink, for a soft (partial-alpha) edge
    canvas = np.zeros((height * scale, width * scale), np.uint8)
    w, h = width * scale - 1, height * scale - 1
    if kind == "ellipse":
        cv2.ellipse(canvas, (w // 2, h // 2), (w // 2, h // 2), 0, 0, 360, 255, -1)
    elif kind == "rectangle":
        canvas[:] = 255
    elif kind == "triangle":
        pts = np.array([[w // 2, 0], [w, h], [0, h]], np.int32)
        cv2.fillPoly(canvas, [pts], 255)
    else:
        raise ValueError(f"unknown shape {kind!r}")
    alpha = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    colour = rng.uniform(0.0, 1.0, 3)
    shade = np.linspace(-0.12, 0.12, width, dtype=np.float32)[None, :, None]
    rgb = np.clip((colour + shade) * 255 + 0.5, 0, 255).astype(np.uint8) * np.ones((height, 1, 1), np.uint8)
    return np.dstack([rgb, alpha])


def triplet(size: int, rng: np.random.Generator, occlusion_probability: float = 0.6,
            mask_style: str | None = None) -> Triplet:
    """A procedural triplet: 1–3 shapes on a gradient, the target often crossed by a bar or another shape."""
    layers: list[Layer] = []
    target_w, target_h = (int(rng.uniform(0.3, 0.55) * size) for _ in range(2))
    tx = int(rng.uniform(0.05, 0.95) * size - target_w / 2)
    ty = int(rng.uniform(0.05, 0.95) * size - target_h / 2)
    tx, ty = int(np.clip(tx, 0, size - target_w)), int(np.clip(ty, 0, size - target_h))
    target_layer = Layer(shape(SHAPES[rng.integers(len(SHAPES))], target_w, target_h, rng), tx, ty)
    if rng.random() < 0.5:  # a distractor behind the target
        w, h = (int(rng.uniform(0.2, 0.4) * size) for _ in range(2))
        layers.append(Layer(shape(SHAPES[rng.integers(len(SHAPES))], w, h, rng),
                            int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))))
    layers.append(target_layer)
    target = len(layers) - 1
    if rng.random() < occlusion_probability:  # a bar across part of the target, in front of it
        thickness = max(2, int(rng.uniform(0.15, 0.3) * min(target_w, target_h)))
        colour = np.append(rng.uniform(0, 1, 3) * 255, 255).astype(np.uint8)
        if rng.random() < 0.5:
            bar = np.broadcast_to(colour, (thickness, size, 4)).copy()
            y = ty + int(rng.uniform(0.2, 0.8) * target_h) - thickness // 2
            layers.append(Layer(bar, 0, y))
        else:
            bar = np.broadcast_to(colour, (size, thickness, 4)).copy()
            x = tx + int(rng.uniform(0.2, 0.8) * target_w) - thickness // 2
            layers.append(Layer(bar, x, 0))
    return compose(background(size, rng), layers, target, rng, mask_style=mask_style,
                   meta={"source": "procedural"})


def triplets(count: int, size: int, seed: int, **options) -> list[Triplet]:
    """``count`` procedural triplets; triplet i depends only on (seed, i)."""
    return [triplet(size, np.random.default_rng([seed, i]), **options) for i in range(count)]
