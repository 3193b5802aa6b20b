"""Where the object is inside the selection: a graph cut on colour models (OpenCV's ``grabCut``).

A lasso is drawn 8-20 px outside the object; a selection may stop short of it or follow it exactly, and
objects have holes (gaps between hair locks, a lattice, leaves). The band matting of ``matting.py`` only
looks along the selection's edge, so background deep inside a loose lasso would stay in the object.
``segment`` labels the whole selection first: outside the grown selection (the hole) is sure background,
inside the selection probably object, the rest of the hole probably background (a grey selection's
levels: above half probably object, below probably background). GrabCut's colour models (Gaussian
mixtures of the two labels) and its contrast-sensitive smoothness then decide every pixel, holes and
thin gaps included. Do no harm: the cut overrules the selection only where its colour models are sure;
where they are not, the selection's line stays and the band matting decides there (``doubt``), except
where the selection already follows a strong edge of the picture, where the line simply stays. And the
selection's core (deeper than a lasso is drawn outside an object) is the object: a piece the cut takes away
that the core's colours claim stays (a red cup on a red saucer), and so does a piece enclosed in the core
(a label's print, an eye) unless the background around it shows its colours (a hole through the object).
On a loose selection a second cut starts from the core's colours alone, so that the background a lasso
took in cannot pass for the object.

It runs on a shrunk copy (at most ``MAX_PIXELS``; its cost grows with the pixels and a 2048² crop would
take seconds); the band matting refines the edge at full resolution.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

# GrabCut's working size: 0.25 MP keeps a 2048² decomposition within its budget (bench/speed.py).
MAX_PIXELS = 250_000
# GrabCut's rounds of (fit the colour models, cut): the labels settle after two or three.
ITERATIONS = 3


# The cut may overrule the selection only where its colour models are this sure (log-likelihood ratio of
# the object's and the background's mixtures; 2 = e² times likelier): elsewhere the smoothness term alone
# fills the gaps between leaves and sheds hair strands a correct selection had (docs/evaluation.md, Alpha).
SURE_RATIO = 2.0


def mixture_log_likelihood(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Log-density of ``pixels`` (N×3) under one of grabCut's colour models (its 1×65 array: the weights of
    5 Gaussians, their means, their 3×3 covariances)."""
    model = model.ravel()
    weights, means, covariances = model[:5], model[5:20].reshape(5, 3), model[20:65].reshape(5, 3, 3)
    channels = np.ascontiguousarray(np.asarray(pixels, np.float64).T)  # 3×N: the quadratic form by channel
    out = None
    for weight, mean, covariance in zip(weights, means, covariances):
        if weight <= 0:
            continue
        covariance = covariance + 1e-2 * np.eye(3)
        p = np.linalg.inv(covariance)
        x, y, z = channels[0] - mean[0], channels[1] - mean[1], channels[2] - mean[2]
        # (x - m)ᵀ C⁻¹ (x - m) written out (C⁻¹ is symmetric): no N×3 temporaries, no BLAS call per
        # component (a loaded machine's BLAS threads made the matrix product slower than the sums).
        maha = (p[0, 0] * x * x + p[1, 1] * y * y + p[2, 2] * z * z
                + 2.0 * (p[0, 1] * x * y + p[0, 2] * x * z + p[1, 2] * y * z))
        log_density = np.log(weight) - 0.5 * (maha + np.log(np.linalg.det(covariance)) + 3 * np.log(2 * np.pi))
        out = log_density if out is None else np.logaddexp(out, log_density)
    return np.full(len(pixels), -np.inf) if out is None else out


# Do no harm: where more than FOLLOW of the selection's edge within FOLLOW_RADIUS px (at the cut's scale)
# lies on a colour gradient above EDGE_STRENGTH (levels per px), the selection follows the object's edge and
# an unsure cut keeps its line. (On the photos an exact outline's edge scores 0.5-1.0, a loose lasso's under 0.1.)
FOLLOW = 0.5
EDGE_STRENGTH = 15.0
FOLLOW_RADIUS = 10
# A cut that keeps less than this share of the selection has not found the object in it (colour models
# that cannot tell the two apart, as on noise): the selection stands.
MIN_KEPT_SHARE = 0.25
# Debris: a piece of the cut smaller than this share of the object, outside the selection or looking like
# the background (likelier under the background's colour model than the object's), goes.
DEBRIS_SHARE = 0.01
# Do no harm, for whole pieces: the selection's core (deeper than a lasso is drawn outside an object, 8-20
# px) is the object. A piece the cut takes out of the selection of which at least CONTESTED is as likely
# under the core's colours as under the background's is a part of the object whose colours the background
# shares (a red cup on a red saucer, whose colour the cut's own object model lost once it took the cup's body
# away): it stays. The background a loose lasso took in scores at most 0.23 (GT01-07), the cup's body 0.42.
CORE_DEPTH = 20
CONTESTED = 1 / 3
# Do no harm, inside the object: the cut's colour models are the whole picture's, so a print, an eye or a
# nostril inside the object whose colour the background shows anywhere (dark trees, a dark strip of ground)
# goes as surely as a gap between leaves (GT13's pot label, GT07's eyes). A piece enclosed in the selection's
# core is a hole through the object only if the background *around it* shows its colours: models of the
# object and of the background within its depth plus CORE_DEPTH px decide, as for the contested pieces
# (enclosed_pieces; each fitted on at most LOCAL_SAMPLES pixels, evenly spread: ~0.1 s for the hundred gaps
# of GT02's wicker ball). GT01-07, the true object's interior (10 px from its edge) lost: exact outlines
# 0.11% -> 0.01%, tight 0.18% -> 0.04%; band SAD and background kept unchanged (docs/evaluation.md, Alpha).
LOCAL_SAMPLES = 2000
# The core's colour model is fitted on at most this many of its pixels (evenly spread), and not on fewer
# than MIN_MODEL_PIXELS (nor the background's: grabCut's k-means needs a few per Gaussian).
CORE_SAMPLES = 20_000
MIN_MODEL_PIXELS = 50
# A loose selection: less than this share of its edge follows a strong edge of the picture (GT01-07: loose
# selections and loose lassos 0.00-0.17, exact outlines, tight selections and lassos 0.28-0.99). There a
# second cut starts from the core's colours only, and what either cut finds background is background: the
# ring of background a loose lasso takes in gives grabCut's first object model the background's colours
# (dark trees between troll hair stayed object: GT04 kept 39% of its background). On selections that follow
# the object the second cut takes away thin parts the core lacks, so it runs only on loose ones.
LOOSE_SHARE = 0.2


def follows_strong_edge(image: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Per pixel (float32 H×W), the share of the selection's edge within ``FOLLOW_RADIUS`` px that lies on a
    strong edge of the picture (0 where no edge is near)."""
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    strength = cv2.dilate(np.sqrt((gx * gx + gy * gy).sum(-1)), np.ones((3, 3), np.uint8))
    edge = cv2.morphologyEx(selected.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    window = (2 * FOLLOW_RADIUS + 1,) * 2
    on_edge = cv2.boxFilter(edge * (strength > EDGE_STRENGTH), -1, window, normalize=False)
    near = cv2.boxFilter(edge, -1, window, normalize=False)
    return np.where(near > 0, on_edge / np.maximum(near, 1e-6), 0.0).astype(np.float32)


def drop_debris(found: np.ndarray, selected: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """``found`` without its small pieces (not connected to the object) that lie wholly outside the
    selection or whose colours are not clearly the object's (``ratio``: object-over-background
    log-likelihood per pixel)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found.astype(np.uint8), connectivity=8)
    if count <= 2:
        return found
    held = np.bincount(labels[selected & found], minlength=count) > 0
    area = stats[:, cv2.CC_STAT_AREA]
    small = area < DEBRIS_SHARE * np.count_nonzero(found)
    object_like = np.bincount(labels.ravel(), weights=ratio.ravel(), minlength=count) / np.maximum(area, 1) > 0
    keep = (held & object_like) | ~small
    keep[0] = False
    return keep[labels]


def fit_models(object_pixels: np.ndarray, background_pixels: np.ndarray, background_model: np.ndarray,
               object_model: np.ndarray) -> None:
    """GrabCut's colour models (1×65 each, filled in) of ``object_pixels`` and ``background_pixels`` (N×3
    uint8, at most ``CORE_SAMPLES`` of each used, evenly spread), fitted the way grabCut fits its own (k-means,
    then a Gaussian per cluster; no cut: zero iterations)."""
    object_pixels = object_pixels[::max(1, len(object_pixels) // CORE_SAMPLES)]
    background_pixels = background_pixels[::max(1, len(background_pixels) // CORE_SAMPLES)]
    pixels = np.ascontiguousarray(np.concatenate([object_pixels, background_pixels])[:, None, :])
    labels = np.concatenate([np.full(len(object_pixels), cv2.GC_FGD),
                             np.full(len(background_pixels), cv2.GC_BGD)]).astype(np.uint8)[:, None]
    cv2.grabCut(pixels, labels, None, background_model, object_model, 0, cv2.GC_INIT_WITH_MASK)


def core_of(selected: np.ndarray, depth: float) -> np.ndarray:
    """The selected pixels deeper than ``depth`` px from the selection's edge."""
    return selected & (cv2.distanceTransform(selected.astype(np.uint8), cv2.DIST_L2, 3) > depth)


def contested_pieces(image: np.ndarray, found: np.ndarray, selected: np.ndarray, background_model: np.ndarray,
                     core: np.ndarray) -> np.ndarray:
    """The pieces the cut took out of the selection that the selection's ``core`` (``core_of``) claims: at
    least ``CONTESTED`` of their pixels as likely under the core's colour model as under the background's
    (bool H×W; none where the core is too small to fit a model)."""
    removed = selected & ~found
    if not removed.any() or min(np.count_nonzero(core), np.count_nonzero(~found)) < MIN_MODEL_PIXELS:
        return np.zeros_like(found)
    object_model = np.zeros((1, 65))
    fit_models(image[core], image[~found], np.zeros((1, 65)), object_model)
    pixels = image[removed].astype(np.float64)
    claimed = mixture_log_likelihood(object_model, pixels) >= mixture_log_likelihood(background_model, pixels)
    count, labels = cv2.connectedComponents(removed.astype(np.uint8), connectivity=8)
    share = (np.bincount(labels[removed], weights=claimed, minlength=count)
             / np.maximum(np.bincount(labels[removed], minlength=count), 1))
    keep = share >= CONTESTED
    keep[0] = False
    return keep[labels]


def enclosed_pieces(image: np.ndarray, found: np.ndarray, selected: np.ndarray, core: np.ndarray,
                    reach: float) -> np.ndarray:
    """The pieces the cut took out of the selection's interior that are not holes through the object: enclosed
    by it (not touching the selection's edge), reaching its ``core``, and at least ``CONTESTED`` of their pixels
    as likely under a colour model of the object around them as under one of the background around them (bool
    H×W). Around = within the piece's depth in the selection plus ``reach`` px; the background there is the
    cut's outside the selection and the pieces it took that open onto the selection's edge (a loose lasso's
    ring), not other enclosed pieces."""
    removed = selected & ~found
    count, labels, stats, _ = cv2.connectedComponentsWithStats(removed.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    if count <= 1:
        return keep[labels]
    edge = selected & (cv2.erode(selected.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0)
    opens = np.bincount(labels[edge & removed], minlength=count) > 0
    candidates = ~opens & (np.bincount(labels[core & removed], minlength=count) > 0)
    candidates[0] = False
    background = (~selected & ~found) | (removed & opens[labels])
    depth = cv2.distanceTransform(selected.astype(np.uint8), cv2.DIST_L2, 3)
    h, w = found.shape
    for i in np.flatnonzero(candidates):
        x, y, bw, bh, _ = stats[i]
        box = labels[y:y + bh, x:x + bw] == i
        radius = int(np.ceil(depth[y:y + bh, x:x + bw][box].max() + reach))
        y0, y1, x0, x1 = max(0, y - radius), min(h, y + bh + radius), max(0, x - radius), min(w, x + bw + radius)
        piece = labels[y0:y1, x0:x1] == i
        near = cv2.distanceTransform((~piece).astype(np.uint8), cv2.DIST_L2, 3) <= radius
        window = image[y0:y1, x0:x1]
        around = window[near & found[y0:y1, x0:x1] & ~piece]
        behind = window[near & background[y0:y1, x0:x1]]
        if min(len(around), len(behind)) < MIN_MODEL_PIXELS:
            continue
        background_model, object_model = np.zeros((1, 65)), np.zeros((1, 65))
        fit_models(around[::max(1, len(around) // LOCAL_SAMPLES)], behind[::max(1, len(behind) // LOCAL_SAMPLES)],
                   background_model, object_model)
        pixels = window[piece].astype(np.float64)
        claimed = mixture_log_likelihood(object_model, pixels) >= mixture_log_likelihood(background_model, pixels)
        keep[i] = claimed.mean() >= CONTESTED
    return keep[labels]


def shrunk_size(shape: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """``(width, height)`` of a copy with at most ``max_pixels`` pixels (the full size if it has fewer)."""
    h, w = shape
    scale = min(1.0, float(np.sqrt(max_pixels / float(h * w))))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _cut(image: np.ndarray, labels: np.ndarray, core: np.ndarray | None, iterations: int):
    """One grabCut of ``image`` from ``labels`` (not changed): ``(found, ratio, background model)``, with
    ``ratio`` the object-over-background log-likelihood of every pixel under its final colour models. With
    ``core``, the first round's object model is fitted on those pixels only."""
    labels = labels.copy()
    background_model, object_model = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # grabCut seeds its colour models with k-means: the same selection, the same cut
    if core is None:
        cv2.grabCut(image, labels, None, background_model, object_model, iterations, cv2.GC_INIT_WITH_MASK)
    else:
        fit_models(image[core], image[labels != cv2.GC_PR_FGD], background_model, object_model)
        cv2.grabCut(image, labels, None, background_model, object_model, 1, cv2.GC_EVAL_FREEZE_MODEL)
        if iterations > 1:
            cv2.grabCut(image, labels, None, background_model, object_model, iterations - 1, cv2.GC_EVAL)
    pixels = image.reshape(-1, 3).astype(np.float64)
    ratio = (mixture_log_likelihood(object_model, pixels)
             - mixture_log_likelihood(background_model, pixels)).reshape(labels.shape)
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), ratio, background_model


class Segmentation(NamedTuple):
    found: np.ndarray  # bool H×W: the object as the cut sees it, where it is sure (the selection elsewhere)
    doubt: np.ndarray  # bool H×W: where the cut disagrees with the selection without being sure
    hard: np.ndarray  # bool H×W: near a stretch of the found object's edge that lies on a strong edge


def segment(image: np.ndarray, mask: np.ndarray, hole: np.ndarray, *, max_pixels: int = MAX_PIXELS,
            iterations: int = ITERATIONS) -> Segmentation:
    """The object's pixels (only inside ``hole``) found by grabCut from the selection.

    ``image``: H×W×3 uint8; ``mask``: H×W uint8 selection (grey = partly selected); ``hole``: H×W bool, where
    the object may be. The selection stands (``found`` = it, no ``doubt``) when the colour models cannot be
    fitted (no background outside the hole, or no selected pixel)."""
    hole = np.asarray(hole, bool)
    selected = (mask >= 128) & hole
    unchanged = Segmentation(selected, np.zeros_like(selected), np.zeros_like(selected))
    if not selected.any() or hole.all():
        return unchanged
    h, w = mask.shape
    size = shrunk_size((h, w), max_pixels)
    small = lambda x, how=cv2.INTER_AREA: cv2.resize(x, size, interpolation=how)  # noqa: E731
    small_hole = small(hole.astype(np.uint8) * 255) >= 128
    small_mask = small(mask)
    labels = np.where(~small_hole, cv2.GC_BGD,
                      np.where(small_mask >= 128, cv2.GC_PR_FGD, cv2.GC_PR_BGD)).astype(np.uint8)
    if not (labels == cv2.GC_PR_FGD).any() or not (labels == cv2.GC_BGD).any():
        return unchanged
    small_image = np.ascontiguousarray(small(image))
    small_selected = small_mask >= 128
    found, ratio, background_model = _cut(small_image, labels, None, iterations)
    follows = follows_strong_edge(small_image, small_selected)
    core = core_of(small_selected, CORE_DEPTH * size[0] / w)
    edge = cv2.morphologyEx(small_selected.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    loose = np.mean(follows[edge] > FOLLOW) < LOOSE_SHARE
    if loose and min(np.count_nonzero(core), np.count_nonzero(labels != cv2.GC_PR_FGD)) >= MIN_MODEL_PIXELS:
        core_found, core_ratio, _ = _cut(small_image, labels, core, iterations)
        found &= core_found
        ratio = np.minimum(ratio, core_ratio)
    flip = np.where(small_selected, -ratio, ratio)  # evidence for the cut's label against the selection's
    unsure = (found != small_selected) & (flip < SURE_RATIO)
    keep_line = unsure & (follows > FOLLOW)
    # Enclosed pieces as the cut drew them, sure or not: an unsure part left to the band solve would fade there.
    enclosed = enclosed_pieces(small_image, found, small_selected, core, CORE_DEPTH * size[0] / w)
    found = np.where(unsure, small_selected, found)
    contested = contested_pieces(small_image, found, small_selected, background_model, core) | enclosed
    found = drop_debris(found | contested, small_selected, ratio)
    doubt = unsure & ~keep_line & ~contested
    if np.count_nonzero(found & small_selected) < MIN_KEPT_SHARE * np.count_nonzero(small_selected):
        return unchanged
    hard = follows_strong_edge(small_image, found) > FOLLOW
    if size != (w, h):
        grow = lambda x: cv2.resize(x.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5  # noqa: E731
        found, doubt, hard = grow(found), grow(doubt), grow(hard)
    return Segmentation(found & hole, doubt & hole, hard & hole)
