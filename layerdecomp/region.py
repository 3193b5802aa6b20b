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

__all__ = ["DEFAULT_GROW", "OBJECT_FILL_GROW", "Region", "grow_hole", "object_fill_hole", "plan_region",
           "selection_bounds"]


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
    return Region(box=box, hole=grow_hole(mask[box.slices] > 0, grow))


# Up to this grow an elliptical kernel (its cost grows with grow); beyond it a distance transform, whose
# cost does not (0.2 s for 2048², any grow), so a large grow can neither stall a job nor its cancel.
KERNEL_GROW_LIMIT = 16


def grow_hole(selected: np.ndarray, grow: int) -> np.ndarray:
    """``selected`` (bool) dilated by a disc of radius ``grow``."""
    if not grow:
        return selected
    if grow <= KERNEL_GROW_LIMIT:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        return cv2.dilate(selected.astype(np.uint8), kernel) > 0
    outside = np.ascontiguousarray(~selected).astype(np.uint8)
    return cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= grow


# How far the fill reaches beyond the object's support (alpha > 0): the object's own shading a pixel or two
# past its stored alpha is not the fill's boundary, and the fill's patches need room to meet the picture.
OBJECT_FILL_GROW = 4


def object_fill_hole(alpha: np.ndarray, hole: np.ndarray, grow: int = OBJECT_FILL_GROW) -> np.ndarray:
    """Where the plate must be made up: the object's support (where ``alpha`` stores as more than 0 in
    8 bits) grown by ``grow`` px, inside the ``hole``. Everywhere else in the hole the picture is the plate."""
    support = np.asarray(alpha) * 255.0 >= 0.5
    return grow_hole(support, grow) & np.asarray(hole, bool)
