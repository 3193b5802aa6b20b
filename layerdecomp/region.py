"""Stage 2: the crop around the selection that all the work happens on, and the hole inside it.

Cost must follow the selection's size, not the canvas's: nothing here touches more than the mask once
(to find its bounds), and everything after works on the crop. The crop rule itself is ``crop.py``'s,
shared with the client and the Krita plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import crop
from .crop import DEFAULT_GROW
from .types import Box

__all__ = ["DEFAULT_GROW", "Region", "plan_region", "selection_bounds"]


@dataclass(frozen=True)
class Region:
    box: Box  # the crop in canvas coordinates
    hole: np.ndarray  # bool, crop-sized: the dilated selection, i.e. where the background is regenerated


def selection_bounds(mask: np.ndarray) -> Box:
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask))
    return Box(int(x), int(y), int(w), int(h))


def plan_region(mask: np.ndarray, margin: int | None = None, grow: int = DEFAULT_GROW) -> Region:
    """The crop (``crop.crop_rect``: selection bounds + grow + margin, clipped to the canvas) and the hole
    inside it (the selection dilated by ``grow``)."""
    height, width = mask.shape
    box = Box(*crop.crop_rect(selection_bounds(mask).as_tuple(), (0, 0, width, height), margin, grow))
    hole = mask[box.slices] > 0
    if grow:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        hole = cv2.dilate(hole.astype(np.uint8), kernel) > 0
    return Region(box=box, hole=hole)
