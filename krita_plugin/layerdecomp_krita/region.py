"""Which pixels a job covers: the selection's true bounds and the crop around them.

Pure Python on the selection's bytes (one byte a pixel, 0-255), so it runs in Krita without numpy.
The crop rule is the core's own (``crop.py``, bundled from layerdecomp/crop.py): selection bounds, plus
``grow``, plus a context ``margin``, clipped to the canvas. The server gets exactly that crop and the same
margin and grow, so its result equals decomposing the whole canvas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .crop import DEFAULT_GROW as GROW
from .crop import crop_rect, default_margin


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    def intersect(self, other: "Rect") -> "Rect":
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.w, other.x + other.w)
        y1 = min(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def as_tuple(self) -> tuple:
        return (self.x, self.y, self.w, self.h)


def tight_bounds(mask: bytes, rect: Rect) -> Optional[Rect]:
    """The smallest rectangle holding every non-zero byte of ``mask`` (``rect``'s pixels, row by row),
    in the same coordinates as ``rect``; None when all bytes are 0."""
    if len(mask) != rect.w * rect.h:
        raise ValueError(f"the mask has {len(mask)} bytes, expected {rect.w} x {rect.h}")
    top = bottom = None
    left, right = rect.w, -1
    zero = b"\x00"
    for row in range(rect.h):
        line = mask[row * rect.w:(row + 1) * rect.w]
        stripped = line.lstrip(zero)
        if not stripped:
            continue
        if top is None:
            top = row
        bottom = row
        left = min(left, rect.w - len(stripped))
        right = max(right, len(line.rstrip(zero)) - 1)
    if top is None:
        return None
    return Rect(rect.x + left, rect.y + top, right - left + 1, bottom - top + 1)


def all_selected(mask: bytes) -> bool:
    """True when every byte is 255 (fully selected)."""
    return not mask.translate(None, b"\xff")


def plan_crop(selection: Rect, canvas: Rect, margin: Optional[int] = None, grow: int = GROW) -> tuple:
    """``(crop, margin)``: the rectangle to send and the margin that produced it (``margin`` None or
    negative: the default)."""
    if margin is None or margin < 0:
        margin = default_margin(selection.w, selection.h)
    return Rect(*crop_rect(selection.as_tuple(), canvas.as_tuple(), margin, grow)), margin
