"""Several objects in one go: a selection of separate parts becomes one object layer per part over one plate.

1. **Parts** (:func:`find_parts`): the selection's connected pieces, after a clean-up: pieces closer than
   ``JOIN_DISTANCE`` px are one part (a lasso that nearly closes, a selection drawn in two strokes), and a
   speck (under ``MIN_PART_PIXELS`` and under ``MIN_PART_SHARE`` of the largest part) is no part at all.
2. **Groups**: parts whose holes (each part grown by ``grow``) would touch share one decomposition, so
   near parts cost one matting and one fill; groups far apart are decomposed on their own crops, so the
   cost follows the selected area, not the canvas times the number of parts. Groups run one after another,
   each on the plate the previous ones left: their holes are disjoint, so every layer stays exact.
3. **Split** a group's object between its parts: each pixel of the object goes to the part whose
   selection is nearest, and where two parts are both near (the zone where they meet), to the part whose
   own colours it resembles most. Object layers therefore never overlap, and any stacking of them over the
   plate reproduces the input (within the 1/255 of the single-object result).
4. **Order**, bottom to top: parts that meet are stacked so the one in front is above. The one behind is
   the one "bitten" by the other: its convex hull reaches into the other part's region further than the
   other's hull reaches into it (an occluder's outline bulges into what it hides). Other parts are stacked
   by how low in the picture they reach (nearer things sit lower in a photo): lowest on top.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .errors import InvalidInput, raise_if_cancelled
from .region import grow_hole, selection_bounds
from .types import Box, CancelToken, Decomposition, ObjectLayer, ProgressCallback

MAX_PARTS = 16
# Pieces of a selection closer than this (px) are one part.
JOIN_DISTANCE = 3
# A piece smaller than both of these is a stray speck of selection, not an object.
MIN_PART_PIXELS = 64
MIN_PART_SHARE = 0.02
# Where two parts of one group are both within this many px, their colours decide whose a pixel is.
MEETING_REACH = 12
# Colour samples per part for that decision.
COLOUR_SAMPLES = 2000


@dataclass(frozen=True)
class Part:
    mask: np.ndarray  # uint8, canvas-sized: the selection's levels on this part, 0 elsewhere
    bounds: Box       # its tight bounds


def find_parts(mask: np.ndarray, *, max_parts: int = MAX_PARTS) -> list[Part]:
    """The selection's parts (see the module's docstring), largest first. Raises ``InvalidInput`` when
    there are more than ``max_parts``."""
    bounds = selection_bounds(mask)
    pad = JOIN_DISTANCE
    y0, x0 = max(0, bounds.y - pad), max(0, bounds.x - pad)
    y1, x1 = min(mask.shape[0], bounds.y + bounds.h + pad), min(mask.shape[1], bounds.x + bounds.w + pad)
    selected = mask[y0:y1, x0:x1] > 0
    # Dilating by half the join distance makes pieces that close touch; each piece keeps only its own pixels.
    joined = grow_hole(selected, (JOIN_DISTANCE + 1) // 2)
    count, labels = cv2.connectedComponents(joined.astype(np.uint8), connectivity=8)
    labels = np.where(selected, labels, 0)
    areas = np.bincount(labels.ravel(), minlength=count)[1:]
    if not areas.size or areas.max() == 0:
        return []
    largest = int(areas.max())
    keep = [k + 1 for k in np.argsort(-areas, kind="stable")
            if areas[k] > 0 and (areas[k] >= MIN_PART_PIXELS or areas[k] >= MIN_PART_SHARE * largest)]
    if len(keep) > max_parts:
        raise InvalidInput(f"the selection has {len(keep)} separate parts; at most {max_parts} can be split at "
                           "once: select fewer, or join some of them")
    parts = []
    for k in keep:
        part = np.zeros_like(mask)
        here = labels == k
        part[y0:y1, x0:x1][here] = mask[y0:y1, x0:x1][here]
        parts.append(Part(part, selection_bounds(part)))
    return parts


def group_parts(parts: list[Part], grow: int, shape: tuple[int, int]) -> list[list[int]]:
    """Indices of ``parts`` in groups whose holes (each part grown by ``grow``) would touch."""
    if len(parts) <= 1:
        return [list(range(len(parts)))]
    # Work on the parts' joint bounds, grown, not on the whole canvas.
    reach = grow + 1
    x0 = max(0, min(p.bounds.x for p in parts) - reach)
    y0 = max(0, min(p.bounds.y for p in parts) - reach)
    x1 = min(shape[1], max(p.bounds.x + p.bounds.w for p in parts) + reach)
    y1 = min(shape[0], max(p.bounds.y + p.bounds.h for p in parts) + reach)
    union = np.zeros((y1 - y0, x1 - x0), bool)
    for p in parts:
        union |= p.mask[y0:y1, x0:x1] > 0
    _, labels = cv2.connectedComponents(grow_hole(union, reach).astype(np.uint8), connectivity=8)
    groups: dict[int, list[int]] = {}
    for index, p in enumerate(parts):
        ys, xs = np.nonzero(p.mask[p.bounds.slices])
        label = int(labels[p.bounds.y + ys[0] - y0, p.bounds.x + xs[0] - x0])
        groups.setdefault(label, []).append(index)
    return list(groups.values())


def _assign(image: np.ndarray, alpha: np.ndarray, part_masks: list[np.ndarray]) -> np.ndarray:
    """For each pixel of a crop, the index of the part it belongs to (see the module's docstring, 3)."""
    distances = np.stack([
        cv2.distanceTransform(np.ascontiguousarray(m == 0).astype(np.uint8), cv2.DIST_L2, 5) for m in part_masks])
    owner = np.argmin(distances, axis=0)
    near = (distances <= MEETING_REACH).sum(axis=0) >= 2
    contested = near & (alpha > 0)
    if contested.any():
        rgb = image[..., :3].astype(np.float32)
        rng = np.random.default_rng(0)
        colour_distance = np.full((len(part_masks), int(contested.sum())), np.inf, np.float32)
        for k, m in enumerate(part_masks):
            # The part's own colours: where it is selected and the object is solid, away from the others.
            core = (m > 0) & (alpha > 0.9) & ~near
            samples = rgb[core]
            if len(samples) == 0:
                continue
            if len(samples) > COLOUR_SAMPLES:
                samples = samples[rng.choice(len(samples), COLOUR_SAMPLES, replace=False)]
            colour_distance[k] = cKDTree(samples).query(rgb[contested])[0]
            colour_distance[k][distances[k][contested] > MEETING_REACH] = np.inf
        best = np.argmin(colour_distance, axis=0)
        found = np.isfinite(colour_distance.min(axis=0))
        owner[contested] = np.where(found, best, owner[contested])
    return owner


def _in_front(region_a: np.ndarray, region_b: np.ndarray) -> Optional[bool]:
    """Whether part a is in front of part b where they meet (None: they do not meet)."""
    kernel = np.ones((3, 3), np.uint8)
    if not (cv2.dilate(region_a.astype(np.uint8), kernel) > 0)[region_b].any():
        return None

    def hull(region: np.ndarray) -> np.ndarray:
        points = cv2.findNonZero(region.astype(np.uint8))
        filled = np.zeros(region.shape, np.uint8)
        cv2.fillConvexPoly(filled, cv2.convexHull(points), 1)
        return filled > 0

    a_bites_b = int((hull(region_b) & region_a).sum())  # b's hull reaches into a: a covers part of b
    b_bites_a = int((hull(region_a) & region_b).sum())
    return a_bites_b >= b_bites_a


def stacking_order(layers: list[ObjectLayer], in_front: dict[tuple[int, int], bool]) -> list[int]:
    """Indices of ``layers`` bottom to top: the lowest-reaching in the picture on top, then every known
    "a in front of b" respected (a goes right above b)."""
    order = sorted(range(len(layers)), key=lambda i: layers[i].box.y + layers[i].box.h)
    for _ in range(len(layers) ** 2):  # bounded: each pass fixes one violation
        violation = next(((a, b) for (a, b), front in in_front.items()
                          if front and order.index(a) < order.index(b)), None)
        if violation is None:
            break
        a, b = violation
        order.remove(a)
        order.insert(order.index(b) + 1, a)
    return order


def split_object(image: np.ndarray, result: Decomposition, parts: list[Part]) -> tuple[list[ObjectLayer], dict]:
    """One group's decomposition split into one object layer per part, and which part is in front of which
    ({(a, b): a in front of b} for parts that meet)."""
    box = result.box
    crop = image[box.slices]
    foreground = result.foreground[box.slices]
    visibility = result.visibility[box.slices]
    alpha = foreground[..., 3].astype(np.float32) / 255.0
    owner = _assign(crop, alpha, [p.mask[box.slices] for p in parts])
    layers, regions = [], []
    for k in range(len(parts)):
        mine = (owner == k) & (foreground[..., 3] > 0)
        regions.append(mine)
        layers.append(_object_layer(foreground, visibility, mine, box))
    fronts = {}
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            front = _in_front(regions[a], regions[b]) if regions[a].any() and regions[b].any() else None
            if front is not None:
                fronts[(a, b)], fronts[(b, a)] = front, not front
    return layers, fronts


def _object_layer(foreground: np.ndarray, visibility: np.ndarray, mine: np.ndarray, box: Box) -> ObjectLayer:
    """The pixels ``mine`` of a crop's object as a layer, cut to their own bounds."""
    if not mine.any():
        return ObjectLayer(np.zeros((0, 0, 4), np.uint8), np.zeros((0, 0), np.uint8), Box(box.x, box.y, 0, 0))
    x, y, w, h = cv2.boundingRect(mine.astype(np.uint8))
    inner = (slice(y, y + h), slice(x, x + w))
    pixels = np.where(mine[inner][..., None], foreground[inner], 0).astype(np.uint8)
    seen = np.where(mine[inner], visibility[inner], 0).astype(np.uint8)
    return ObjectLayer(pixels, seen, Box(box.x + x, box.y + y, w, h))


def whole_object(result: Decomposition) -> ObjectLayer:
    """A single-object result's object as the one layer of ``objects`` (also what a client rebuilds from a
    server's one-part answer)."""
    box = result.box
    return _object_layer(result.foreground[box.slices], result.visibility[box.slices],
                         result.foreground[box.slices][..., 3] > 0, box)


def decompose_parts(run: Callable[..., Decomposition], image: np.ndarray, mask: np.ndarray, *, grow: int,
                    progress: ProgressCallback, cancel: Optional[CancelToken]) -> Decomposition:
    """The parts of ``mask`` decomposed as the module's docstring says. ``run(image, mask, progress)`` is one
    ordinary decomposition (validated input; the caller's options, the same ``grow``). The result's
    ``objects`` are the object layers bottom to top; its ``foreground`` holds them all (they never overlap),
    its ``background`` is the one plate with every part removed."""
    parts = find_parts(mask)
    if len(parts) <= 1:
        result = run(image, mask, progress)
        result.objects = [whole_object(result)]
        return result
    groups = group_parts(parts, grow, mask.shape)
    plate = image
    layers: list[ObjectLayer] = []
    fronts: dict[tuple[int, int], bool] = {}
    metadata: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for number, group in enumerate(groups, 1):
        raise_if_cancelled(cancel)
        group_mask = np.zeros_like(mask)
        for index in group:
            group_mask = np.maximum(group_mask, parts[index].mask)
        reporter = _numbered(progress, number, len(groups))
        started = time.perf_counter()
        result = run(plate, group_mask, reporter)
        timings[f"group {number}"] = time.perf_counter() - started
        split, group_fronts = split_object(plate, result, [parts[i] for i in group])
        offset = len(layers)
        layers.extend(split)
        fronts.update({(offset + a, offset + b): f for (a, b), f in group_fronts.items()})
        plate = result.background
        metadata = result.metadata
    order = stacking_order(layers, fronts)
    objects = [layers[i] for i in order]
    foreground = np.zeros((*mask.shape, 4), np.uint8)
    visibility = np.zeros(mask.shape, np.uint8)
    for layer in objects:
        layer.paste(foreground, visibility)
    boxes = [layer.box for layer in objects if layer.box.w]
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    metadata = {**metadata, "box": [x0, y0, x1 - x0, y1 - y0], "timings": timings,
                "parts": [{"box": list(layer.box.as_tuple())} for layer in objects],
                "groups": len(groups)}
    return Decomposition(foreground, plate, visibility, Box(x0, y0, x1 - x0, y1 - y0), metadata, objects=objects)


def _numbered(progress: ProgressCallback, number: int, count: int) -> ProgressCallback:
    """Stages of group ``number`` of ``count``, named so ("fill 2/3") that a progress display shows which."""
    return lambda stage, fraction: progress(f"{stage} {number}/{count}", fraction)
