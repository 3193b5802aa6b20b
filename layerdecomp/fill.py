"""Exemplar fill of the hole: the clean plate behind the removed object.

PatchMatch (Barnes et al. 2009, the ``pypatchmatch`` library) copies patches of the picture into the
hole, so the fill keeps the picture's texture where a diffusion-style inpainting (OpenCV) smears it.
Its cost follows the crop's area, and on a large hole small patches lose the scene's structure, so:

0. **Regions first** (``layerdecomp.segments``): the context is split into a few colour regions and the
   region map is continued into the hole; PatchMatch's patch distance then carries a penalty for a
   source of another region than the hole pixel's (its regularity-guided metric, with the region map as
   the guide), so a saucer is continued with saucer and the table with table, and a patch of one object
   is not repeated across another's place. Then (``layerdecomp.structure``) a region whose outline is
   an ellipse arc on both sides of the hole (a saucer's rim behind a cup) keeps to its side of the arc
   through the hole, and lines and ellipse arcs of edges that cross the hole (a table's edge) are drawn
   into the map as regions of their own, so they are continued through the hole.
1. **Coarse pass** (structure): when the hole has more than ``max_hole_pixels`` pixels, PatchMatch runs
   on a copy shrunk until the hole fits; relative to the hole its patches are then larger, so long edges
   and large shapes continue through the hole instead of breaking into small repeats.
2. **Full-resolution texture**: the shrunk fill is brought back up (smooth) and its lost fine detail is
   put back from its sources: every coarse hole pixel is matched (a k-d tree over small patch
   descriptors) to the known coarse pixel it was most likely copied from, the matches are made coherent
   (PatchMatch's propagation: a pixel takes a neighbour's offset when its source fits better, and a source
   taken by many pixels costs more, so one eye-catching patch is not cloned over and over), the offsets
   are brought to full resolution and the full-resolution sources are *voted* (Wexler et al.: each pixel
   the mean of the overlapping patches' values), and the voted copy's fine detail is added. Neighbours
   copy neighbouring sources, so the detail comes in coherent pieces, not a speckle of single pixels.
   A hole filled at full resolution gets the same (``restore_detail``): PatchMatch averages overlapping
   patches, which blurs the middle of a large hole, so the fill keeps its own coarse content and takes
   the fine detail of the voted sources.
Measurements behind the constants: docs/evaluation.md.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .segments import region_map
from .structure import continue_curves

# Largest hole PatchMatch works on at once (pixels): larger holes are filled on a shrunk copy, which keeps
# the cost bounded and carries large structure through the hole.
MAX_HOLE_PIXELS = 35_000
PATCH_SIZE = 3  # PatchMatch's patch radius: 7×7 patches
# On the shrunk copy a 5×5 patch already spans 15+ full-resolution pixels, for less than 7×7 costs.
COARSE_PATCH_SIZE = 2
DESCRIPTOR_DIMS = 6
# Weight of the region penalty against the patch distance in PatchMatch's guided metric: at 1.0 a source
# from another region costs more than any colour mismatch.
REGION_WEIGHT = 1.0
# Propagation rounds that make the matched sources coherent, and the cost of a source taken once more,
# in units of a typical match's cost.
COHERENCE_ITERATIONS = 4
REUSE_WEIGHT = 0.05
# Patch voting takes the patches of the pixels this far (px) above, below, left and right.
VOTE_RADIUS = 2
_seed_lock = threading.Lock()
# Where each region sits in PatchMatch's guide map. Its guide distance wraps around at 0.5 per axis, so
# any two of these points are 0.5-1.0 of the largest possible guide distance apart.
_GUIDE_POINTS = ((0.0, 0.0), (0.5, 0.5), (0.5, 0.0), (0.0, 0.5), (0.25, 0.25), (0.75, 0.75), (0.25, 0.75),
                 (0.75, 0.25))


def _guide_map(labels: np.ndarray) -> np.ndarray:
    points = np.zeros((len(_GUIDE_POINTS), 3), np.float32)
    points[:, :2] = _GUIDE_POINTS
    return np.ascontiguousarray(points[labels % len(_GUIDE_POINTS)])


def patchmatch_fill(image: np.ndarray, hole: np.ndarray, patch_size: int = PATCH_SIZE, seed: int = 0,
                    labels: Optional[np.ndarray] = None, region_weight: float = REGION_WEIGHT) -> np.ndarray:
    """PatchMatch inpainting of ``hole`` at the image's own resolution (deterministic for a seed).

    ``labels``: optional region map (int, the image's size, ``layerdecomp.segments.region_map``): a hole
    pixel then prefers patches from its own region, by ``region_weight``."""
    import patchmatch

    if not patchmatch.patchmatch_available:
        raise RuntimeError("the PatchMatch library (pypatchmatch) failed to load; reinstall pypatchmatch")
    image, mask = np.ascontiguousarray(image), hole.astype(np.uint8)
    guided = labels is not None and region_weight > 0 and int(labels.max()) > 0
    with _seed_lock:  # the seed is global state of the native library
        patchmatch.set_random_seed(seed)
        if guided:
            return patchmatch.inpaint_regularity(image, mask, _guide_map(labels), patch_size=patch_size,
                                                 guide_weight=region_weight)
        return patchmatch.inpaint(image, mask, patch_size=patch_size)


def _descriptors(image: np.ndarray, radius: int = 2) -> np.ndarray:
    """Per-pixel descriptor: the colours of a (2r+1)² neighbourhood, subsampled every other pixel."""
    img = image.astype(np.float32)
    pad = cv2.copyMakeBorder(img, radius, radius, radius, radius, cv2.BORDER_REFLECT)
    h, w = image.shape[:2]
    parts = [pad[radius + dy: radius + dy + h, radius + dx: radius + dx + w]
             for dy in range(-radius, radius + 1, radius) for dx in range(-radius, radius + 1, radius)]
    return np.concatenate(parts, axis=2)


def _source_matcher(picture: np.ndarray, hole: np.ndarray,
                    labels: Optional[np.ndarray] = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function of the filled picture (``picture`` with ``hole`` filled) giving, for each hole pixel, the
    (dy, dx) to the known pixel it was most likely copied from, within its own region where ``labels`` are
    given: each pixel's best match by a small patch descriptor (a k-d tree), then made coherent
    (:func:`_make_coherent`); H×W×2 int32, 0 outside the hole. What reads only the known pixels (the
    sources' descriptors, their main axes, the k-d trees) is done here, from ``picture``: a fill changes
    only the hole, so this can run while the fill is made."""
    desc = _descriptors(picture)
    # Sources: known pixels whose descriptor window lies outside the hole (so their descriptors are the
    # same in the filled picture).
    valid = cv2.erode((~hole).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    nothing = lambda filled: np.zeros(hole.shape + (2,), np.int32)  # noqa: E731
    if not valid.any() or not hole.any():
        return nothing
    # A k-d tree is fast only in few dimensions: project onto the descriptors' main axes.
    src = desc[valid]
    sample = src[:: max(1, len(src) // 4000)].astype(np.float64)
    if len(sample) <= DESCRIPTOR_DIMS:  # (almost) no context to take detail from
        return nothing
    mean = sample.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(sample, rowvar=False))
    basis = vectors[:, ::-1][:, :DESCRIPTOR_DIMS].astype(np.float32)  # eigh sorts ascending

    def project(desc: np.ndarray) -> np.ndarray:
        projected = (desc.reshape(-1, desc.shape[2]) - mean.astype(np.float32)) @ basis
        return projected.reshape(desc.shape[:2] + (DESCRIPTOR_DIMS,))

    known_points = project(desc)
    if labels is None:
        labels = np.zeros(hole.shape, np.int32)
    allowed = np.zeros(hole.shape, bool)
    searches = []  # per region: its hole pixels, its sources and their k-d tree
    for region in np.unique(labels[hole]):
        dst = hole & (labels == region)
        same = valid & (labels == region)
        source = same if np.count_nonzero(same) >= 32 else valid
        src_y, src_x = np.nonzero(source)
        searches.append((np.nonzero(dst), src_y, src_x, cKDTree(known_points[src_y, src_x])))
        allowed |= source

    def match(filled: np.ndarray) -> np.ndarray:
        points = project(_descriptors(filled))
        offsets = np.zeros(hole.shape + (2,), np.int32)
        for (dst_y, dst_x), src_y, src_x, tree in searches:  # each hole pixel's nearest source
            _, nearest = tree.query(points[dst_y, dst_x], k=1, eps=0.5, workers=-1)
            offsets[dst_y, dst_x, 0] = src_y[nearest] - dst_y
            offsets[dst_y, dst_x, 1] = src_x[nearest] - dst_x
        _make_coherent(points, hole, allowed, labels, offsets)
        return offsets

    return match


def _make_coherent(points: np.ndarray, hole: np.ndarray, valid: np.ndarray, labels: np.ndarray,
                   offsets: np.ndarray, iterations: int = COHERENCE_ITERATIONS) -> None:
    """PatchMatch's propagation on ``offsets`` (in place): each hole pixel tries its four neighbours' offsets
    and keeps the one whose source matches its descriptor best, plus ``REUSE_WEIGHT`` times the typical
    match cost for every other hole pixel that already takes that source. Neighbours then copy neighbouring
    sources (coherent pieces instead of a speckle of independent matches), and one eye-catching source is
    not cloned all over the hole."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    here = points[ys, xs]
    region = labels[ys, xs]
    # Looked up by row-major index (one index array instead of two per lookup).
    flat_points, flat_valid, flat_labels = points.reshape(h * w, -1), valid.ravel(), labels.ravel()

    def cost(off: np.ndarray, usage: np.ndarray, scale: float):
        sy, sx = ys + off[:, 0], xs + off[:, 1]
        inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        source = np.where(inside, sy * w + sx, 0)
        ok = inside & flat_valid[source] & (flat_labels[source] == region)
        distance = ((here - flat_points[source]) ** 2).sum(axis=1) + scale * usage[source]
        return np.where(ok, distance, np.inf)

    current = offsets[ys, xs].astype(np.int64)
    scale = 0.0
    for _ in range(iterations):
        sources = (ys + current[:, 0]) * w + (xs + current[:, 1])
        usage = np.maximum(np.bincount(sources, minlength=h * w) - 1, 0).astype(np.float32)
        best = cost(current, usage, scale)
        if scale == 0.0:  # the penalty's unit: the typical cost of a pixel's own best match
            finite = best[np.isfinite(best)]
            scale = REUSE_WEIGHT * float(np.median(finite)) if len(finite) else 0.0
            best = cost(current, usage, scale)
        field = offsets.copy()
        field[ys, xs] = current
        chosen = current.copy()
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            candidate = field[ny, nx].astype(np.int64)
            c = cost(candidate, usage, scale)
            better = c < best
            chosen[better], best[better] = candidate[better], c[better]
        current = chosen
    offsets[ys, xs] = current


def _vote(image: np.ndarray, hole: np.ndarray, offsets: np.ndarray, radius: int = VOTE_RADIUS) -> np.ndarray:
    """Patch voting (Wexler et al.): each hole pixel p is the mean of ``image[p + offset(q)]`` over itself and
    the hole pixels q ``radius`` px above, below, left and right of it whose patch puts a known pixel there.
    Where neighbours share an offset this is a straight copy of the source; where they do not, their
    patches blend. ``offsets``: per pixel, its source's offset in row-major index units (H·W int64,
    :func:`_flat`). Returns float32 values for the hole's pixels (in ``np.nonzero`` order) and where any
    vote came."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    flat_hole = hole.ravel()
    picture = image.reshape(h * w, -1)
    here = ys.astype(np.int64) * w + xs
    total = np.zeros((len(ys), picture.shape[1]), np.float32)
    votes = np.zeros(len(ys), np.float32)
    x_lo, x_hi = (int(xs.min()), int(xs.max())) if len(xs) else (0, 0)
    for dy, dx in ((0, 0), (-radius, 0), (radius, 0), (0, -radius), (0, radius)):
        # The neighbour q, clamped to the picture (the clamp only where the hole comes that near its edge).
        if dy and not (0 <= ys[0] + dy and ys[-1] + dy < h):  # (np.nonzero's rows are sorted)
            q = here + (np.clip(ys + dy, 0, h - 1) - ys) * w
        elif dx and not (0 <= x_lo + dx and x_hi + dx < w):
            q = here + (np.clip(xs + dx, 0, w - 1) - xs)
        else:
            q = here + (dy * w + dx)
        source = here + offsets[q]
        ok = flat_hole[q] & (source >= 0) & (source < h * w)
        source[~ok] = 0
        ok &= ~flat_hole[source]
        np.add(total, np.take(picture, source, axis=0), out=total, where=ok[:, None])
        votes += ok
    return total / np.maximum(votes, 1.0)[:, None], votes > 0


def _flat(offsets: np.ndarray) -> np.ndarray:
    """(dy, dx) offsets (H×W×2) as offsets in row-major index units (H·W int64)."""
    return (offsets[..., 0].astype(np.int64) * offsets.shape[1] + offsets[..., 1]).ravel()


def _with_voted_detail(base: np.ndarray, image: np.ndarray, hole: np.ndarray, offsets: np.ndarray,
                       smooth: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``base`` (float32, the crop) in the hole, with its fine detail (what ``smooth`` takes away) replaced by
    that of the voted full-resolution copy of the sources (``offsets`` at full resolution, :func:`_flat`).
    uint8 out."""
    voted, ok = _vote(image, hole, offsets)
    # The hole's pixels by their row-major index (a boolean mask over every channel of the crop costs more).
    here = np.flatnonzero(hole)
    channels = base.shape[2]
    copy = base.copy()
    copy.reshape(-1, channels)[here[ok]] = voted[ok]
    detail = copy.reshape(-1, channels)[here] - smooth(copy).reshape(-1, channels)[here]
    values = base.reshape(-1, channels)[here] + detail
    out = image.copy()
    out.reshape(-1, channels)[here] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out


def upscale_fill(image: np.ndarray, hole: np.ndarray, small_fill: np.ndarray, small_hole: np.ndarray,
                 *, detail_transfer: bool = True, labels: Optional[np.ndarray] = None,
                 sources: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> np.ndarray:
    """``image`` with ``hole`` filled from ``small_fill``, a fill made on a shrunk copy (``small_hole`` its
    hole): brought up smoothly, then, with ``detail_transfer``, given the full-resolution detail of the
    sources each coarse hole pixel was most likely copied from (see the module docstring). Any fill made at
    a lower resolution can come back this way (PatchMatch's coarse pass, a learned inpainting model run at
    its native size). ``labels`` (at the shrunk size, ``layerdecomp.segments.region_map``): take the
    detail only from the pixel's own region. ``sources``: :func:`_source_matcher` of the shrunk picture,
    if it was prepared while the fill was made."""
    h, w = hole.shape
    size = (small_fill.shape[1], small_fill.shape[0])
    coarse = cv2.resize(small_fill, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    if not detail_transfer:
        out = image.copy()
        out[hole] = np.clip(np.rint(coarse[hole]), 0, 255).astype(np.uint8)
        return out
    small_offsets = (sources or _source_matcher(small_fill, small_hole, labels))(small_fill)
    # The coarse field at full resolution: each pixel takes its coarse pixel's offset, scaled.
    sy, sx = size[1] / h, size[0] / w
    cy = np.clip(np.round(np.arange(h) * sy).astype(np.int64), 0, size[1] - 1)
    cx = np.clip(np.round(np.arange(w) * sx).astype(np.int64), 0, size[0] - 1)
    # Scaled at the coarse size, then spread to the full size in one gather.
    scaled = (np.round(small_offsets[..., 0] / sy).astype(np.int64) * w
              + np.round(small_offsets[..., 1] / sx).astype(np.int64))
    offsets = scaled[cy[:, None], cx[None, :]].ravel()

    def lost_by_shrinking(x: np.ndarray) -> np.ndarray:
        return cv2.resize(cv2.resize(x, size, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_CUBIC)

    return _with_voted_detail(coarse, image, hole, offsets, lost_by_shrinking)


# Fine detail, for restore_detail: what a Gaussian blur of this sigma (px) takes away (docs/evaluation.md).
DETAIL_SIGMA = 3.0


def restore_detail(image: np.ndarray, hole: np.ndarray, filled: np.ndarray,
                   labels: Optional[np.ndarray] = None, sigma: float = DETAIL_SIGMA,
                   sources: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> np.ndarray:
    """``filled`` (a full-resolution fill of ``hole`` in ``image``) with its fine detail replaced: its own
    content blurred by ``sigma``, plus the fine detail of the voted copy of the known pixels the hole
    pixels match (coherently, within their own region where ``labels`` are given). ``sources``:
    :func:`_source_matcher` of ``image``, if it was prepared while the fill was made."""
    offsets = _flat((sources or _source_matcher(filled, hole, labels))(filled))
    return _with_voted_detail(filled.astype(np.float32), image, hole, offsets,
                              lambda x: cv2.GaussianBlur(x, (0, 0), sigma))


def fill(image: np.ndarray, hole: np.ndarray, *, max_hole_pixels: int = MAX_HOLE_PIXELS,
         patch_size: int = PATCH_SIZE, coarse_patch_size: int = COARSE_PATCH_SIZE, seed: int = 0,
         detail_transfer: bool = True, regions: bool = True,
         progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """The picture with ``hole`` filled from the rest of it (RGB uint8, same size; unchanged outside).

    ``patch_size`` / ``coarse_patch_size``: PatchMatch's patch radius at full resolution / on the shrunk
    copy used for holes over ``max_hole_pixels``. ``regions``: guide the fill by the scene's regions
    continued into the hole (``layerdecomp.segments``). ``progress(fraction)`` is told how far the fill
    is, in order, with 1.0 only once it is done."""
    report = progress or (lambda fraction: None)
    hole = np.asarray(hole, bool)
    count = int(np.count_nonzero(hole))
    if count == 0:
        report(1.0)
        return image.copy()
    scale = min(1.0, float(np.sqrt(max_hole_pixels / count)))
    full_size = scale > 0.9
    h, w = hole.shape
    if full_size:
        small, small_hole, size = image, hole, (w, h)
    else:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 0
    labels = continue_curves(small, small_hole, region_map(small, small_hole)) if regions else None
    report(0.1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The detail transfer's sources (descriptors, k-d trees) read only known pixels: they are prepared
        # on the other core while PatchMatch (native code, one core) fills.
        sources = pool.submit(_source_matcher, small, small_hole, labels) if detail_transfer else None
        small_fill = patchmatch_fill(small, small_hole, patch_size if full_size else coarse_patch_size, seed, labels)
        prepared = sources.result() if sources is not None else None
    if full_size:
        if detail_transfer:
            report(0.9)
            small_fill = restore_detail(image, hole, small_fill, labels, sources=prepared)
        report(1.0)
        return small_fill
    report(0.75)
    out = upscale_fill(image, hole, small_fill, small_hole, detail_transfer=detail_transfer, labels=labels,
                       sources=prepared)
    report(1.0)
    return out
