"""Stage 4: turn a backend's crop-sized result into faithful full-size layers.

Faithful means:
- outside the hole (the dilated selection) the background *is* the input, bit for bit, and the
  foreground's alpha is 0 (recovered hidden parts aside, which ``visibility`` marks as not visible);
- inside the hole, foreground-over-background reproduces the input to within rounding, because the
  foreground colour is solved from the compositing equation ``I = aF + (1 - a)B`` against the final,
  already rounded background; where the object's alpha is 0 the background is the input itself.

Solving F against a *generated* fill makes the composite exact but drags the fill's errors into F where
a is small (the object's edge would carry the fill's colours). So the plate under an RGB object is
``plate.py``'s: the fill blended into the picture in the gradient domain, and in the soft edge the *local*
background implied by the backend's estimate of F, ``B = (I - aF) / (1 - a)``, where that is plausible
(hair, fur, motion blur; not a hard edge given a ramp of alpha, where it would draw the object's outline
into the plate). F is then solved against that plate. This module alone decides the soft edge's plate:
backends return their raw fill and F.

Where F would leave the colour range (a rim brighter than alpha and plate allow) the alpha rises to the
least that fits; the plate is not moved (moving it would draw the excess into it, amplified by
``1 / (1 - a)``: a bright or dark line along the outline).
"""

from __future__ import annotations

import numpy as np

from .layering_rgba import colour_seen, with_transparency
from .plate import plate_under_object
from .region import Region
from .types import BackendResult, Box, Decomposition


def _solve_foreground(image: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """F from I = aF + (1-a)B where a > 0 (float32, unclipped); 0 where a == 0."""
    fg = np.zeros(image.shape, np.float32)
    under = alpha > 0
    if not under.any():
        return fg
    # Only on the object's bounding box (a fraction of the crop), with ``where`` rather than boolean
    # indexing (a gather and a scatter of every channel cost more than the arithmetic).
    rows, cols = np.flatnonzero(under.any(axis=1)), np.flatnonzero(under.any(axis=0))
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    a = alpha[box][..., None]
    np.divide(image[box] - (1.0 - a) * background[box], a, out=fg[box], where=under[box][..., None])
    return fg


def layer_crop(image_rgb: np.ndarray, hole: np.ndarray, result: BackendResult):
    """Faithful layers for one crop.

    Returns ``(foreground RGBA uint8, background RGB uint8, visibility uint8)`` at the crop's size.
    """
    image = image_rgb.astype(np.float32)
    # Quantise alpha first: everything after is solved against the alpha that will actually be stored.
    alpha8 = np.where(hole, np.clip(np.rint(result.alpha * 255.0), 0, 255), 0).astype(np.uint8)
    alpha = alpha8.astype(np.float32) / 255.0
    fill = result.background.astype(np.float32)
    # Where the object is absent (alpha 0) the input *is* the background: the hole grows beyond the
    # selection so that matting can find the object's soft edge there, not to repaint what surrounds it.
    # So the fill is used only under the object, and the composite equals the input everywhere.
    background = plate_under_object(image, fill, alpha8, result.foreground, hole)
    background8 = np.clip(np.rint(background), 0, 255).astype(np.uint8)

    # Where F would leave the colour range the alpha is too small for the plate (a rim brighter than the
    # mix allows): take the least alpha that keeps F in range. (Moving B instead would draw the excess
    # into the plate, amplified by 1 / (1 - a): a bright or dark line along the outline.)
    soft = (alpha8 > 0) & (alpha8 < 255)
    if soft.any():
        needed = least_alpha8(image[soft], background8[soft].astype(np.float32))
        alpha8[soft] = np.maximum(alpha8[soft], needed)
        alpha = alpha8.astype(np.float32) / 255.0
    foreground = _solve_foreground(image, alpha, background8.astype(np.float32))
    foreground8 = np.clip(np.rint(foreground), 0, 255).astype(np.uint8)

    # Outside the hole nothing may change, whatever the arithmetic above did there.
    np.copyto(background8, image_rgb, where=~hole[..., None])
    fg_alpha = alpha8.copy()
    hidden = np.zeros_like(hole)
    if result.amodal_alpha is not None and result.amodal_foreground is not None:
        # Hidden parts: where the object is not visible (outside the hole, or behind an occluder inside it).
        hidden = (alpha8 == 0) & (result.amodal_alpha > 0)
        fg_alpha[hidden] = np.clip(np.rint(result.amodal_alpha[hidden] * 255.0), 0, 255).astype(np.uint8)
        foreground8[hidden] = result.amodal_foreground[hidden]
    if result.effects is not None:
        carry_effects(image_rgb, fill, result.effects & hole & (alpha8 == 0) & ~hidden, foreground8, fg_alpha,
                      background8)
    np.copyto(foreground8, 0, where=(fg_alpha == 0)[..., None])
    rgba = np.dstack([foreground8, fg_alpha])
    visibility = np.where(hole & ~hidden, 255, 0).astype(np.uint8)
    return rgba, background8, visibility


def least_alpha8(image: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """Per pixel (N×3 float arrays, 0–255), the least alpha (uint8, rounded up) with which some colour S in
    range gives ``I = a·S + (1 − a)·plate``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        darker = np.where(image < plate, (plate - image) / plate, 0.0)  # keeps S >= 0
        lighter = np.where(image > plate, (image - plate) / (255.0 - plate), 0.0)  # keeps S <= 255
    needed = np.nan_to_num(np.maximum(darker, lighter)).max(axis=1)
    return np.clip(np.ceil(needed * 255.0 - 1e-6), 0, 255).astype(np.uint8)


def carry_effects(image: np.ndarray, plate: np.ndarray, effects: np.ndarray, foreground8: np.ndarray,
                  fg_alpha: np.ndarray, background8: np.ndarray) -> None:
    """Shadows and reflections the model's clean plate removed, moved onto the object layer (in place).

    In ``effects`` (where the object is absent and the backend says its plate removed something that goes
    with the object) the plate stands in the background, and the object layer gets the colour S and the
    least alpha a with ``I = a·S + (1 − a)·plate`` and S in range (a shadow: dark, partly transparent).
    The composite stays the picture (to rounding), and the shadow moves with the object.
    """
    if not effects.any():
        return
    plate8 = np.clip(np.rint(plate), 0, 255)
    i, p = image[effects].astype(np.float32), plate8[effects].astype(np.float32)
    a8 = least_alpha8(i, p).astype(np.float32)
    a = np.maximum(a8, 1)[:, None] / 255.0  # a8 = 0: the plate is the picture there, S is unused
    colour = p + (i - p) / a
    background8[effects] = plate8[effects].astype(np.uint8)
    foreground8[effects] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    fg_alpha[effects] = a8.astype(np.uint8)


def assemble(image: np.ndarray, region: Region, result: BackendResult, metadata: dict) -> Decomposition:
    """Paste one crop's layers into full-size layers (RGBA input keeps its alpha channel)."""
    sl = region.box.slices
    crop = image[sl]
    rgba, background_crop, visibility_crop = layer_crop(colour_seen(crop), region.hole, result)

    if image.shape[2] == 4:
        # The layer's own alpha: the object's and the plate's are solved together (layering_rgba).
        rgba, background_crop = with_transparency(crop, region.hole, rgba, background_crop, visibility_crop)

    return from_crop_layers(image, region.box, rgba, background_crop, visibility_crop, metadata)


def from_crop_layers(image: np.ndarray, box: Box, foreground_crop: np.ndarray, background_crop: np.ndarray,
                     visibility_crop: np.ndarray, metadata: dict) -> Decomposition:
    """Full-size layers from layers cropped to ``box``: outside it transparent / the input / not visible."""
    height, width = image.shape[:2]
    foreground = np.zeros((height, width, 4), np.uint8)
    background = image.copy()
    visibility = np.zeros((height, width), np.uint8)
    foreground[box.slices] = foreground_crop
    background[box.slices] = background_crop
    visibility[box.slices] = visibility_crop
    return Decomposition(foreground, background, visibility, box, metadata)
