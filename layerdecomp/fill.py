"""Exemplar fill of the hole: the clean plate behind the removed object.

PatchMatch (Barnes et al. 2009, the ``pypatchmatch`` library) copies patches of the picture into the
hole, so the fill keeps the picture's texture where a diffusion-style inpainting (OpenCV) smears it.
Its cost follows the crop's area, and on a large hole small patches lose the scene's structure, so:

0. **Regions first** (``layerdecomp.segments``): the context is split into a few colour regions and the
   region map is continued into the hole; PatchMatch's patch distance then carries a penalty for a
   source of another region than the hole pixel's (its regularity-guided metric, with the region map as
   the guide), so a saucer is continued with saucer and the table with table, and a patch of one object
   is not repeated across another's place.
1. **Coarse pass** (structure): when the hole has more than ``max_hole_pixels`` pixels, PatchMatch runs
   on a copy shrunk until the hole fits; relative to the hole its patches are then larger, so long edges
   and large shapes continue through the hole instead of breaking into small repeats.
2. **Full-resolution texture**: the shrunk fill is brought back up (smooth) and its lost fine detail is
   put back by *detail transfer*: every coarse hole pixel is matched (a k-d tree over small patch
   descriptors) to the known coarse pixel it was most likely copied from, and the full-resolution
   high-frequency detail around that source is added, so the fill is as sharp as the picture.
   A hole filled at full resolution gets the same (``restore_detail``): PatchMatch averages overlapping
   patches, which blurs the middle of a large hole, so the fill keeps its own coarse content and takes
   the fine detail of the pixels it matches.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .segments import region_map

# Largest hole PatchMatch works on at once (pixels): ~1 s of CPU for a 2048² photo's 15% selection with
# the region guide (which costs ~1.8x plain PatchMatch per pixel). On 1024² composites 35k gave a higher
# PSNR in the hole than 50k or 25k (17.5 / 17.1 / 16.7 dB, 8 cases; plain PatchMatch at 50k: 16.5 dB).
MAX_HOLE_PIXELS = 35_000
PATCH_SIZE = 3  # PatchMatch's patch radius: 7×7 patches
# On the shrunk copy a 5×5 patch already spans 15+ full-resolution pixels; it costs 30% less than 7×7
# there (1024²-2048² composites: 0-0.5 dB lower PSNR in the hole, texture as rich).
COARSE_PATCH_SIZE = 2
DESCRIPTOR_DIMS = 6
# Weight of the region penalty against the patch distance in PatchMatch's guided metric: at 1.0 a source
# from another region costs more than any colour mismatch (0.25 behaved the same on the synthetic set).
REGION_WEIGHT = 1.0
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


def _source_offsets(small_fill: np.ndarray, small_hole: np.ndarray, labels: Optional[np.ndarray] = None) -> np.ndarray:
    """For each coarse hole pixel, the (dy, dx) to the known coarse pixel whose neighbourhood matches
    best (where PatchMatch most likely took it from), within the pixel's own region where ``labels``
    are given. Returns H×W×2 int (0 outside the hole)."""
    desc = _descriptors(small_fill)
    # Sources: known pixels whose descriptor window lies outside the hole.
    valid = cv2.erode((~small_hole).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    offsets = np.zeros(small_hole.shape + (2,), np.int32)
    if not valid.any() or not small_hole.any():
        return offsets
    # A k-d tree is fast only in few dimensions: project onto the descriptors' main axes.
    src = desc[valid]
    sample = src[:: max(1, len(src) // 4000)].astype(np.float64)
    if len(sample) <= DESCRIPTOR_DIMS:  # (almost) no context to take detail from
        return offsets
    mean = sample.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(sample, rowvar=False))
    basis = vectors[:, ::-1][:, :DESCRIPTOR_DIMS].astype(np.float32)  # eigh sorts ascending
    projected = (desc.reshape(-1, desc.shape[2]) - mean.astype(np.float32)) @ basis
    projected = projected.reshape(desc.shape[:2] + (DESCRIPTOR_DIMS,))
    if labels is None:
        labels = np.zeros(small_hole.shape, np.int32)
    for region in np.unique(labels[small_hole]):
        dst = small_hole & (labels == region)
        same = valid & (labels == region)
        _match_into(projected, same if np.count_nonzero(same) >= 32 else valid, dst, offsets)
    return offsets


def _match_into(points: np.ndarray, src_mask: np.ndarray, dst_mask: np.ndarray, offsets: np.ndarray) -> None:
    """Nearest source point of every destination pixel, written into ``offsets`` as (dy, dx)."""
    src_y, src_x = np.nonzero(src_mask)
    dst_y, dst_x = np.nonzero(dst_mask)
    tree = cKDTree(points[src_y, src_x])
    _, nearest = tree.query(points[dst_y, dst_x], k=1, eps=0.5, workers=-1)
    offsets[dst_y, dst_x, 0] = src_y[nearest] - dst_y
    offsets[dst_y, dst_x, 1] = src_x[nearest] - dst_x


def _detail(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What shrinking to ``size`` (w, h) and growing back loses: the picture's fine detail (float32)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image.astype(np.float32) - cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)


def upscale_fill(image: np.ndarray, hole: np.ndarray, small_fill: np.ndarray, small_hole: np.ndarray,
                 *, detail_transfer: bool = True, labels: Optional[np.ndarray] = None) -> np.ndarray:
    """``image`` with ``hole`` filled from ``small_fill``, a fill made on a shrunk copy (``small_hole`` its
    hole): brought up smoothly, then, with ``detail_transfer``, sharpened with the full-resolution detail
    around where each coarse hole pixel was most likely copied from (see the module docstring). Any fill
    made at a lower resolution can come back this way (PatchMatch's coarse pass, a learned inpainting model
    run at its native size). ``labels`` (at the shrunk size, ``layerdecomp.segments.region_map``): take the
    detail only from the pixel's own region."""
    h, w = hole.shape
    size = (small_fill.shape[1], small_fill.shape[0])
    coarse = cv2.resize(small_fill, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    if detail_transfer:
        offsets = _source_offsets(small_fill, small_hole, labels)
        sy, sx = size[1] / h, size[0] / w
        ys, xs = np.nonzero(hole)
        cy = np.clip(np.round(ys * sy).astype(np.int64), 0, size[1] - 1)
        cx = np.clip(np.round(xs * sx).astype(np.int64), 0, size[0] - 1)
        src_y = np.clip(ys + np.round(offsets[cy, cx, 0] / sy).astype(np.int64), 0, h - 1)
        src_x = np.clip(xs + np.round(offsets[cy, cx, 1] / sx).astype(np.int64), 0, w - 1)
        detail = _detail(image, size)
        ok = ~hole[src_y, src_x]  # only detail from known pixels
        coarse[ys[ok], xs[ok]] += detail[src_y[ok], src_x[ok]]
    out = image.copy()
    out[hole] = np.clip(np.rint(coarse[hole]), 0, 255).astype(np.uint8)
    return out


# Fine detail, for restore_detail: what a Gaussian blur of this sigma (px) takes away. On the 512²
# composites of bench/quality.py: detail ratio in the selection's core 0.47 -> 0.55 (truth 1.0), |log2| of
# the detail ratio in the hole 0.86 -> 0.72, PSNR in the hole 19.2 dB either way; sigma 1.5 changed little.
DETAIL_SIGMA = 3.0


def restore_detail(image: np.ndarray, hole: np.ndarray, filled: np.ndarray,
                   labels: Optional[np.ndarray] = None, sigma: float = DETAIL_SIGMA) -> np.ndarray:
    """``filled`` (a full-resolution fill of ``hole`` in ``image``) with its fine detail replaced: its own
    content blurred by ``sigma``, plus the fine detail (what that blur takes away) of the known pixel each
    hole pixel matches best (within its own region where ``labels`` are given)."""
    offsets = _source_offsets(filled, hole, labels)
    ys, xs = np.nonzero(hole)
    src_y = np.clip(ys + offsets[ys, xs, 0], 0, hole.shape[0] - 1)
    src_x = np.clip(xs + offsets[ys, xs, 1], 0, hole.shape[1] - 1)
    ok = ~hole[src_y, src_x]  # a pixel with no match keeps PatchMatch's own value
    picture, fill_f = image.astype(np.float32), filled.astype(np.float32)
    detail = picture - cv2.GaussianBlur(picture, (0, 0), sigma)
    smooth = cv2.GaussianBlur(fill_f, (0, 0), sigma)
    out = filled.copy()
    values = smooth[ys[ok], xs[ok]] + detail[src_y[ok], src_x[ok]]
    out[ys[ok], xs[ok]] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return out


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
    labels = region_map(small, small_hole) if regions else None
    report(0.1)
    small_fill = patchmatch_fill(small, small_hole, patch_size if full_size else coarse_patch_size, seed, labels)
    if full_size:
        if detail_transfer:
            report(0.9)
            small_fill = restore_detail(image, hole, small_fill, labels)
        report(1.0)
        return small_fill
    report(0.75)
    out = upscale_fill(image, hole, small_fill, small_hole, detail_transfer=detail_transfer, labels=labels)
    report(1.0)
    return out
