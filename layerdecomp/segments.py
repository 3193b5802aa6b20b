"""The scene's regions around a hole, continued into it: the map that guides the fill.

A hole in a structured scene crosses regions (a saucer, the table under it, the sky above a shore). An
exemplar fill left to itself copies whatever patches match locally, so one region's texture leaks into
another's place (table-wood on the saucer). So, before the fill:

1. **Regions of the context**: the known pixels are grouped into a few colour regions (k-means on a
   smoothed luma/chroma picture, luma down-weighted so that shading does not split a surface; nearby
   clusters merged, speckles removed). Pixels within ``ring`` px of the hole are left out: a selection's
   edge leaves a rim of the removed object there, which must not become a region of its own.
2. **Continued into the hole**: each large region's indicator is inpainted into the hole (Navier-Stokes
   inpainting continues the indicators' level lines, i.e. the boundaries between regions, along their
   direction) and every hole pixel takes the region whose continued indicator is strongest. This runs on
   a copy shrunk until the hole has at most ``CONTINUE_PIXELS`` pixels: it is coarse structure. Small
   regions (an eye, a badge, a spoon beside the hole) are not continued: stretched into the hole they
   become wedges of a copied object, and the guide then keeps their patches out of it.

The fill then draws each hole pixel's patches from its own region (``layerdecomp.fill``).
"""

from __future__ import annotations

import cv2
import numpy as np

# Up to six regions: with five, the README example's spoon shared the saucer's region and was smeared into
# the hole once the hole grew 12 px (512² composites: 18.47 dB in the hole with six, 18.44 with five).
MAX_REGIONS = 6
# Luma counts this much against the chroma axes: shading and highlights stay in one region.
LUMA_WEIGHT = 0.3
# Clusters whose centres are closer than this (in the weighted luma/chroma units) are one region.
MERGE_DISTANCE = 8.0
# A region must hold at least this share of the context; smaller clusters join their nearest neighbour.
MIN_SHARE = 0.03
MAX_SAMPLES = 20_000
# Only regions holding at least this share of the context are continued into the hole (synthetic
# composites, PSNR in the hole at 512² / 1024²: 5%: 18.0 / 17.0 dB, 10%: 18.4 / 18.0, 15%: 18.3 / 17.5).
CONTINUED_SHARE = 0.1
# The continuation runs on a copy whose unknown part has at most this many pixels.
CONTINUE_PIXELS = 12_000


def _features(image: np.ndarray, smooth: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(image, (0, 0), smooth) if smooth > 0 else image
    ycc = cv2.cvtColor(blurred, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycc[..., 0] *= LUMA_WEIGHT
    return ycc


def _cluster_centres(samples: np.ndarray, max_regions: int) -> np.ndarray:
    """k-means centres of ``samples``, merged where close and pruned where rare (deterministic)."""
    k = min(max_regions, len(samples))
    if k <= 1:
        return samples.mean(axis=0, keepdims=True)
    cv2.setRNGSeed(0)  # k-means++ seeding draws from OpenCV's global generator
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, assignment, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(assignment.ravel(), minlength=k)
    kept: list[int] = []
    for index in np.argsort(-counts, kind="stable"):  # most common first: they absorb the others
        if kept and counts[index] < MIN_SHARE * len(samples):
            continue
        if any(np.linalg.norm(centres[index] - centres[other]) < MERGE_DISTANCE for other in kept):
            continue
        kept.append(int(index))
    return centres[kept]


def _mode_filter(labels: np.ndarray, count: int, size: int) -> np.ndarray:
    """Each pixel takes the most common label around it: speckles join their surroundings."""
    votes = np.stack([cv2.blur((labels == i).astype(np.float32), (size, size)) for i in range(count)], axis=-1)
    return votes.argmax(axis=-1).astype(np.int32)


def continue_regions(labels: np.ndarray, unknown: np.ndarray, candidates: list[int]) -> np.ndarray:
    """The ``candidates`` regions of ``labels`` continued over the ``unknown`` pixels (others kept)."""
    if not unknown.any():
        return labels.copy()
    if len(candidates) == 1:
        return np.where(unknown, candidates[0], labels).astype(np.int32)
    h, w = unknown.shape
    scale = min(1.0, float(np.sqrt(CONTINUE_PIXELS / np.count_nonzero(unknown))))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small_unknown = cv2.resize(unknown.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 0
    strengths = []
    for start in range(0, len(candidates), 3):  # OpenCV inpaints up to three channels at once
        group = candidates[start:start + 3]
        planes = [np.where(unknown, 0, (labels == r) * 255).astype(np.uint8) for r in group]
        planes += planes[:1] * (3 - len(planes)) if len(planes) == 2 else []
        small = cv2.resize(np.dstack(planes) if len(planes) > 1 else planes[0], size, interpolation=cv2.INTER_AREA)
        filled = cv2.inpaint(small, small_unknown.astype(np.uint8), 3, cv2.INPAINT_NS).reshape(size[1], size[0], -1)
        strengths.append(filled[..., :len(group)])
    strength = np.concatenate(strengths, axis=-1).astype(np.float32)
    strength = cv2.resize(strength, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, len(candidates))
    continued = np.asarray(candidates, np.int32)[strength.argmax(axis=-1)]
    return np.where(unknown, continued, labels).astype(np.int32)


def region_map(image: np.ndarray, hole: np.ndarray, *, max_regions: int = MAX_REGIONS, ring: int = 2,
               smooth: float = 3.0) -> np.ndarray:
    """Region index (int32, 0..n-1) of every pixel of ``image`` (RGB uint8), the ``hole``'s continued from
    the large regions around it; all zeros when the context is uniform or too small to tell."""
    hole = np.asarray(hole, bool)
    context = ~hole
    if ring > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
        context = cv2.erode(context.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0
    if np.count_nonzero(context) < 16 or not hole.any():
        return np.zeros(hole.shape, np.int32)
    features = _features(image, smooth)
    known = features[context]
    centres = _cluster_centres(np.ascontiguousarray(known[:: max(1, len(known) // MAX_SAMPLES)]), max_regions)
    count = len(centres)
    if count == 1:
        return np.zeros(hole.shape, np.int32)
    distances = ((features.reshape(-1, 1, 3) - centres[None].astype(np.float32)) ** 2).sum(axis=-1)
    labels = distances.argmin(axis=1).reshape(hole.shape).astype(np.int32)
    labels = _mode_filter(np.where(context, labels, count), count, 5)  # label ``count``: not voting
    shares = np.bincount(labels[context], minlength=count) / np.count_nonzero(context)
    present = [r for r in range(count) if shares[r] > 0]
    large = [r for r in present if shares[r] >= CONTINUED_SHARE] or [max(present, key=lambda r: shares[r])]
    return continue_regions(labels, ~context, large)
