"""The crop rule: the rectangle around a selection that a decomposition works on.

The selection's bounds, plus ``grow`` (how far the hole reaches beyond the selection), plus a context
``margin``, clipped to the canvas. Pure standard library with no relative imports: the Krita plugin
bundles this file as is (krita_plugin/layerdecomp_krita/crop.py, see scripts/sync_plugin), so the core,
the Python client and the plugin plan the same crop and the server's result equals decomposing the whole
canvas. Rectangles are ``(x, y, w, h)`` tuples.
"""

from __future__ import annotations

from typing import Optional, Tuple

Rect = Tuple[int, int, int, int]

# How far the hole reaches beyond the selection by default: hand-made selections stop a few pixels inside
# the object's soft edge (hair beyond them), and whatever of the object is left outside the hole stays in
# the background as a ghost outline. The matting looks for the object's edge this far out (its band's
# least reach, matting.MIN_RADIUS, is this number); where it finds no object the background stays the input.
DEFAULT_GROW = 12


def default_margin(width: int, height: int) -> int:
    """Context around a ``width`` × ``height`` selection: a quarter of its larger side, at least 16 px, at
    most 512 px."""
    return int(min(512, max(16, round(0.25 * max(width, height)))))


def crop_rect(selection: Rect, canvas: Rect, margin: Optional[int] = None, grow: int = DEFAULT_GROW) -> Rect:
    """The crop for ``selection`` (its tight bounds) on ``canvas``; ``margin`` None: the default. ``margin``
    and ``grow`` are 0 or more: callers take them through ``layerdecomp.options.check_geometry``."""
    x, y, w, h = selection
    pad = grow + (default_margin(w, h) if margin is None else int(margin))
    cx, cy, cw, ch = canvas
    x0, y0 = max(cx, x - pad), max(cy, y - pad)
    x1, y1 = min(cx + cw, x + w + pad), min(cy + ch, y + h + pad)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))
