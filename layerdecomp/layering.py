"""Stage 4: turn a backend's crop-sized result into faithful full-size layers.

Faithful means:
- outside the hole (the dilated selection) the background *is* the input, bit for bit, and the
  foreground's alpha is 0 (recovered hidden parts aside, which ``visibility`` marks as not visible);
- inside the hole, foreground-over-background reproduces the input to within rounding, because the
  foreground colour is solved from the compositing equation ``I = aF + (1 - a)B`` against the final,
  already rounded background; where the object's alpha is 0 the background is the input itself.

Solving F against a *generated* fill makes the composite exact but drags the fill's errors into F where
a is small (the object's edge would carry the fill's colours). So where the backend supplies its own
estimate of F, the soft edge takes the *local* background implied by that estimate,
``B = (I - aF) / (1 - a)``, handed over smoothly to the fill as a grows past 0.5 (where dividing by
``1 - a`` would amplify errors into a bright or dark smear); F is then solved against that. The edge keeps
the object's colours, the composite stays exact, and the clean plate is the fill wherever the object was
(nearly) opaque. This module alone decides the soft edge's plate: backends return their raw fill and F.

Two things keep the object's outline out of the plate:
- the fill is matched to the picture along the outline (``match_fill_to_outline``): where the object ends
  inside the hole the plate turns from fill to picture, and any difference in colour there is carried a
  few pixels into the fill, fading out, instead of showing as a seam;
- where F would leave the colour range (a rim brighter than alpha and plate allow) the alpha rises to the
  least that fits; the plate is not moved (moving it would draw the excess into it, amplified by
  ``1 / (1 - a)``: a bright or dark line along the outline).
"""

from __future__ import annotations

import cv2
import numpy as np

from .layering_rgba import colour_seen, with_transparency
from .region import Region
from .types import BackendResult, Box, Decomposition


def _solve_foreground(image: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """F from I = aF + (1-a)B where a > 0 (float32, unclipped); 0 where a == 0."""
    a = alpha[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        fg = (image - (1.0 - a) * background) / a
    return np.where(a > 0, fg, 0.0).astype(np.float32)


# The fill meets the picture along the object's outline (where alpha turns 0 the plate is the picture):
# their difference there, smoothed over SEAM_SMOOTH px, is carried SEAM_REACH px into the fill, fading out;
# differences beyond SEAM_LIMIT (RGB distance) count less and less (see match_fill_to_outline).
SEAM_REACH = 12
SEAM_SMOOTH = 4.0
SEAM_LIMIT = 40.0


def match_fill_to_outline(image: np.ndarray, fill: np.ndarray, under: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The fill (float32) shifted, near the outline of ``under`` (where the object is) inside the ``hole``,
    by the smoothed difference between the picture and the fill just outside it, fading to nothing
    ``SEAM_REACH`` px in.

    A fill is made for the whole hole, but the plate keeps the picture wherever the object turns out to be
    absent; where the fill's colours differ from the picture's there, the object's outline would show in
    the plate as a seam (a ghost outline). The shift is smooth: the fill keeps its texture and structure.
    (Along the hole's own edge the fill meets the picture as its backend made it: no shift there.)"""
    outline = (cv2.dilate(under.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~under & hole
    if not outline.any():
        return fill
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), SEAM_SMOOTH)  # noqa: E731
    difference = np.where(outline[..., None], image - fill, 0.0).astype(np.float32)
    # A large difference is another thing beside the object (an occluder, a shadow), not a seam: it counts
    # less and less beyond SEAM_LIMIT (RGB distance) and not at all beyond twice that, so its colour is not
    # smeared into the fill.
    seam = np.clip(2.0 - np.linalg.norm(difference, axis=2) / SEAM_LIMIT, 0.0, 1.0)
    smooth = blur(difference * seam[..., None]) / np.maximum(blur(outline.astype(np.float32)), 1e-6)[..., None]
    # Inside, each pixel takes the smoothed difference of the nearest outline pixel.
    distance, labels = cv2.distanceTransformWithLabels((~outline).astype(np.uint8), cv2.DIST_L2, 3,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(outline)
    lookup = np.zeros((labels.max() + 1, 3), np.float32)
    lookup[labels[ys, xs]] = smooth[ys, xs]
    fade = np.clip(1.0 - distance / SEAM_REACH, 0.0, 1.0)
    shift = lookup[labels] * fade[..., None]
    return np.where(under[..., None], fill + shift, fill).astype(np.float32)


def layer_crop(image_rgb: np.ndarray, hole: np.ndarray, result: BackendResult):
    """Faithful layers for one crop.

    Returns ``(foreground RGBA uint8, background RGB uint8, visibility uint8)`` at the crop's size.
    """
    image = image_rgb.astype(np.float32)
    # Quantise alpha first: everything after is solved against the alpha that will actually be stored.
    alpha8 = np.where(hole, np.clip(np.rint(result.alpha * 255.0), 0, 255), 0).astype(np.uint8)
    alpha = alpha8.astype(np.float32) / 255.0
    fill = match_fill_to_outline(image, result.background.astype(np.float32), alpha8 > 0, hole)

    # Where the object is absent (alpha 0) the input *is* the background: the hole grows beyond the
    # selection so that matting can find the object's soft edge there, not to repaint what surrounds it.
    # So the fill is used only under the object, and the composite equals the input everywhere.
    background = np.where((alpha8 > 0)[..., None], fill, image)  # alpha8 is already 0 outside the hole
    if result.foreground is not None:
        a = alpha[..., None]
        edge = (a > 0) & (a < 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            local = (image - a * result.foreground.astype(np.float32)) / (1.0 - a)
        local = np.clip(np.nan_to_num(local), 0, 255)
        # Trust the estimate fully up to a = 0.5, then hand over to the fill as the object turns opaque
        # (smoothstep: no kink that would show as a contour in the plate).
        t = np.clip(2.0 * a - 1.0, 0.0, 1.0)
        to_fill = t * t * (3.0 - 2.0 * t)
        blended = (1.0 - to_fill) * local + to_fill * fill
        background = np.where(edge, blended, background)
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
    background8[~hole] = image_rgb[~hole]
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
    foreground8[fg_alpha == 0] = 0
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
