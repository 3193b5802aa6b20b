"""The triplet composer: layers over a background, one of them the target, and the mask a user would draw.

A scene is a background plus RGBA layers, back to front. One layer is the *target*: the foreground truth
is that layer complete; the background truth is every other layer over the background (occluders in front
of the target stay, as they would after removing the object from a photo); the composite is everything.
The mask is made from the target's visible alpha and is deliberately imperfect, as the paper trains with.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InvalidInput
from .triplet import Triplet

# How the user's mask departs from the true visible alpha; picked at random per triplet.
MASK_STYLES = ("exact", "dilated", "eroded", "rough", "box")


@dataclass
class Layer:
    """An RGBA picture (straight alpha, uint8) placed with its top-left corner at (x, y) on the canvas."""

    rgba: np.ndarray
    x: int = 0
    y: int = 0

    def on_canvas(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(RGB float32 0–1, alpha float32 0–1) at canvas size, zero where the layer does not reach."""
        rgb = np.zeros((height, width, 3), np.float32)
        alpha = np.zeros((height, width), np.float32)
        h, w = self.rgba.shape[:2]
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.x + w), min(height, self.y + h)
        if x1 > x0 and y1 > y0:
            part = self.rgba[y0 - self.y:y1 - self.y, x0 - self.x:x1 - self.x].astype(np.float32) / 255.0
            rgb[y0:y1, x0:x1] = part[..., :3]
            alpha[y0:y1, x0:x1] = part[..., 3]
        return rgb, alpha


def _over(rgb: np.ndarray, layer_rgb: np.ndarray, layer_alpha: np.ndarray) -> np.ndarray:
    a = layer_alpha[..., None]
    return layer_rgb * a + rgb * (1.0 - a)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def imperfect_mask(visible: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """A binary uint8 mask (0/255) from the visible alpha (float 0–1), spoiled in the given style."""
    exact = (visible >= 0.5).astype(np.uint8)
    size = max(visible.shape)
    radius = max(1, int(round(size * rng.uniform(0.01, 0.04))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    if style == "exact":
        mask = exact
    elif style == "dilated":
        mask = cv2.dilate(exact, kernel)
    elif style == "eroded":
        mask = cv2.erode(exact, kernel)
        if not mask.any():  # a thin object would vanish; keep it as drawn
            mask = exact
    elif style == "rough":
        # The outline wanders in and out: threshold a blurred mask against smooth noise.
        noise = cv2.GaussianBlur(rng.standard_normal(visible.shape).astype(np.float32), (0, 0), radius + 1)
        noise /= max(1e-6, float(np.abs(noise).max()))
        soft = cv2.GaussianBlur(exact.astype(np.float32), (0, 0), radius)
        mask = (soft + 0.35 * noise >= 0.5).astype(np.uint8)
        if not mask.any():
            mask = exact
    elif style == "box":
        x, y, w, h = cv2.boundingRect(exact)
        mask = np.zeros_like(exact)
        pad = radius
        mask[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad] = 1
    else:
        raise InvalidInput(f"unknown mask style {style!r}; choose one of: {', '.join(MASK_STYLES)}")
    return mask * np.uint8(255)


def compose(
    background: np.ndarray,
    layers: list[Layer],
    target: int,
    rng: np.random.Generator,
    mask_style: str | None = None,
    meta: dict | None = None,
) -> Triplet:
    """The triplet for ``layers[target]`` over ``background`` (RGB uint8, canvas size).

    ``layers`` are back to front; those after ``target`` occlude it. ``mask_style`` None picks one of
    :data:`MASK_STYLES` at random.
    """
    if not 0 <= target < len(layers):
        raise InvalidInput(f"target {target} is not one of the {len(layers)} layers")
    height, width = background.shape[:2]
    base = background[..., :3].astype(np.float32) / 255.0
    image = base.copy()
    plate = base.copy()
    target_rgb = target_alpha = None
    covered = np.zeros((height, width), np.float32)  # how much of each pixel the layers in front hide
    for i, layer in enumerate(layers):
        rgb, alpha = layer.on_canvas(height, width)
        image = _over(image, rgb, alpha)
        if i == target:
            target_rgb, target_alpha = rgb, alpha
            continue
        plate = _over(plate, rgb, alpha)
        if i > target:
            covered = covered + alpha * (1.0 - covered)
    visible = target_alpha * (1.0 - covered)
    if visible.max() < 0.5:
        raise InvalidInput("the target object is not visible in the composite (fully hidden or off the canvas)")
    style = mask_style if mask_style is not None else MASK_STYLES[int(rng.integers(len(MASK_STYLES)))]
    mask = imperfect_mask(visible, style, rng)
    # Where the object is transparent its colour is meaningless: store black there, so the truth is unique.
    foreground = np.dstack([target_rgb * (target_alpha[..., None] > 0), target_alpha])
    return Triplet(
        image=_to_u8(image),
        mask=mask,
        foreground=_to_u8(foreground),
        background=_to_u8(plate),
        visible=_to_u8(visible),
        meta={**(meta or {}), "mask_style": style, "layers": len(layers), "target": target},
    )
