"""Stage 2: the crop around the selection that all the work happens on.

Cost must follow the selection's size, not the canvas's: nothing here touches more than the mask once
(to find its bounds), and everything after works on the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .types import Box

# How far the hole reaches beyond the selection by default: selections drawn by hand tend to stop a
# pixel or two inside the object's soft edge, and whatever of the object is left outside the hole
# stays in the background as a ghost outline.
DEFAULT_GROW = 4


@dataclass(frozen=True)
class Region:
    box: Box  # the crop in canvas coordinates
    hole: np.ndarray  # bool, crop-sized: the dilated selection, i.e. where the background is regenerated


def default_margin(selection: Box) -> int:
    """Context around the selection: a quarter of its larger side, at least 16 px, at most 512 px."""
    return int(min(512, max(16, round(0.25 * max(selection.w, selection.h)))))


def selection_bounds(mask: np.ndarray) -> Box:
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask))
    return Box(int(x), int(y), int(w), int(h))


def plan_region(mask: np.ndarray, margin: int | None = None, grow: int = DEFAULT_GROW) -> Region:
    """The crop (selection bounds + grow + margin, clipped to the canvas) and the hole inside it."""
    if margin is not None and margin < 0:
        raise ValueError("margin must be >= 0")
    if grow < 0:
        raise ValueError("grow must be >= 0")
    sel = selection_bounds(mask)
    pad = grow + (default_margin(sel) if margin is None else int(margin))
    height, width = mask.shape
    x0, y0 = max(0, sel.x - pad), max(0, sel.y - pad)
    x1, y1 = min(width, sel.x + sel.w + pad), min(height, sel.y + sel.h + pad)
    box = Box(x0, y0, x1 - x0, y1 - y0)
    hole = mask[box.slices] > 0
    if grow:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        hole = cv2.dilate(hole.astype(np.uint8), kernel) > 0
    return Region(box=box, hole=hole)
