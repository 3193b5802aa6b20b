"""Stage 4 for a picture with transparency: the layers of its colour, made faithful in alpha as well.

The backends and ``layering.layer_crop`` work on the straight colour C and give an object share ``m``
(the object's alpha), an object colour F and a plate colour B with ``C = mF + (1 - m)B``. A layer with its
own alpha A must come back from object-over-plate (Porter-Duff "over") too, in alpha and in premultiplied
colour:

    A = a + b(1 - a)            (a: the object's alpha, b: the plate's)
    A·C = a·F + (1 - a)·b·B

Any ``0 <= a <= A`` gives ``b = (A - a) / (1 - a)``; where ``a = 1`` (an opaque object on an opaque layer) the
plate's alpha is free. So the two alphas are solved together:
- ``a = m·A`` alone keeps the object looking as it did (``C = mF + (1 - m)B`` then solves the colour), but a
  soft edge that fades into transparency is only partly the object's when the colour matting is unsure (the
  colour of a nearly transparent pixel says little), and the plate would keep a faint ring of it;
- the plate behind the object is estimated by filling the input's alpha over the object's support from the
  pixels around it (``b̂``): where the layer around the object is transparent, whatever alpha the picture
  has there beyond ``b̂`` is the object's. The object takes the matting's share of A and, of the rest, the
  alpha the plate does not explain: ``a = m·A + (1 - m)·max(A - b̂, 0)`` (at most A, and the matting alone
  where the layer is opaque around the object). Where the object turns opaque, the plate takes ``b̂``:
  transparent where only the object was, filled where the layer went on behind it.
F is then solved from the premultiplied equation against the stored (rounded) a, b and B, so the
composite is the input to within rounding everywhere, inside the hole too.
"""

from __future__ import annotations

import cv2
import numpy as np


def colour_seen(crop: np.ndarray) -> np.ndarray:
    """The crop's colour (H×W×3 uint8) as the backends and ``layer_crop`` see it: for RGBA, where the layer is
    fully transparent its stored colour means nothing (often black), so it takes the colour of the nearest
    pixel that shows; otherwise fills and mattes would draw that hidden colour into the plate."""
    colour = np.ascontiguousarray(crop[..., :3])
    if crop.shape[2] == 3:
        return colour
    transparent = crop[..., 3] == 0
    if not transparent.any() or transparent.all():
        return colour
    _, labels = cv2.distanceTransformWithLabels(transparent.astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(~transparent)
    lookup = np.zeros((labels.max() + 1, 3), np.uint8)
    lookup[labels[ys, xs]] = colour[ys, xs]
    return np.where(transparent[..., None], lookup[labels], colour)


# Telea's fill costs about a second per million pixels filled: above this size (the crop's longer side) the
# plate's alpha is filled at a smaller scale, and at full size only in a band along the support's outline.
FULL_SCALE_FILL = 384
BAND_PX = 3  # the full-size band, in pixels of the small scale


def plate_alpha_behind(alpha8: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The layer's alpha (uint8) continued over ``support`` (where the object is) from the pixels around it:
    what the plate's alpha would be there without the object."""
    if not support.any():
        return alpha8.copy()
    if support.all():
        return np.zeros_like(alpha8)
    ring = (cv2.dilate(support.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~support
    around = alpha8[ring]
    if around.min() == around.max():  # e.g. an opaque layer: the same alpha behind the whole object
        return np.where(support, around[0], alpha8).astype(np.uint8)
    mask = support.astype(np.uint8)
    scale = max(alpha8.shape) / FULL_SCALE_FILL
    if scale <= 1.0:
        filled = cv2.inpaint(alpha8, mask, 3, cv2.INPAINT_TELEA)
    else:
        filled = _fill_small_then_outline(alpha8, mask, scale)
    # Telea extrapolates gradients: on a ramp it can overshoot what surrounds the object.
    return np.where(support, np.clip(filled, around.min(), around.max()), alpha8).astype(np.uint8)


def _fill_small_then_outline(alpha8: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """A smooth estimate: filled small, then refilled at full size near the outline, where it must meet the
    picture's alpha exactly (from both sides: the picture outside, the small fill inside)."""
    support = mask > 0
    h, w = alpha8.shape
    small_size = (max(1, round(w / scale)), max(1, round(h / scale)))
    small_support = cv2.resize(mask, small_size, interpolation=cv2.INTER_NEAREST)
    small = cv2.inpaint(cv2.resize(alpha8, small_size, interpolation=cv2.INTER_AREA), small_support, 3,
                        cv2.INPAINT_TELEA)
    filled = np.where(support, cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), alpha8).astype(np.uint8)
    reach = int(np.ceil(BAND_PX * scale))
    band = support & (cv2.distanceTransform(mask, cv2.DIST_L2, 3) <= reach)
    return cv2.inpaint(filled, band.astype(np.uint8), 3, cv2.INPAINT_TELEA)


def with_transparency(crop_rgba: np.ndarray, hole: np.ndarray, object_rgba: np.ndarray, plate_rgb: np.ndarray,
                      visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(object RGBA, plate RGBA)`` (uint8, straight alpha) for a crop with an alpha channel, from the
    layers ``layering.layer_crop`` made of its colour (``object_rgba``, ``plate_rgb``, ``visibility``).

    Outside the object's visible support the object is as given (transparent, or hidden parts that
    ``visibility`` masks) and the plate is the input, alpha included."""
    colour = crop_rgba[..., :3].astype(np.float64)
    alpha8 = crop_rgba[..., 3]
    share8 = object_rgba[..., 3]
    support = hole & (visibility > 0) & (share8 > 0)

    behind8 = plate_alpha_behind(alpha8, support)
    picture_a = alpha8.astype(np.float64) / 255.0
    share = share8.astype(np.float64) / 255.0
    unexplained = np.maximum(picture_a - behind8.astype(np.float64) / 255.0, 0.0)
    object_a = share * picture_a + (1.0 - share) * unexplained
    object_a8 = np.where(support, np.minimum(np.rint(object_a * 255.0), alpha8), 0).astype(np.int64)

    # b = (A - a) / (1 - a); free where a = 1: the alpha continued from around the object.
    remaining = 255 - object_a8
    with np.errstate(divide="ignore", invalid="ignore"):
        plate_a8 = np.rint(255.0 * (alpha8.astype(np.int64) - object_a8) / remaining)
    plate_a8 = np.where(remaining > 0, plate_a8, behind8).astype(np.int64)
    plate_a8 = np.where(support, np.clip(plate_a8, 0, 255), alpha8)

    # F from A·C = a·F + (1 - a)·b·B against the stored plate: exact up to rounding.
    plate_colour = np.where(support[..., None], plate_rgb, crop_rgba[..., :3]).astype(np.float64)
    behind_premultiplied = (remaining * plate_a8 / 255.0)[..., None] * plate_colour
    with np.errstate(divide="ignore", invalid="ignore"):
        solved = (alpha8[..., None] * colour - behind_premultiplied) / object_a8[..., None]
    solved8 = np.clip(np.rint(np.nan_to_num(solved)), 0, 255).astype(np.uint8)

    out_object = object_rgba.copy()
    # Where the layer is opaque and the object's alpha is the matting's, F is layer_crop's own (already
    # solved against the same plate; solving again could round the other way).
    changed = support & ~((alpha8 == 255) & (object_a8 == share8))
    out_object[changed] = np.dstack([solved8, object_a8.astype(np.uint8)])[changed]
    out_object[support & (object_a8 == 0)] = 0
    plate = np.dstack([plate_colour.astype(np.uint8), plate_a8.astype(np.uint8)])
    plate[support & (plate_a8 == 0)] = 0  # no colour left where the plate is transparent
    return out_object, plate
