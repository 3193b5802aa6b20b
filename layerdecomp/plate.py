"""The clean plate under an RGB object: the fill, met seamlessly with the picture, and the soft edge's own
background where the matting can be trusted.

Two things used to draw the object's outline into the plate (a ghost), and neither happens here:

- **The soft edge's background** ``B = (I - aF) / (1 - a)`` is the real background seen through hair, fur
  or motion blur, but on a hard edge that the matting gave a ramp of alpha it is the object's own colour
  (where alpha is too low) or the background pushed away from the object's (where it is too high), and
  ``1 / (1 - a)`` amplifies both. So it is taken only where it is plausible: where it agrees with the
  background the picture shows next to the object (``AGREEMENT``), where the object's colour differs from
  that background enough for the alpha to be determined (``CONTRAST``), where the picture changes as the
  alpha says it should (``gradient_consistency``: not a ramp of alpha over a flat picture), where it is
  no more detailed than the picture (``DETAIL_RATIO``: not a textured opaque part the matting left
  fractional), near a pixel the object leaves uncovered (``NEAR_ABSENT``), and handed
  over to the fill as alpha grows past ``HANDOVER`` (a smoothstep, so no contour). Elsewhere the plate is
  the fill.
- **Meeting the picture**: the fill is blended in the gradient domain (Poisson, "seamless cloning"): it
  keeps its own gradients and takes, as an added harmonic membrane, its difference from the picture on
  the band around the object where the fill was made but the picture stays (the object's support grown
  by ``region.OBJECT_FILL_GROW``). Each band pixel's difference, or the band's local mean where that is
  smaller: a rim of the object's own shading next to its outline is not spread over the plate (a colour
  shift along the outline made a removed coin a darker disc). Differences beyond ``BOUNDARY_LIMIT`` are
  something else beside the object (an occluder, a shadow) and are left out. The soft edge's background,
  where it is taken, is a boundary too (a data term weighted by its trust): the fill meets what is seen
  through hair or fur instead of only the picture beyond it, so there is no seam where the plate hands
  over from the one to the other, and the background seen through the edge carries its tone into the
  fill. The membrane is smooth, so it is solved on a copy shrunk to at most ``MAX_SOLVE_PIXELS`` unknowns
  and brought back up bilinearly.

Cost: the soft edge and the band are thin rings (on 2048² with a 15% selection, ~16k soft-edge pixels in
a 2 MP crop), so their filters run on ``strips`` of cells around them, with a margin of the filters' reach
(the same values as on the whole crop), and the background next to the object is looked up from the edge
of the absent region only.

Measured against known plates in docs/evaluation.md ("Plate").
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from .region import object_fill_hole

# The membrane is solved with at most this many unknowns; it is smooth, so a shrunk solve loses nothing that
# shows (20k unknowns: 0.1-0.4 s of solve on 2048² with a 15% selection; the plate's errors on GT01-07 are
# the same at 20k and 10k: docs/evaluation.md, "Plate", round 2).
MAX_SOLVE_PIXELS = 10_000
# A boundary pixel whose colour differs from the fill's by more than this (RGB distance) is not a seam but
# another thing beside the object: it is not a boundary condition.
BOUNDARY_LIMIT = 80.0
# The soft edge's background counts fully where it differs from the fill's smoothed colours by up to
# AGREEMENT (RGB distance, averaged over a few pixels), and not at all from twice that.
AGREEMENT = 32.0
AGREEMENT_SMOOTH = 2.0
# The local background counts only where the object's colour differs from the background's around it by
# twice CONTRAST (RGB distance), and not at all below CONTRAST.
CONTRAST = 20.0
# The picture's gradient and the one the alpha implies may differ by up to this factor with full trust in
# the local background, and by its square with none; below GRADIENT_FLOOR (levels/px) both count as flat.
GRADIENT_RATIO = 2.0
GRADIENT_FLOOR = 2.0
# The local background is handed over to the fill from this alpha up (a smoothstep to alpha 1).
HANDOVER = 0.85
# Fractional alpha that varies by less than this (standard deviation among the soft pixels around it) is a
# plateau, not a ramp across an edge (a selection's own grey level, a veil, glass): no outline to ghost
# there, so the plate is the local background whatever its colour.
PLATEAU_SPREAD = 0.02
# Weight of the soft edge's trusted background as a data term of the membrane (per pixel, against the
# membrane's 4 neighbour couplings).
TRUST_PULL = 1.0
# A local background with more detail than the picture itself (a local mean absolute deviation over
# DETAIL_RATIO times the picture's, plus DETAIL_FLOOR levels) is the object's own texture amplified by
# 1 / (1 - a): a textured opaque part (a cup's handle with its highlights) the matting left fractional
# because it has the background's colours. Trusted fully up to that ratio, not at all from twice it.
# (GT01-07: 0.5 / 0.75 / 1 -> outline ratio 0.697x / 0.688x / 0.685x; the README example's handle
# stays in the plate from 1 up, docs/evaluation.md "Plate".)
DETAIL_RATIO = 0.75
DETAIL_FLOOR = 3.0
# Fractional alpha deeper than this (px) inside the object, with no uncovered pixel nearer, is the
# matting's doubt about an opaque part rather than a background seen through it (hair is seen through
# right beside its gaps): trusted fully up to NEAR_ABSENT, not at all from twice it.
NEAR_ABSENT = 12.0
# The band's differences are compared with their local mean over this scale (px).
BOUNDARY_SMOOTH = 2.0
# Weak pull of the membrane to 0, so that a part of the region with no boundary at all stays as filled.
MEMBRANE_PULL = 1e-4
# The soft edge and the band are thin rings around the object: their per-pixel work is done on strips of
# TILE×TILE cells that hold any of their pixels (with a margin for the filters' reach), not on the whole
# crop (2 MP on 2048² with a 15% selection, for ~20k soft-edge pixels).
TILE = 64


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur truncated at 3 sigma (a known reach: the strips' margins are exact)."""
    radius = int(np.ceil(3.0 * sigma))
    return cv2.GaussianBlur(x, (2 * radius + 1, 2 * radius + 1), sigma)


def strips(where: np.ndarray, margin: int, tile: int = TILE):
    """``(outer, inner)`` pairs of (row slice, column slice): runs of the ``tile``-sized cells along each row
    of cells that hold any ``where`` pixel (``inner``, in the array), grown by ``margin`` px (``outer``,
    clipped to the array). A filter of reach up to ``margin`` run on ``outer`` is exact on ``inner``."""
    h, w = where.shape
    ny, nx = -(-h // tile), -(-w // tile)
    padded = np.zeros((ny * tile, nx * tile), bool)
    padded[:h, :w] = where
    cells = padded.reshape(ny, tile, nx, tile).any(axis=(1, 3))
    for cy in range(ny):
        row = np.concatenate([[False], cells[cy], [False]])
        changes = np.flatnonzero(row[1:] != row[:-1])
        for start, stop in zip(changes[::2], changes[1::2]):
            y0, y1, x0, x1 = cy * tile, min(h, (cy + 1) * tile), start * tile, min(w, stop * tile)
            yield ((slice(max(0, y0 - margin), min(h, y1 + margin)), slice(max(0, x0 - margin), min(w, x1 + margin))),
                   (slice(y0, y1), slice(x0, x1)))


def _within(outer: tuple, inner: tuple) -> tuple:
    """``inner`` (array slices) relative to ``outer``."""
    return tuple(slice(i.start - o.start, i.stop - o.start) for o, i in zip(outer, inner))


def _membrane(values: np.ndarray, unknown: np.ndarray, fixed: np.ndarray, pull=None, pulled=None) -> np.ndarray:
    """The harmonic function on ``unknown`` (bool) that equals ``values`` (H×W×C) on its ``fixed`` 4-neighbours;
    other neighbours are free (no flux). ``pull`` (H×W, optional): a data term drawing each unknown towards
    ``pulled`` (H×W×C) with that weight. Returns H×W×C: the solution on ``unknown``, ``values`` on ``fixed``."""
    h, w = unknown.shape
    index = np.full((h + 2, w + 2), -1, np.int64)
    count = int(np.count_nonzero(unknown))
    index[1:-1, 1:-1][unknown] = np.arange(count)
    padded_fixed = np.pad(fixed, 1)
    padded_values = np.pad(values, ((1, 1), (1, 1), (0, 0)))
    ys, xs = np.nonzero(unknown)
    rows, cols = [], []
    diagonal = np.full(count, MEMBRANE_PULL)
    rhs = np.zeros((count, values.shape[2]))
    me = index[ys + 1, xs + 1]
    if pull is not None:
        diagonal += pull[ys, xs]
        rhs += pull[ys, xs, None] * pulled[ys, xs]
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + 1 + dy, xs + 1 + dx
        other = index[ny, nx]
        inside = other >= 0
        rows.append(me[inside])
        cols.append(other[inside])
        boundary = padded_fixed[ny, nx]
        diagonal += inside | boundary
        rhs[boundary] += padded_values[ny[boundary], nx[boundary]]
    rows.append(me)
    cols.append(me)
    data = np.concatenate([-np.ones(sum(len(r) for r in rows[:-1])), diagonal])
    matrix = sparse.csc_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(count, count))
    solution = spsolve(matrix, rhs).reshape(count, -1)
    out = np.where(fixed[..., None], values, 0.0)
    out[unknown] = solution
    return out


def boundary_differences(image: np.ndarray, fill: np.ndarray, band: np.ndarray) -> np.ndarray:
    """``image - fill`` (float32 H×W×3) on the ``band`` around the object (where the fill was made but the
    picture is kept), each pixel's difference or the band's local mean difference, whichever is smaller:
    a rim of the object's own shading next to its outline (darker or brighter than the fill) is not
    carried into the plate, a fill that is off all around is still corrected. 0 off the band."""
    out = np.zeros(band.shape + (3,), np.float32)
    for outer, inner in strips(band, int(np.ceil(3.0 * BOUNDARY_SMOOTH))):
        where = band[outer]
        difference = (image[outer].astype(np.float32) - fill[outer].astype(np.float32)) * where[..., None]
        weight = where.astype(np.float32)
        local_mean = _blur(difference, BOUNDARY_SMOOTH) / np.maximum(_blur(weight, BOUNDARY_SMOOTH), 1e-6)[..., None]
        own, mean = np.linalg.norm(difference, axis=2), np.linalg.norm(local_mean, axis=2)
        chosen = np.where((own <= mean)[..., None], difference, local_mean) * where[..., None]
        out[inner] = chosen[_within(outer, inner)]
    return out


def _bounds(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def blend_into_picture(image: np.ndarray, fill: np.ndarray, region: np.ndarray, band: np.ndarray,
                       seen=None, trust=None) -> np.ndarray:
    """``fill`` (float32 H×W×3) on ``region`` corrected by the harmonic membrane that makes it meet ``image``
    on the ``band`` of pixels around the region where the fill was made but the picture stays (Poisson
    blending: the fill's gradients are kept). ``seen`` / ``trust`` (optional, H×W×3 / H×W): a background
    already seen inside the region (the soft edge's own) and how much it is trusted: the membrane is drawn
    towards it there too, so that the fill meets it without a seam. Float32."""
    region = np.asarray(region, bool)
    out = fill.astype(np.float32)  # a copy
    if not region.any() or not band.any():
        return out
    count = int(np.count_nonzero(region))
    scale = min(1.0, float(np.sqrt(MAX_SOLVE_PIXELS / count)))
    window = _bounds(region | band)
    inside, ring = region[window], band[window].copy()
    difference = boundary_differences(image[window], out[window], ring)
    ring[ring] = np.linalg.norm(difference[ring], axis=1) <= BOUNDARY_LIMIT
    h, w = inside.shape
    pull = pulled = None
    if trust is not None and (trust[window] > 0).any():
        pull = TRUST_PULL * np.where(inside, trust[window], 0.0).astype(np.float32)
        pulled = np.where(pull[..., None] > 0, seen[window] - out[window], 0.0).astype(np.float32)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # Any coverage makes a cell unknown (a float mask: an 8-bit mean would round small shares away).
        small_inside = cv2.resize(inside.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        weight = cv2.resize(ring.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        summed = cv2.resize(difference * ring[..., None], size, interpolation=cv2.INTER_AREA)
        small_fixed = (weight > 0) & ~small_inside
        small_values = np.where(small_fixed[..., None], summed / np.maximum(weight, 1e-6)[..., None], 0.0)
        if pull is not None:
            # A cell's pull: the mean over its pixels (area-weighted), towards their pull-weighted mean.
            small_pull = cv2.resize(pull, size, interpolation=cv2.INTER_AREA)
            small_pulled = cv2.resize(pulled * pull[..., None], size, interpolation=cv2.INTER_AREA)
            pull, pulled = small_pull / scale ** 2, small_pulled / np.maximum(small_pull, 1e-6)[..., None]
    else:
        small_inside, small_fixed, small_values = inside, ring, np.where(ring[..., None], difference, 0.0)
    if not small_fixed.any() and pull is None:
        return out
    membrane = _membrane(small_values.astype(np.float64), small_inside, small_fixed, pull, pulled).astype(np.float32)
    if scale < 1.0:
        # Cells neither solved nor fixed take their neighbours' values, so that the bilinear upsampling
        # near the region's edge does not pull towards 0.
        known = (small_inside | small_fixed).astype(np.float32)
        spread = cv2.blur(membrane, (3, 3)) / np.maximum(cv2.blur(known, (3, 3)), 1e-6)[..., None]
        membrane = np.where(known[..., None] > 0, membrane, spread)
        membrane = cv2.resize(membrane, (w, h), interpolation=cv2.INTER_LINEAR)
    np.add(out[window], membrane, out=out[window], where=inside[..., None])  # (boolean indexing: 3x slower)
    return out


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def nearest_background(image: np.ndarray, absent: np.ndarray):
    """A function of (row slice, column slice) giving, per pixel there, the colour (float32) of the nearest
    pixel where the object is ``absent``: what the picture shows as background right next to the object
    (the nearest pixel is found once over the whole crop; the colours are looked up per strip)."""
    if not absent.any():
        return lambda where: image[where].astype(np.float32)
    # Only absent pixels on the edge of the absent set can be nearest to a pixel outside it: those are
    # labelled (a few thousand, not the crop's million), the others are their own nearest.
    edge = absent & (cv2.dilate((~absent).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    if not edge.any():
        return lambda where: image[where].astype(np.float32)
    _, labels = cv2.distanceTransformWithLabels((~edge).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(edge)
    lookup = np.zeros((labels.max() + 1, 3), np.float32)
    lookup[labels[ys, xs]] = image[ys, xs]
    return lambda where: np.where(absent[where][..., None], image[where], lookup[labels[where]]).astype(np.float32)


def _gradient_magnitude(x: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    magnitude = gx * gx + gy * gy
    return np.sqrt(magnitude.sum(axis=2) if magnitude.ndim == 3 else magnitude)


def gradient_consistency(image: np.ndarray, alpha: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """1 where the picture changes as much as the alpha says it should (``I = aF + (1 - a)B`` makes
    ``|grad I|`` about ``|F - B| |grad a|``: hair, fur, motion blur), falling to 0 where the two differ by
    more than ``GRADIENT_RATIO`` squared: a ramp of alpha across a flat picture, or a step in the picture
    under a gentle ramp (a hard edge the matting softened). Both smoothed over ``AGREEMENT_SMOOTH`` px."""
    seen = _blur(_gradient_magnitude(image.astype(np.float32)), AGREEMENT_SMOOTH)
    expected = _blur(_gradient_magnitude(alpha.astype(np.float32)) * contrast, AGREEMENT_SMOOTH)
    ratio = np.abs(np.log2((seen + GRADIENT_FLOOR) / (expected + GRADIENT_FLOOR))) / np.log2(GRADIENT_RATIO)
    return np.clip(2.0 - ratio, 0.0, 1.0).astype(np.float32)


def _soft_edge_here(image: np.ndarray, alpha: np.ndarray, foreground: np.ndarray, seen: np.ndarray,
                    shallow: np.ndarray):
    """:func:`soft_edge_weight` on one strip; ``seen``: the nearest background pixel's colour per pixel;
    ``shallow``: 1 up to ``NEAR_ABSENT`` px from a pixel the object leaves uncovered, 0 from twice it."""
    a = alpha[..., None]
    edge = (alpha > 0) & (alpha < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        local = (image - a * foreground) / (1.0 - a)
    local = np.clip(np.nan_to_num(local), 0, 255).astype(np.float32)
    # How far the local background is from the background next to it, smoothed (magnitudes: a ghost's
    # errors on the two sides of an edge have opposite signs and must not cancel).
    where = edge.astype(np.float32)
    blur = lambda x: _blur(x, AGREEMENT_SMOOTH)  # noqa: E731
    around = blur(seen)
    distance = np.linalg.norm(local - around, axis=2) * where
    soft = np.maximum(blur(where), 1e-6)  # the soft edge's share of each neighbourhood
    mismatch = blur(distance) / soft
    agreement = np.clip(2.0 - mismatch / AGREEMENT, 0.0, 1.0)
    # Where the object's colours are close to the background's the alpha is ill-determined (and a wrong
    # alpha puts the object's own shading into the local background): the fill is safer there.
    contrast = np.linalg.norm(foreground - around, axis=2)
    if CONTRAST > 0:
        agreement *= np.clip(contrast / CONTRAST - 1.0, 0.0, 1.0)
    agreement *= gradient_consistency(image, alpha, contrast)
    # A plateau of fractional alpha (PLATEAU_SPREAD) takes the local background whatever it agrees with.
    # A local background more detailed than the picture is the object's texture amplified (DETAIL_RATIO).
    def detail(x: np.ndarray) -> np.ndarray:  # local mean absolute deviation within the soft edge
        deviation = np.abs(x - blur(x * where[..., None]) / soft[..., None]).sum(axis=2)
        return blur(deviation * where) / soft
    agreement *= np.clip(2.0 - detail(local) / (DETAIL_RATIO * (detail(image) + DETAIL_FLOOR)), 0.0, 1.0)
    mean = blur(alpha * where) / soft
    spread = np.sqrt(np.maximum(blur(alpha * alpha * where) / soft - mean * mean, 0.0))
    plateau = np.clip(2.0 - spread / PLATEAU_SPREAD, 0.0, 1.0)
    # Deep inside the object, fractional alpha is the matting's doubt about an opaque part, not a background
    # seen through (NEAR_ABSENT); a plateau is not doubt (a grey selection's own level), so it still counts.
    agreement = np.maximum(agreement, plateau) * np.where(plateau >= 1.0, 1.0, shallow)
    handover = 1.0 - _smoothstep((alpha - HANDOVER) / (1.0 - HANDOVER))
    return local, np.where(edge, agreement * handover, 0.0).astype(np.float32)


def _near(pixels: np.ndarray) -> np.ndarray:
    """1 up to ``NEAR_ABSENT`` px from the ``pixels`` (bool H×W), 0 from twice it (float32 H×W)."""
    distance = cv2.distanceTransform((~pixels).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(2.0 - distance / NEAR_ABSENT, 0.0, 1.0)


def near_absent(alpha: np.ndarray) -> np.ndarray:
    """How near each pixel is to one the object leaves uncovered (alpha 0): :func:`_near`."""
    return _near(alpha <= 0)


def soft_edge_weight(image: np.ndarray, alpha: np.ndarray, foreground: np.ndarray):
    """``(local background, weight)`` in the soft edge (0 < alpha < 1): ``(I - aF) / (1 - a)`` and how much
    the plate takes it over the fill: by its agreement with the picture's background next to the object
    (``nearest_background``), handed over to the fill as alpha grows past ``HANDOVER``. Both float32; the
    weight is 0 off the soft edge (and the local background is not computed there)."""
    edge = (alpha > 0) & (alpha < 1)
    local = np.zeros(image.shape, np.float32)
    weight = np.zeros(alpha.shape, np.float32)
    seen = nearest_background(image, alpha <= 0)
    shallow = near_absent(alpha)
    # Reach of the filters: two blurs in a row (the background next to the object, then its mismatch).
    margin = 2 * int(np.ceil(3.0 * AGREEMENT_SMOOTH)) + 2
    for outer, inner in strips(edge, margin):
        here = _within(outer, inner)
        strip_local, strip_weight = _soft_edge_here(image[outer], alpha[outer], foreground[outer], seen(outer),
                                                    shallow[outer])
        local[inner], weight[inner] = strip_local[here], strip_weight[here]
    return local, weight


def near_the_outside(alpha8: np.ndarray) -> np.ndarray:
    """How near (1 up to ``NEAR_ABSENT`` px, 0 from twice it) each pixel is to the picture outside the object:
    the uncovered pixels connected to the crop's border (float32 H×W). A gap enclosed by the object (a brooch
    cut out of a hat, a sliver the matting opened inside a cup) shows the object's own colours more often
    than a background, and the membrane would carry them over the whole fill as a glow."""
    absent = (alpha8 == 0).astype(np.uint8)
    _, labels = cv2.connectedComponents(absent, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, border[border > 0])
    if not outside.any():
        return np.zeros(alpha8.shape, np.float32)
    return _near(outside)


def plate_under_object(image: np.ndarray, fill: np.ndarray, alpha8: np.ndarray, foreground, hole: np.ndarray):
    """The plate (float32, unrounded) of an RGB crop: ``image`` where the object is absent (alpha8 == 0),
    under it the ``fill`` blended into the picture and, in the soft edge, the local background behind the
    object's colours ``foreground`` (float32, or None) where it is plausible."""
    image = image.astype(np.float32, copy=False)  # (layering passes float32 already; the plate is a copy)
    under = alpha8 > 0
    # The band between the object and the fill region's edge: made by the fill, kept from the picture.
    band = object_fill_hole(alpha8 / 255.0, hole) & ~under
    plate = image.copy()
    local = weight = None
    if foreground is not None:
        local, weight = soft_edge_weight(image, alpha8.astype(np.float32) / 255.0, foreground.astype(np.float32))
    # The fill meets the soft edge's background only where that is more likely than not the real one (a
    # faint trust, a hard edge's ramp barely passing the tests, would shift a fill with no other boundary)
    # and near the picture outside the object (not a gap the object encloses: the README example's cup).
    trust = None if weight is None else np.clip(2.0 * weight - 1.0, 0.0, 1.0) * near_the_outside(alpha8)
    np.copyto(plate, blend_into_picture(image, fill, under, band, local, trust), where=under[..., None])
    if foreground is not None:
        ys, xs = np.nonzero(weight > 0)  # a thin ring: indices, not a mask over the crop per channel
        w = weight[ys, xs][:, None]
        plate[ys, xs] = w * local[ys, xs] + (1.0 - w) * plate[ys, xs]
    return plate
