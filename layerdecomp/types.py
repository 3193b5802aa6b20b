"""The values that travel between the stages of a decomposition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np

# progress(stage, fraction): stage is a short word ("region", "alpha", "fill", "step", "layering", ...),
# fraction in [0, 1] within that stage. Stages that run at the same time (the classical backend's "alpha"
# and "fill") report one figure for all of them, named after the first unfinished one
# (``layerdecomp.progress``); it may come from a worker thread.
ProgressCallback = Callable[[str, float], None]


class CancelToken(Protocol):
    """Anything with ``is_set()`` (a ``threading.Event`` qualifies)."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Box:
    """A rectangle in pixel coordinates: columns ``x .. x+w``, rows ``y .. y+h``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass
class BackendResult:
    """What a backend returns for the crop it was given (all arrays at the crop's size).

    ``background``: RGB uint8, the fill; only its values inside the hole are used.
    ``alpha``: float32 in [0, 1], the object's *visible* alpha.
    ``foreground``: optional float32 RGB estimate of the object's colours (used in the soft edge, where
    solving the compositing equation against a generated fill would pull the fill's errors into F).
    ``amodal_alpha`` / ``amodal_foreground``: optional, the complete object including the parts hidden
    behind occluders (only backends that support occlusion recovery set them).
    ``effects``: see below.
    """

    background: np.ndarray
    alpha: np.ndarray
    foreground: Optional[np.ndarray] = None
    amodal_alpha: Optional[np.ndarray] = None
    amodal_foreground: Optional[np.ndarray] = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Optional bool map: where ``background`` (a model's clean plate) removed something beside the object
    # that belongs with it (a shadow, a reflection). There the plate stands and the difference travels on
    # the object layer (see ``layering.carry_effects``).
    effects: Optional[np.ndarray] = None


@dataclass
class Decomposition:
    """The result of :func:`layerdecomp.decompose`, at the input's full size.

    ``foreground``: RGBA uint8 (straight alpha), the object; alpha 0 outside the (dilated) selection
    except for recovered hidden parts.
    ``background``: uint8 with the input's channel count, the clean plate; equal to the input bit for bit
    outside the dilated selection.
    ``visibility``: uint8, 255 where the object is visible in the input (foreground-over-background
    reproduces the input there), 0 on recovered hidden parts and elsewhere.
    ``box``: the rectangle outside which neither layer differs from "input / transparent".
    ``metadata``: backend name, timings (seconds per stage), what the backend could not do, options.
    """

    foreground: np.ndarray
    background: np.ndarray
    visibility: np.ndarray
    box: Box
    metadata: dict[str, Any]
    # With ``split_parts=True``: one layer per part of the selection, bottom to top (``layerdecomp.parts``).
    objects: Optional[list["ObjectLayer"]] = None


@dataclass
class ObjectLayer:
    """One object of a several-part decomposition: its RGBA pixels (straight alpha) and visibility, cut to
    ``box`` (canvas coordinates), so that many small objects on a big canvas stay small."""

    foreground: np.ndarray
    visibility: np.ndarray
    box: Box

    def paste(self, foreground: np.ndarray, visibility: np.ndarray) -> None:
        """Draw this layer into canvas-sized arrays where it has pixels (the layers of one result never
        overlap)."""
        if not self.box.w:
            return
        mine = self.foreground[..., 3] > 0
        foreground[self.box.slices][mine] = self.foreground[mine]
        visibility[self.box.slices][mine] = self.visibility[mine]

    def on_canvas(self, height: int, width: int) -> np.ndarray:
        """The layer as a full canvas-sized RGBA picture (transparent elsewhere)."""
        canvas = np.zeros((height, width, 4), np.uint8)
        if self.box.w:
            canvas[self.box.slices] = self.foreground
        return canvas
