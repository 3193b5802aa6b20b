"""Alpha matting along the selection's edge, and the object's colours in its soft edge.

``matte(image, mask, hole)`` is the entry point every backend can reuse (the classical backend, the
diffusion backend's zero-shot mode). The selection is a hint, not the truth: hand-made selections stop a
few pixels inside the object, or run a lasso's width outside it.

1. **Trimap** from the selection: the widest band of unknown pixels, reaching ``band_radius`` px (at
   least ``MIN_RADIUS``) to *both* sides of its edge (plus every grey pixel of a soft selection), so the
   object's real edge is inside it whether the selection is too tight or too loose; inside it the object
   (alpha 1), outside it and everywhere outside the hole the background (alpha 0). Thin selected pieces
   keep a core.
2. **Where the edge is**: colour models from the confident regions next to the band (the nearest object
   colours of the core, the nearest background colours of a ring just outside the band) say, per band
   pixel, where on the line between them its colour lies. The band then **adapts**: it keeps
   ``NEAR_REACH`` px on both sides of the selection's edge (selections are rarely off by more), and reaches
   further only where the models disagree with the selection, connected to that near band: a loose lasso's
   ring of background, the object's edge beyond a tight selection. Everywhere else the selection stands, so
   a textured object's colours that resemble the background cannot punch holes into it.
   The models' estimate pulls the solve in proportion to how well the two models are told apart and how
   well the pixel fits between them; where they do not explain a pixel the picture's own structure (next
   step) decides.
3. **Alpha** by closed-form matting (Levin, Lischinski & Weiss 2008) restricted to the band: the matting
   Laplacian is built only for the 3×3 windows that touch the band and solved with the known pixels as
   boundary conditions and the pull of step 2 (and, much weaker, of the selection's own grey levels, so a
   feathered selection stays feathered where the picture shows no edge). When the band has more than
   ``max_band_pixels`` pixels the solve runs on a shrunk copy and the result is brought back by guided
   upsampling (the fast guided filter of He & Sun 2015), so the cost stays bounded on any canvas.
   The solve runs twice: the second time the colour models sample the first solve's confident pixels,
   which lie next to each band pixel (the first models reach across the band to the core and the ring),
   and pull hard where a pixel has their own colour (``SURE_WEIGHT``): the Laplacian alone lets a
   background texture whose colours vary towards the object's take some alpha (a halo).
   ``method="guided"`` is the fast path: a colour guided filter of the selection, no solve.
4. **Colours**: in the soft edge a pixel mixes the object's colour F and the background's B. Both are
   estimated jointly per pixel: priors F0 (the nearest clearly-object colours of the *input*) and B0 (the
   nearest clearly-background colours of the *input*), then the least-squares F, B that satisfy
   ``I = aF + (1 - a)B`` and stay close to the priors (B more so: texture the priors cannot explain is
   the object's, and the clean plate stays clean). So the edge keeps the object's colours instead of
   the background's (F = I) or the fill's (F solved against a generated B).

Before all this, ``segmentation.segment`` finds the object inside the whole selection (a graph cut on
colour models), and the steps above work on the band around the object it found. Measured on real photos
with ground-truth alpha (``layerdecomp eval --photos``; the history is in docs/evaluation.md, "Alpha").
Everything is numpy/scipy/OpenCV: no just-in-time compilation, so the first call is as fast as later
ones (pymatting's numba kernels would take ~26 s to compile on a user's first click).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import reverse_cuthill_mckee
from scipy.sparse.linalg import splu

from . import segmentation
from .crop import DEFAULT_GROW

# Unknown band pixels above this are solved on a shrunk copy (a 25k-unknown solve takes ~0.15 s; the guided
# upsampling loses nothing measurable: docs/evaluation.md, Alpha).
MAX_BAND_PIXELS = 25_000
# Levin et al.'s regulariser (colours in [0, 1]).
EPSILON = 1e-7
# Pull of the selection's grey levels on the band's alpha: only a tie-breaker where the picture shows no
# edge (a stronger pull drags the alpha back to the user's rough outline).
PRIOR_WEIGHT = 1e-4
# The same pull, where the colour models cannot tell object from background, when the segmentation
# (segmentation.py) has moved the selection onto the object: its line is worth more than a hand-drawn one
# (keeps thin leaves the Laplacian alone would shed; a clear soft edge stays soft).
SEGMENTED_PRIOR_WEIGHT = 1e-1
# Where the segmentation's edge follows a strong edge of the picture the band is this narrow (px, both sides).
HARD_REACH = 3


# The band reaches at least this far to both sides of the selection's edge: hand-made selections are off
# by that much (a lasso drawn around an object, a selection that stops short of hair). The hole grows by
# as much by default, so wherever the band finds the object's edge the hole covers it.
MIN_RADIUS = DEFAULT_GROW
# Pull of the colour models' alpha on the solve, at full confidence (tuned on real photos: evaluation.md).
COLOUR_MODEL_WEIGHT = 3e-3
# In the second solve, an extra pull where the local models are sure (ColourModel.sure): the matting
# Laplacian alone lets a textured background take some alpha next to a bright object (a wood grain whose
# light streaks lie on the colour line towards a white cup), which the plate shows as a dark halo.
SURE_WEIGHT = 0.3
SURE_POWER = 32
# Pull of a feathered selection's grey levels where the colour models see no edge.
FEATHER_WEIGHT = 10.0
# The band's reach inside the selection, relative to outside (1.5 sheds a loose lasso's ring, 1.0 keeps
# the ring's gaps as known object).
INSIDE_REACH = 1.5
# Sample ring of the background model: this many px outside the band.
BACKGROUND_RING = 8
# The adaptive band: always unknown this many px outside the selection's edge (INSIDE_REACH times that
# inside); beyond, only where the colour models disagree with the selection (object colours outside it with
# at least this estimate, background colours inside it with at most 1 minus it) with at least
# DISAGREE_CONFIDENCE, connected to the near band, grown by DISAGREE_GROW px (measured: evaluation.md).
NEAR_REACH = 6
DISAGREE_ESTIMATE = 0.3
DISAGREE_CONFIDENCE = 0.3
DISAGREE_GROW = 2
# The second solve's colour samples: the first solve's pixels at least (at most) this sure of object
# (background), within BACKGROUND_RING px of the band.
SURE = 0.97
# The solve's near-0 and near-1 values are noise of the band's textures: snapped to 0 / 1.
SNAP = 0.04


def band_radius(mask: np.ndarray) -> int:
    """Half-width of the unknown band: 2% of the selection's size plus a few pixels, 12 to 32."""
    side = float(np.sqrt(max(1, np.count_nonzero(mask))))
    return int(np.clip(round(4 + 0.02 * side), MIN_RADIUS, 32))


def trimap(mask: np.ndarray, hole: np.ndarray, radius: int,
           inside_radius: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """``(known_alpha float32, unknown bool)``: 1 inside the selection, 0 outside, unknown within
    ``radius`` px of its edge outside (``inside_radius``, default ``radius``, inside) and wherever the
    selection is grey; never unknown outside the hole.

    A thin selected piece (a stroke, a wire, a few pixels) with no pixel deeper than ``radius`` keeps
    its middle as known object: with no known object pixel the solve would have nothing to say the
    object is there at all. (Thin parts attached to a larger piece, such as a rough outline's spikes,
    stay unknown.)"""
    inside = (mask >= 128).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)  # distance to the selection's edge, inside
    core = depth > (radius if inside_radius is None else inside_radius)
    count, labels = cv2.connectedComponents(inside, connectivity=8)
    has_core = np.bincount(labels[core], minlength=count) > 0
    thin = ~has_core[labels] & (inside > 0)
    if thin.any():  # the middle of each thin piece: at least half as deep as its deepest pixel
        deepest = np.zeros(count, np.float32)
        np.maximum.at(deepest, labels[thin], depth[thin])
        core |= thin & (depth >= 0.5 * deepest[labels])
    core &= mask == 255
    outer = (cv2.dilate(inside, kernel) > 0) & (inside == 0)
    unknown = (outer | ((inside > 0) & ~core) | ((mask > 0) & (mask < 255))) & hole
    return inside.astype(np.float32), unknown


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def _guided_model(guide: np.ndarray, r: int, eps: float, where: Optional[np.ndarray] = None):
    """:func:`_guided_coefficients` as a function of ``src`` alone: the guide's own statistics (its box
    means, its regularised colour covariances) are computed once, for any number of sources."""
    mean_i = _box(guide, r)
    sel = np.ones(guide.shape[:2], bool) if where is None else where
    var = None
    if sel.any():
        # The covariance is symmetric: its 6 distinct products are box-filtered, not all 9.
        i, j = np.triu_indices(3)
        products = _box(np.ascontiguousarray(guide[..., i] * guide[..., j]), r)[sel]
        var = products[:, [0, 1, 2, 1, 3, 4, 2, 4, 5]].reshape(-1, 3, 3)
        mi = mean_i[sel]
        var = var - mi[:, :, None] * mi[:, None, :] + eps * np.eye(3, dtype=np.float32)

    def coefficients(src: np.ndarray):
        mean_p = _box(src, r)
        a = np.zeros_like(guide)
        if var is not None:
            cov_ip = (_box(guide * src[..., None], r) - mean_i * mean_p[..., None])[sel]
            a[sel] = np.linalg.solve(var, cov_ip[..., None])[..., 0]
        b = mean_p - (a * mean_i).sum(-1)
        return _box(a, r), _box(b, r)

    return coefficients


def _guided_coefficients(guide: np.ndarray, src: np.ndarray, r: int, eps: float,
                         where: Optional[np.ndarray] = None):
    """Per-pixel linear model ``src ≈ A·guide + b`` of He et al.'s colour guided filter (box-averaged).

    With ``where``, the 3×3 solves run only there (elsewhere A = 0, b = the mean of ``src``)."""
    return _guided_model(guide, r, eps, where)(src)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float = 1e-3) -> np.ndarray:
    """He et al.'s colour guided filter. ``guide``: H×W×3 float32 in [0, 1]; ``src``: H×W float32."""
    a, b = _guided_coefficients(guide.astype(np.float32), src.astype(np.float32), radius, eps)
    return (a * guide).sum(-1) + b


def guided_upsample(guide_small: np.ndarray, src_small: np.ndarray, guide: np.ndarray, radius: int,
                    eps: float = 1e-4, where_small: Optional[np.ndarray] = None) -> np.ndarray:
    """Fast guided upsampling: fit the linear model at low resolution (only ``where_small``, if given),
    apply it at full resolution."""
    a, b = _guided_coefficients(guide_small, src_small, radius, eps, where_small)
    size = (guide.shape[1], guide.shape[0])
    a = cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(b, size, interpolation=cv2.INTER_LINEAR)
    return (a * guide).sum(-1) + b


def band_laplacian(image01: np.ndarray, known: np.ndarray, unknown: np.ndarray,
                   eps: float = EPSILON) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The matting Laplacian's rows and columns of the ``unknown`` pixels (n×n, row-major order) and the
    right-hand side that the known alpha outside the band contributes (n).

    Only the windows that touch the band enter, so the cost follows the band, not the image."""
    h, w = unknown.shape
    n = int(np.count_nonzero(unknown))
    centres = cv2.dilate(unknown.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    centres[[0, -1], :] = False
    centres[:, [0, -1]] = False
    cy, cx = np.nonzero(centres)
    dy, dx = np.divmod(np.arange(9), 3)
    idx = (cy[:, None] + dy - 1) * w + (cx[:, None] + dx - 1)  # K×9 pixel indices per window
    colours = image01.reshape(-1, 3)[idx].astype(np.float64)
    centred = colours - colours.mean(axis=1, keepdims=True)
    cov = np.einsum("kni,knj->kij", centred, centred) / 9.0 + (eps / 9.0) * np.eye(3)
    projected = centred @ np.linalg.inv(cov)
    weights = (1.0 + projected @ centred.transpose(0, 2, 1)) / 9.0  # K×9×9
    entries = np.eye(9, dtype=np.float32)[None] - weights.astype(np.float32)

    order = np.full(h * w, -1, np.int64)
    order[np.flatnonzero(unknown)] = np.arange(n)
    # Only the rows of unknown pixels are needed: (window, pixel) pairs whose pixel is unknown.
    win, pos = np.nonzero(order[idx] >= 0)
    rows = np.repeat(order[idx[win, pos]], 9)
    cols = idx[win].ravel()
    values = entries[win, pos].ravel()
    del entries, weights, projected
    col_order = order[cols]
    inner = col_order >= 0
    lap = sparse.csr_matrix((values[inner], (rows[inner], col_order[inner])), shape=(n, n))
    rhs = -np.bincount(rows[~inner], weights=values[~inner] * known.ravel()[cols[~inner]], minlength=n)
    return lap, rhs


def solve_laplacian(lap: sparse.csr_matrix, rhs: np.ndarray, prior: Optional[np.ndarray] = None,
                    weight: Optional[np.ndarray] = None) -> np.ndarray:
    """``(L + diag(weight)) x = rhs + weight * prior`` (all per unknown pixel), clipped to [0, 1]."""
    if prior is not None and weight is not None and np.any(weight > 0):
        lap = lap + sparse.diags(weight, format="csr")
        rhs = rhs + weight * prior
    # The band is a long thin strip: reverse Cuthill-McKee numbers it along the strip, so the LU factors
    # stay narrow (~0.3 s for 40k unknowns, 3-8x faster than the default orderings).
    perm = reverse_cuthill_mckee(lap, symmetric_mode=True)
    factor = splu(lap[perm][:, perm].tocsc(), permc_spec="NATURAL", options={"SymmetricMode": True})
    solution = np.empty(len(rhs))
    solution[perm] = factor.solve(rhs[perm])
    return np.clip(solution, 0.0, 1.0)


def shrunk_size(unknown: np.ndarray, max_band_pixels: int) -> Optional[tuple[int, int]]:
    """``(w, h)`` of the shrunk copy a band with more than ``max_band_pixels`` pixels is solved on, or
    None where it is solved at full size."""
    scale = min(1.0, float(np.sqrt(max_band_pixels / max(int(np.count_nonzero(unknown)), 1))))
    if scale > 0.95:
        return None
    h, w = unknown.shape
    return max(3, round(w * scale)), max(3, round(h * scale))


class BandSolver:
    """Closed-form matting on one band, solved for as many pulls as asked (the Laplacian is built once).

    When the band has more than ``max_band_pixels`` pixels everything runs on a shrunk copy and the
    result comes back by guided upsampling, so the cost stays bounded on any canvas."""

    def __init__(self, image01: np.ndarray, known: np.ndarray, unknown: np.ndarray,
                 max_band_pixels: int = MAX_BAND_PIXELS, eps: float = EPSILON):
        self.image01, self.known, self.unknown = image01, known.astype(np.float32), unknown
        self.size = shrunk_size(unknown, max_band_pixels)
        if self.size is None:
            self.small_image, self.small_known, self.small_unknown = image01, self.known, unknown
        else:
            self.small_image = self.shrink(image01)
            self.small_unknown = self.shrink(unknown.astype(np.float32)) > 0
            self.small_known = (self.shrink(self.known) >= 0.5).astype(np.float32)
            self.near_band = cv2.dilate(self.small_unknown.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            self.guided = None  # guided upsampling's model of the shrunk picture (made on the first solve)
        self.lap, self.rhs = (None, None)
        if self.small_unknown.any():
            self.lap, self.rhs = band_laplacian(self.small_image, self.small_known, self.small_unknown, eps)

    def shrink(self, x: np.ndarray) -> np.ndarray:
        return cv2.resize(x, self.size, interpolation=cv2.INTER_AREA)

    def solve(self, prior: Optional[np.ndarray] = None, weight=None) -> np.ndarray:
        """Alpha (float32 H×W, the known alpha outside the band), pulled to ``prior`` (H×W) by ``weight``
        (a scalar or H×W)."""
        if self.lap is None:
            return self.known.copy()
        if prior is not None and weight is not None:
            weight = np.broadcast_to(np.asarray(weight, np.float32), self.unknown.shape)
            if self.size is not None:
                prior, weight = self.shrink(prior.astype(np.float32)), self.shrink(np.ascontiguousarray(weight))
            inside = self.small_unknown
            prior, weight = prior[inside].astype(np.float64), weight[inside].astype(np.float64)
        alpha = self.small_known.copy()
        alpha[self.small_unknown] = solve_laplacian(self.lap, self.rhs, prior, weight)
        if self.size is None:
            return alpha
        # guided_upsample, with the picture's statistics kept for the next solve, applied at the band only.
        if self.guided is None:
            self.guided = _guided_model(self.small_image, 2, 1e-4, self.near_band)
        size = (self.unknown.shape[1], self.unknown.shape[0])
        a, b = (cv2.resize(x, size, interpolation=cv2.INTER_LINEAR) for x in self.guided(alpha))
        out = self.known.copy()
        out[self.unknown] = (a[self.unknown] * self.image01[self.unknown]).sum(-1) + b[self.unknown]
        return out


# Pull of the colour priors in the joint F/B estimate (the compositing equation has weight 1). The
# background's is stronger: what the priors cannot explain (texture) is the object's, not the plate's.
COLOUR_PRIOR = 0.02
BACKGROUND_PRIOR = 0.1


def _propagate(values: np.ndarray, weights: np.ndarray, where: np.ndarray, radii=(2, 4, 8, 16, 32, 64)) -> np.ndarray:
    """The weighted average (N×3 float32, in ``np.nonzero(where)`` order) of ``values`` (H×W×3) around each
    ``where`` pixel: normalised box convolution (reflected at the borders), widening the window until some
    weight is in reach (the global average where none is).

    The box sums come from one summed-area table and are read at the ``where`` pixels only: the band is a
    small share of the picture, and a box filter of the whole picture per radius cost ~0.1 s on 2048².
    uint8 ``values`` with bool ``weights`` (the picture itself, sampled) are summed as integers: exact, and
    a quarter of the memory traffic of a float64 table."""
    ys, xs = np.nonzero(where)
    out = np.empty((len(ys), 3), np.float32)
    if not len(ys):
        return out
    pad = max(radii)
    h, w = weights.shape
    integer = values.dtype == np.uint8 and weights.dtype == bool
    weighted = np.empty((h, w, 4), np.uint8 if integer else np.float32)
    weighted[..., 0] = weights
    np.multiply(values, weights[..., None], out=weighted[..., 1:])
    # int32 sums hold up to 8 MP of 255s; beyond, float64 (exact to 2⁵³).
    depth = cv2.CV_32S if integer and (h + 2 * pad + 1) * (w + 2 * pad + 1) * 255 < 2**31 else cv2.CV_64F
    sums = cv2.integral(cv2.copyMakeBorder(weighted, pad, pad, pad, pad, cv2.BORDER_REFLECT), sdepth=depth)
    todo = np.arange(len(ys))
    for r in radii:
        if not len(todo):
            break
        y, x = ys[todo] + pad, xs[todo] + pad
        box = (sums[y + r + 1, x + r + 1].astype(np.float64) - sums[y - r, x + r + 1]
               - sums[y + r + 1, x - r] + sums[y - r, x - r])
        reach = box[:, 0] > 1e-3 * (2 * r + 1) ** 2  # a mean weight above 1e-3 in the window
        out[todo[reach]] = box[reach, 1:] / box[reach, :1]
        todo = todo[~reach]
    if len(todo):  # nothing within reach: the global average
        total = max(float(weights.sum()), 1e-6)
        out[todo] = weighted[..., 1:].reshape(-1, 3).sum(0, dtype=np.float64 if integer else np.float32) / total
    return out


def estimate_colours(image: np.ndarray, alpha: np.ndarray, region: Optional[np.ndarray] = None,
                     prior_weight: Optional[float] = None,
                     background_weight: Optional[float] = None) -> tuple[np.ndarray, np.ndarray]:
    """Joint per-pixel estimate of the object's colour F and the local background B (float32, 0–255)
    where ``0 < alpha < 1`` (and inside ``region``); F = B = I elsewhere.

    Minimises ``|aF + (1 - a)B - I|² + λ(|F - F0|² + |B - B0|²)`` with F0/B0 the nearest clearly-object /
    clearly-background colours of the input: where alpha is small the residual goes into B and F stays
    the object's; where alpha is large F follows the picture.
    """
    img = image.astype(np.float32)
    soft = (alpha > 0.0) & (alpha < 1.0)
    if region is not None:
        soft &= region
    fg, bg = img.copy(), img.copy()
    if not soft.any():
        return fg, bg
    # Work on the soft pixels' bounding box (plus the reach of the propagation) only.
    ys, xs = np.nonzero(soft)
    pad = 66
    y0, y1 = max(0, ys.min() - pad), min(img.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(img.shape[1], xs.max() + pad + 1)
    sub_img, a, s = img[y0:y1, x0:x1], alpha[y0:y1, x0:x1], soft[y0:y1, x0:x1]
    # (A uint8 picture is summed as integers: _propagate.)
    sampled = image[y0:y1, x0:x1] if image.dtype == np.uint8 else sub_img
    f0 = _propagate(sampled, a > 0.97, s)
    b0 = _propagate(sampled, a < 0.03, s)
    i = sub_img[s]
    av = a[s][:, None]
    lam_f = COLOUR_PRIOR if prior_weight is None else prior_weight
    lam_b = BACKGROUND_PRIOR if background_weight is None else background_weight
    # 2×2 normal equations per pixel and channel (same matrix for all channels).
    m11, m12, m22 = av * av + lam_f, av * (1 - av), (1 - av) * (1 - av) + lam_b
    r1, r2 = av * i + lam_f * f0, (1 - av) * i + lam_b * b0
    det = m11 * m22 - m12 * m12
    f = (m22 * r1 - m12 * r2) / det
    b = (m11 * r2 - m12 * r1) / det
    fg[y0:y1, x0:x1][s] = np.clip(f, 0, 255)
    bg[y0:y1, x0:x1][s] = np.clip(b, 0, 255)
    return fg, bg


class ColourModel(NamedTuple):
    """Per band pixel (float32 H×W; 0 outside the band), what the local colour models say."""

    alpha: np.ndarray  # how much nearer the pixel's colour is to B0 than to F0
    confidence: np.ndarray  # how well the models tell object from background there, and explain the pixel
    sure: np.ndarray  # how near the pixel lies to F0 or B0 themselves (not between them), to SURE_POWER


def colour_model_alpha(image01: np.ndarray, object_samples: np.ndarray, background_samples: np.ndarray,
                       unknown: np.ndarray, picture: Optional[np.ndarray] = None) -> ColourModel:
    """The band's :class:`ColourModel` from local colour models.

    F0: the nearest ``object_samples`` colours; B0: the nearest ``background_samples`` colours (bool masks).
    Alpha: how much nearer the pixel's colour is to B0 than to F0. Confidence: high where F0 and B0 differ
    clearly and the pixel lies near the line between them, low where the models cannot tell (similar
    colours) or do not explain it (a third colour: texture). Sure: near 1 only where the pixel's
    projection on the line from B0 to F0 is at one end (a soft edge's even ramp is not sure anywhere but
    at its very ends). ``picture``: the uint8 picture ``image01`` was made from (``image01 * 255``), if at
    hand: the nearest colours are then summed as integers (:func:`_propagate`)."""
    # Per band pixel only (N×3): the models say nothing off the band.
    if picture is not None:
        f0 = _propagate(picture, object_samples.astype(bool), unknown) / np.float32(255.0)
        b0 = _propagate(picture, background_samples.astype(bool), unknown) / np.float32(255.0)
    else:
        f0 = _propagate(image01, object_samples.astype(np.float32), unknown)
        b0 = _propagate(image01, background_samples.astype(np.float32), unknown)
    pixels = image01[unknown]
    span = f0 - b0
    span2 = (span * span).sum(-1)
    along = np.clip(((pixels - b0) * span).sum(-1) / np.maximum(span2, 1e-4), 0.0, 1.0)
    residual = pixels - (b0 + along[..., None] * span)  # what a mix of F0 and B0 cannot explain
    # The pull itself: how much nearer the pixel is to B0 than to F0 (squared distances). Unlike the
    # projection it leans to 0 or 1 (most band pixels are one or the other) and reads a colour darker or
    # paler than both models as the nearer one, not as a mix (a shadowed gap between petals is background).
    to_background = ((pixels - b0) ** 2).sum(-1)
    to_object = ((pixels - f0) ** 2).sum(-1)
    alpha = to_background / np.maximum(to_background + to_object, 1e-6)
    confidence = span2 / (span2 + 4.0 * (residual * residual).sum(-1) + 1e-3) * np.minimum(span2 / 0.05, 1.0)
    sure = (np.abs(2.0 * alpha - 1.0) * np.sqrt(np.abs(2.0 * along - 1.0))) ** SURE_POWER

    def scatter(x: np.ndarray) -> np.ndarray:
        out = np.zeros(unknown.shape, np.float32)
        out[unknown] = x
        return out

    return ColourModel(*(scatter(x) for x in (alpha, confidence, sure)))


def _near(region: np.ndarray, reach: int) -> np.ndarray:
    return cv2.dilate(region.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0


def trimap_samples(known: np.ndarray, unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first colour models' samples: the known object, and a ring of known background next to the band."""
    return (known > 0.5) & ~unknown, (known < 0.5) & ~unknown & _near(unknown, BACKGROUND_RING)


def _colour_model_at_solve_scale(image01: np.ndarray, object_samples: np.ndarray, background_samples: np.ndarray,
                                 unknown: np.ndarray, max_band_pixels: int,
                                 picture: Optional[np.ndarray] = None) -> ColourModel:
    """:func:`colour_model_alpha`, on the shrunk copy :class:`BandSolver` solves on (when it shrinks),
    brought back to full size: the solve sees it at that scale anyway."""
    size = shrunk_size(unknown, max_band_pixels)
    if size is None:
        return colour_model_alpha(image01, object_samples, background_samples, unknown, picture)
    h, w = unknown.shape
    shrink = lambda x: cv2.resize(x, size, interpolation=cv2.INTER_AREA)  # noqa: E731
    small = lambda x: shrink(x.astype(np.float32)) > 0.5  # noqa: E731
    model = colour_model_alpha(shrink(image01), small(object_samples), small(background_samples),
                               shrink(unknown.astype(np.float32)) > 0)
    def grow(x: np.ndarray) -> np.ndarray:
        return np.where(unknown, cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR), 0.0).astype(np.float32)

    return ColourModel(*(grow(x) for x in model))


def adaptive_band(mask: np.ndarray, unknown: np.ndarray, model: ColourModel,
                  hard: Optional[np.ndarray] = None) -> np.ndarray:
    """The part of the widest band ``unknown`` that the solve works on: ``NEAR_REACH`` px (outside;
    ``INSIDE_REACH`` times that inside; ``HARD_REACH`` where ``hard``) of the selection's edge and its grey
    pixels, plus the band pixels where the colour models disagree with the selection, connected to them."""
    inside = mask >= 128
    selected = inside.astype(np.uint8)
    distance = np.where(inside, cv2.distanceTransform(selected, cv2.DIST_L2, 3),
                        cv2.distanceTransform(1 - selected, cv2.DIST_L2, 3))
    reach = np.where(inside, INSIDE_REACH * NEAR_REACH, NEAR_REACH)
    if hard is not None:
        reach = np.where(hard, HARD_REACH, reach)
    near = unknown & ((distance <= reach) | ((mask > 0) & (mask < 255)))
    disagree = unknown & (model.confidence > DISAGREE_CONFIDENCE) & np.where(
        inside, model.alpha < 1.0 - DISAGREE_ESTIMATE, model.alpha > DISAGREE_ESTIMATE)
    count, labels = cv2.connectedComponents((near | disagree).astype(np.uint8), connectivity=8)
    reached = np.zeros(count, bool)
    reached[labels[near]] = True
    further = reached[labels] & disagree
    if DISAGREE_GROW:
        further = _near(further, DISAGREE_GROW)
    return unknown & (near | further)


def _solve_with_models(solver: BandSolver, mask: np.ndarray, model: ColourModel,
                       sure_weight: float = 0.0, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """The band's alpha, pulled to the colour models' estimate by their confidence, plus ``sure_weight``
    where they are sure (and, where the selection is feathered and the models see no edge, to its grey
    levels)."""
    model_alpha, confidence = model.alpha, model.confidence
    model_weight = (COLOUR_MODEL_WEIGHT + sure_weight * model.sure) * confidence
    prior = mask.astype(np.float32) / 255.0
    line_weight = PRIOR_WEIGHT + (prior_weight - PRIOR_WEIGHT) * (1.0 - confidence)  # where the models can't tell
    selection_weight = np.where((mask > 0) & (mask < 255), FEATHER_WEIGHT * (1.0 - confidence), line_weight)
    weight = (selection_weight + model_weight).astype(np.float32)
    pull = ((selection_weight * prior + model_weight * model_alpha) / weight).astype(np.float32)
    return np.clip(solver.solve(pull, weight), 0.0, 1.0)


def matte(image: np.ndarray, mask: np.ndarray, hole: np.ndarray, *, method: str = "closed_form",
          radius: Optional[int] = None, max_band_pixels: int = MAX_BAND_PIXELS, return_background: bool = False,
          segment: bool = False, on_alpha: Optional[Callable[[np.ndarray], None]] = None):
    """Alpha and colours of the selected object.

    ``image``: H×W×3 uint8; ``mask``: H×W uint8 selection (grey = partly selected); ``hole``: H×W bool,
    where the object may be (alpha is 0 outside it). ``method``: ``"closed_form"`` (default) or
    ``"guided"`` (fast path). ``segment``: find the object inside the whole selection first
    (:mod:`.segmentation`; closed-form only). Returns ``(alpha float32 [0, 1], foreground float32 RGB 0–255)``, plus the
    local background estimate (float32 RGB) with ``return_background=True``. ``on_alpha(alpha)``, if given,
    is called with the alpha as returned before the colours are estimated (a caller can start work that
    needs only the alpha, such as the classical backend's fill, while they are).
    """
    if method not in ("closed_form", "guided"):
        raise ValueError(f"unknown matting method {method!r}; use 'closed_form' or 'guided'")
    hole = np.asarray(hole, bool)
    # A selection that is nowhere complete (a 50% selection of the whole object) takes that share of
    # the object: matte the object against the selection's own peak, then scale.
    peak = int(mask.max())
    strength = peak / 255.0 if 0 < peak < 255 else 1.0
    if strength < 1.0:
        mask = np.clip(np.rint(mask.astype(np.float32) * (255.0 / peak)), 0, 255).astype(np.uint8)
    doubt = hard = None
    prior_weight = PRIOR_WEIGHT
    if method == "closed_form" and segment:
        # The object inside the whole selection first; the band then follows the object found. Where the
        # cut was unsure the selection stands but the band solve decides (``doubt`` joins the band).
        found, doubt, hard = segmentation.segment(image, mask, hole)
        mask = np.where(found == (mask >= 128), mask, found.astype(np.uint8) * 255).astype(np.uint8)
        prior_weight = SEGMENTED_PRIOR_WEIGHT
    radius = band_radius(mask) if radius is None else int(radius)
    # Inside, the band reaches further: a lasso's outline bridges the gaps of a ragged outline (between
    # petals, between fingers), and those gaps must be unknown to be shed.
    known, unknown = trimap(mask, hole, radius, inside_radius=round(INSIDE_REACH * radius))
    image01 = image.astype(np.float32) / 255.0

    if method == "guided":
        alpha = guided_filter(image01, mask.astype(np.float32) / 255.0, radius=max(2, radius // 2), eps=1e-3)
        alpha = np.where(unknown, alpha, known)
    else:
        if doubt is not None:
            unknown |= doubt
        widest = unknown
        picture = image if image.dtype == np.uint8 else None  # (image01's integers: faster colour sums)
        model = _colour_model_at_solve_scale(image01, *trimap_samples(known, widest), widest, max_band_pixels,
                                             picture)
        unknown = adaptive_band(mask, widest, model, hard)
        if doubt is not None:
            unknown |= doubt
        solver = BandSolver(image01, known, unknown, max_band_pixels)
        alpha = _solve_with_models(solver, mask, model, prior_weight=prior_weight)
        # Again, with colour models sampled next to each band pixel: the first solve's sure pixels.
        near_band = _near(unknown, BACKGROUND_RING)
        model = _colour_model_at_solve_scale(
            image01, (alpha > SURE) & near_band, (alpha < 1.0 - SURE) & near_band, unknown, max_band_pixels, picture)
        alpha = _solve_with_models(solver, mask, model, SURE_WEIGHT, prior_weight)
        alpha = np.where(unknown & (alpha < SNAP), 0.0, np.where(unknown & (alpha > 1.0 - SNAP), 1.0, alpha))
    alpha = np.where(hole, np.clip(alpha, 0.0, 1.0), 0.0).astype(np.float32)
    # Colours are the object's (estimated at full strength); only the share taken shrinks.
    taken = alpha * np.float32(strength) if strength < 1.0 else alpha
    if on_alpha is not None:
        on_alpha(taken)
    foreground, background = estimate_colours(image, alpha, unknown)
    alpha = taken
    if return_background:
        return alpha, foreground, background
    return alpha, foreground


def warm_up() -> float:
    """Load everything the classical backend's first call would (scipy's sparse solver, the PatchMatch
    library) by decomposing a tiny picture; returns the seconds it took. Optional: nothing here is
    compiled, so a first call without it is only the imports (~0.3 s) slower. A server may call it at
    start-up."""
    import time

    from . import fill

    t0 = time.perf_counter()
    y, x = np.mgrid[:48, :48]
    image = np.dstack([x * 5, y * 5, (x + y) * 2]).astype(np.uint8)
    mask = (((y - 24) ** 2 + (x - 24) ** 2) < 100).astype(np.uint8) * 255
    hole = cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
    matte(image, mask, hole)
    fill.fill(image, hole, max_hole_pixels=200)
    return time.perf_counter() - t0
