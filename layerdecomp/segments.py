"""The scene's regions around a hole, continued into it: the map that guides the fill.

A hole in a structured scene crosses regions (a saucer, the table under it, the sky above a shore). An
exemplar fill left to itself copies whatever patches match locally, so one region's texture leaks into
another's place (table-wood on the saucer). So, before the fill:

1. **Regions of the context**: the known pixels are grouped into a few colour regions (k-means on a
   smoothed luma/chroma picture, luma down-weighted so that shading does not split a surface; nearby
   clusters merged, speckles removed). Pixels within ``ring`` px of the hole are left out: a selection's
   edge leaves a rim of the removed object there, which must not become a region of its own.
2. **Figure or ground**: a region the hole wraps around (the hole's outline is concave along their
   contact) is in front of the removed object, as an occluder is, and does not continue behind it; a
   region the hole bulges into (convex outline, the usual case: the object stood on it) does.
3. **Continued into the hole**: each large ground region's indicator is inpainted into the hole (Navier-Stokes
   inpainting continues the indicators' level lines, i.e. the boundaries between regions, along their
   direction) and every hole pixel takes the region whose continued indicator is strongest. This runs on
   a copy shrunk until the hole has at most ``CONTINUE_PIXELS`` pixels: it is coarse structure.

The fill then draws each hole pixel's patches from its own region (``layerdecomp.fill``).
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_REGIONS = 5
# Luma counts this much against the chroma axes: shading and highlights stay in one region.
LUMA_WEIGHT = 0.3
# Clusters whose centres are closer than this (in the weighted luma/chroma units) are one region.
MERGE_DISTANCE = 8.0
# A region must hold at least this share of the context; smaller clusters join their nearest neighbour.
MIN_SHARE = 0.03
MAX_SAMPLES = 20_000
# Only regions holding at least this share of the context are continued into the hole.
CONTINUED_SHARE = 0.1
# The continuation runs on a copy whose unknown part has at most this many pixels.
CONTINUE_PIXELS = 12_000
# A region along whose contact the hole's outline is this concave (extra share of hole in a window, over a
# straight outline's) is in front of the removed object.
FRONT_CONCAVITY = -0.005
# ... and whose outline runs along the hole for at least this share of its length.
FRONT_CONTACT = 0.4


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


def regions_in_front(labels: np.ndarray, hole: np.ndarray, context: np.ndarray, count: int) -> list[int]:
    """Regions the hole wraps around (see the module's docstring, step 2).

    Two signs, both needed: along the contact the hole's outline is concave (the share of hole in a window
    around each contact pixel exceeds what a straight outline would give at that pixel's distance), and
    the contact is a large part of the region's outline (an occluder is mostly surrounded by the object
    it hides; a backdrop such as the sky touches a hole along a small part of its outline)."""
    radius = max(3, int(round(0.15 * np.sqrt(np.count_nonzero(hole)))))
    window = 2 * radius + 1
    share = cv2.blur(hole.astype(np.float32), (window, window), borderType=cv2.BORDER_CONSTANT)
    distance = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    ring_width = float(distance[context].min()) if context.any() else 0.0
    contact_zone = context & (distance <= ring_width + 3)
    concavity = share - (0.5 - distance / window)  # 0 for a straight outline
    inner = np.zeros(hole.shape, bool)
    inner[1:-1, 1:-1] = True  # the crop's own border is no outline
    front = []
    for region in range(count):
        inside = (labels == region) & context
        contact = contact_zone & inside
        if np.count_nonzero(contact) < 8 or float(concavity[contact].mean()) <= FRONT_CONCAVITY:
            continue
        outline = inside & inner & ~(cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        outline_near_hole = outline & (distance <= ring_width + 3)
        if np.count_nonzero(outline_near_hole) > FRONT_CONTACT * max(1, np.count_nonzero(outline)):
            front.append(region)
    return front


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
               smooth: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, in_front)`` for ``image`` (RGB uint8) and its ``hole``.

    ``labels``: region index (int32, 0..n-1) of every pixel, the hole's continued from the ground regions
    around it; all zeros when the context is uniform or too small to tell. ``in_front``: bool, the known
    pixels of regions in front of the removed object (and the ring beside them): never a source for the
    fill behind it."""
    hole = np.asarray(hole, bool)
    nothing = np.zeros(hole.shape, bool)
    context = ~hole
    if ring > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
        context = cv2.erode(context.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0
    if np.count_nonzero(context) < 16 or not hole.any():
        return np.zeros(hole.shape, np.int32), nothing
    features = _features(image, smooth)
    known = features[context]
    centres = _cluster_centres(np.ascontiguousarray(known[:: max(1, len(known) // MAX_SAMPLES)]), max_regions)
    count = len(centres)
    if count == 1:
        return np.zeros(hole.shape, np.int32), nothing
    distances = ((features.reshape(-1, 1, 3) - centres[None].astype(np.float32)) ** 2).sum(axis=-1)
    labels = distances.argmin(axis=1).reshape(hole.shape).astype(np.int32)
    labels = _mode_filter(np.where(context, labels, count), count, 5)  # label ``count``: not voting
    front = regions_in_front(labels, hole, context, count)
    shares = np.bincount(labels[context], minlength=count) / np.count_nonzero(context)
    ground = [r for r in range(count) if r not in front and shares[r] > 0]
    if not ground:  # everything around wraps the hole: nothing to tell apart
        return np.zeros(hole.shape, np.int32), nothing
    # Small regions (an eye, a badge, a spoon beside the hole) are not continued: stretched into the hole
    # they become wedges of a copied object. The surfaces around them are.
    major = [r for r in ground if shares[r] >= CONTINUED_SHARE] or [max(ground, key=lambda r: shares[r])]
    # Ground regions continue through the hole and through what stands in front of them.
    behind_front = np.isin(labels, front) & context
    continued = continue_regions(labels, ~context | behind_front, major)
    in_front = behind_front
    if ring > 0 and in_front.any():
        in_front = (cv2.dilate(in_front.astype(np.uint8), kernel) > 0) & ~hole
    return np.where(behind_front, labels, continued).astype(np.int32), in_front
