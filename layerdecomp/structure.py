"""Lines and ellipse arcs that cross the hole (a saucer's rim, a horizon, a table's edge), drawn into the
region map before the fill, so that the fill continues them instead of breaking them into texture.

0. **Region outlines that are ellipse arcs** (``continue_region_arcs``): the region map
   (``layerdecomp.segments``) carries a boundary into the hole along its direction, so the rim of a
   saucer whose far side a cup hid became a wedge of table and saucer. Each large region's outline in the
   context is fitted with an ellipse by RANSAC (a region's outline has other pieces: the saucer's inner
   ring, streaks of grain); where the arc leaves the hole on both sides along that outline, the hole's
   pixels near the arc take the region on the region's side of it and the region beyond it on the other. This
   needs no edge of brightness: on the README example the red saucer on orange wood gives Canny on grey
   too weak an edge, but the colour regions tell them apart.
1. **Edges**: OpenCV's Canny on the blurred picture, on the known pixels (not the ``ring`` right next to
   the hole, where the removed object's rim lies); an edge is considered when it comes within ``REACH``.
2. **Curves**: each long connected edge is fitted with a straight line (``cv2.fitLine``) and an ellipse
   (``cv2.fitEllipse``); the better model is kept when its points lie within ``MAX_RESIDUAL`` px of it.
3. **Crossing**: a model is drawn only across the hole from where an edge follows it on one side to where
   an edge follows it on the other: a curve seen on one side only is not guessed through.
4. **Drawn into the region map** as a region of its own (the hole's part of the curve and the supporting
   edge pixels around it), so the fill's region guide draws the curve's pixels from the curve's own
   patches (``layerdecomp.fill``).
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

REACH = 24  # px: an edge must come this close to the hole (on the fill's working copy) to be continued
MIN_EDGE_PIXELS = 40
EDGE_SMOOTH = 3.0  # px: the blur before Canny (texture such as wood grain must not make edges)
CANNY = (20, 50)
MIN_AXIS = 16  # px: smaller ellipses are texture (a knot in the wood), not a rim
MAX_RESIDUAL = 1.5  # px: mean distance of a curve's edge pixels to the fitted model
MAX_CURVES = 2  # the fill's guide tells apart up to eight regions; the scene's take up to six
THICKNESS = 3
SUPPORT_DISTANCE = 2.0  # px: a curve sample is backed when an edge pixel lies this close
BACKED_SHARE = 0.6  # an exit counts as backed when this share of the curve's samples just outside it are
SAMPLES = 720
# Region outlines (the region map's boundary between a saucer and the table) fitted with an ellipse by
# RANSAC: a boundary point is on the ellipse within ARC_INLIER px; ARC_TRIALS random five-point fits.
ARC_INLIER = 3.0
ARC_TRIALS = 300
ARC_SAMPLE = 400
ARC_MIN_POINTS = 60  # inliers needed, all round
MAX_ARCS = 2
ARC_BAND = 2 * REACH  # px: the hole's pixels this close to the arc take their side's region
ARC_DEPTH = 12.0  # px: how far into the hole an arc must reach somewhere on its way through
# An arc is continued when, over its first ARC_REACH px beyond each side of the hole, ARC_SHARE of it lies
# within ARC_SUPPORT px of the region's outline (a region map's outline is ragged next to streaks of grain).
ARC_REACH, ARC_SUPPORT, ARC_SHARE = 2 * REACH, 6.0, 0.5


def _curve_points(model: tuple, shape: tuple[int, int]) -> np.ndarray:
    """Ordered (x, y) samples of a fitted line (across the whole picture) or ellipse (all the way round)."""
    h, w = shape
    if model[0] == "line":
        vx, vy, x0, y0 = model[1]
        length = float(np.hypot(h, w))
        t = np.linspace(-length, length, SAMPLES * 2)
        return np.stack([x0 + vx * t, y0 + vy * t], axis=1)
    (cx, cy), (major, minor), angle = model[1]
    theta = np.linspace(0.0, 2.0 * np.pi, SAMPLES, endpoint=False)
    cos_a, sin_a = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    ex, ey = major / 2.0 * np.cos(theta), minor / 2.0 * np.sin(theta)
    return np.stack([cx + ex * cos_a - ey * sin_a, cy + ex * sin_a + ey * cos_a], axis=1)


def _residual(model: tuple, points: np.ndarray) -> float:
    """Mean distance (px) of ``points`` (N×2 float, x y) to the model."""
    if model[0] == "line":
        vx, vy, x0, y0 = model[1]
        return float(np.abs((points[:, 0] - x0) * vy - (points[:, 1] - y0) * vx).mean())
    (cx, cy), (major, minor), angle = model[1]
    if min(major, minor) < 2:
        return float("inf")
    cos_a, sin_a = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    u, v = dx * cos_a + dy * sin_a, -dx * sin_a + dy * cos_a
    radius = np.hypot(u / (major / 2.0), v / (minor / 2.0))
    return float((np.abs(radius - 1.0) * min(major, minor) / 2.0).mean())


def _fit(points: np.ndarray, shape: tuple[int, int]) -> Optional[tuple]:
    """The better of a line and an ellipse through ``points`` (x, y), if either fits."""
    models = [("line", cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())]
    if len(points) >= 5:
        ellipse = cv2.fitEllipse(points.astype(np.float32))
        # An arc of an ellipse much larger than the picture is a line (and ill-determined as an ellipse).
        if MIN_AXIS <= min(ellipse[1]) and max(ellipse[1]) < 4 * max(shape):
            models.append(("ellipse", ellipse))
    scored = [(_residual(m, points), m) for m in models]
    residual, model = min(scored, key=lambda pair: pair[0])
    return model if residual <= MAX_RESIDUAL else None


def _backed_crossings(samples: np.ndarray, hole: np.ndarray, edge_distance: np.ndarray, reach: float,
                      unseen: np.ndarray, support: float = SUPPORT_DISTANCE,
                      share: float = BACKED_SHARE) -> list[slice]:
    """The runs of ``samples`` through the hole whose two ends, where the curve leaves the hole, are backed by
    an edge that follows the curve (within ``SUPPORT_DISTANCE`` px of ``BACKED_SHARE`` of its samples over its
    first ``reach`` px outside, not counting the ``unseen`` pixels where no edge is looked for): an edge that
    merely touches the curve there does not count, and a curve is not guessed on beyond what it crosses."""
    h, w = hole.shape
    xs, ys = np.round(samples[:, 0]).astype(int), np.round(samples[:, 1]).astype(int)
    inside_picture = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    in_hole = np.zeros(len(samples), bool)
    in_hole[inside_picture] = hole[ys[inside_picture], xs[inside_picture]]
    step = float(np.median(np.hypot(*np.diff(samples, axis=0).T))) or 1.0
    count = max(2, int(np.ceil(reach / step)))

    def backed(outward: range) -> bool:
        near = [k for k in outward if inside_picture[k] and not in_hole[k] and not unseen[ys[k], xs[k]]]
        return len(near) >= count // 4 and float(np.mean(
            [edge_distance[ys[k], xs[k]] <= support for k in near])) >= share

    runs = []
    changes = np.nonzero(in_hole[:-1] != in_hole[1:])[0]
    for enter, leave in zip(changes[:-1], changes[1:]):
        if in_hole[enter + 1] and backed(range(enter, max(-1, enter - count), -1)) and \
                backed(range(leave + 1, min(len(samples), leave + 1 + count))):
            runs.append(slice(enter, leave + 2))
    return runs


def _disc(radius: int) -> np.ndarray:
    """A round structuring element of ``radius`` px."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _ellipse_distance(ellipse: tuple, points: np.ndarray) -> np.ndarray:
    """Approximate distance (px) of ``points`` (N×2, x y) to the ellipse's outline."""
    (cx, cy), (major, minor), angle = ellipse
    cos_a, sin_a = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    u, v = dx * cos_a + dy * sin_a, -dx * sin_a + dy * cos_a
    radius = np.hypot(u / (major / 2.0), v / (minor / 2.0))
    return np.abs(radius - 1.0) * min(major, minor) / 2.0


def _ransac_ellipse(points: np.ndarray, shape: tuple[int, int], rng: np.random.Generator):
    """The ellipse through most of ``points`` (within ``ARC_INLIER`` px), refitted on them; None if none
    holds ``ARC_MIN_POINTS``. Returns (ellipse, inlier mask)."""
    # The trials are scored on a sample of the points (the count scaled back), the winner on all of them.
    sample = points[rng.choice(len(points), min(len(points), ARC_SAMPLE), replace=False)]
    scale = len(points) / len(sample)
    best, best_count = None, (ARC_MIN_POINTS - 1) / scale
    for _ in range(ARC_TRIALS):
        pick = sample[rng.choice(len(sample), 5, replace=False)].astype(np.float32)
        try:
            ellipse = cv2.fitEllipse(pick)
        except cv2.error:
            continue
        if not (MIN_AXIS <= min(ellipse[1]) and max(ellipse[1]) < 2 * max(shape)):
            continue
        count = int(np.count_nonzero(_ellipse_distance(ellipse, sample) <= ARC_INLIER))
        if count > best_count:
            best, best_count = ellipse, count
    if best is None:
        return None
    inliers = _ellipse_distance(best, points) <= ARC_INLIER
    if np.count_nonzero(inliers) < ARC_MIN_POINTS:
        return None
    refit = cv2.fitEllipse(points[inliers].astype(np.float32))
    if MIN_AXIS <= min(refit[1]) and max(refit[1]) < 2 * max(shape):
        refined = _ellipse_distance(refit, points) <= ARC_INLIER
        if np.count_nonzero(refined) >= np.count_nonzero(inliers):
            best, inliers = refit, refined
    return best, inliers


def _depth_along(samples: np.ndarray, depth: np.ndarray) -> float:
    """The largest ``depth`` (px into the hole) at the points ``samples`` (x, y) of a curve."""
    h, w = depth.shape
    xs = np.clip(np.round(samples[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(samples[:, 1]).astype(int), 0, h - 1)
    return float(depth[ys, xs].max())


def continue_region_arcs(hole: np.ndarray, labels: np.ndarray, ring: int = 2, seed: int = 0) -> np.ndarray:
    """``labels`` with each large region's outline continued through the ``hole`` where it is an ellipse
    arc seen on both sides of the hole (a saucer's rim behind a cup): hole pixels on the region's side of
    the ellipse that the map gave to a region beyond it (the table) become the region's, and hole pixels
    beyond the ellipse given to the region become the main region's beyond it. The region map's own
    continuation (``layerdecomp.segments``) carries boundaries on straight: a rim behind a cup became a wedge."""
    hole = np.asarray(hole, bool)
    if not hole.any() or hole.all():
        return labels
    clearance = ring + 2
    near_hole = cv2.dilate(hole.astype(np.uint8), _disc(clearance)) > 0
    known = ~near_hole
    rng = np.random.default_rng(seed)
    out = labels.copy()
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    counts = np.bincount(labels[hole])
    depth = None  # px into the hole, per pixel
    done = 0
    for region in [int(r) for r in np.argsort(-counts) if counts[r] > 0][:MAX_ARCS + 2]:  # the largest in the hole
        if done >= MAX_ARCS:
            break
        mine = (labels == region) & known
        others = known & ~mine
        boundary = mine & (cv2.dilate(others.astype(np.uint8), cross) > 0)
        ys, xs = np.nonzero(boundary)
        if len(xs) < ARC_MIN_POINTS:
            continue
        points = np.stack([xs, ys], axis=1).astype(np.float64)
        found = _ransac_ellipse(points, hole.shape, rng)
        if found is None:
            continue
        ellipse, inliers = found
        on_arc = np.zeros(hole.shape, bool)
        on_arc[ys[inliers], xs[inliers]] = True
        # Backed by the region's outline itself next to the hole (the fit is a compromise all round).
        arc_distance = cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, 3)
        samples = _curve_points(("ellipse", ellipse), hole.shape)
        runs = _backed_crossings(samples, hole, arc_distance, ARC_REACH, near_hole, ARC_SUPPORT, ARC_SHARE)
        # The arc must cut through the hole, not run along its edge (the outline of a region that follows
        # the object's own silhouette, a glow or a fringe beside it, is not a rim behind it).
        if depth is None:  # (the same for every region: made once, when a region first gets this far)
            depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        if not any(_depth_along(samples[run], depth) >= ARC_DEPTH for run in runs):
            continue
        inside = np.zeros(hole.shape, np.uint8)
        cv2.fillPoly(inside, [np.round(samples).astype(np.int32)], 1)
        inside = inside.astype(bool)
        # Which side of the arc the region lies on, and which region lies beyond it (next to the inliers).
        next_to_arc = cv2.dilate(on_arc.astype(np.uint8), _disc(3)) > 0
        region_inside = inside[mine & next_to_arc].mean() > 0.5
        beyond = others & next_to_arc & (inside != region_inside)
        if not beyond.any():
            continue
        # The regions beyond the arc (a table of several tones): each holding a tenth of its side.
        shares = np.bincount(labels[beyond]) / np.count_nonzero(beyond)
        outer_regions = [r for r in np.flatnonzero(shares >= 0.1) if r != region]
        if not outer_regions:
            continue
        mine_side = inside if region_inside else ~inside
        # Only near the arc: the rim decides which region is where next to it, not across the whole hole
        # (a round region, a flower's outline beside a head, would otherwise take over half of it).
        arc = np.zeros(hole.shape, np.uint8)
        cv2.polylines(arc, [np.round(samples[run]).astype(np.int32) for run in runs], False, 1, 1)
        near_arc = hole & (cv2.distanceTransform(1 - arc, cv2.DIST_L2, 3) <= ARC_BAND)
        out[near_arc & mine_side & np.isin(labels, outer_regions)] = region
        out[near_arc & ~mine_side & (labels == region)] = int(np.argmax(shares))
        done += 1
    return out


def continue_curves(image: np.ndarray, hole: np.ndarray, labels: np.ndarray, ring: int = 2) -> np.ndarray:
    """``labels`` (the region map, int32) with the lines and ellipse arcs that cross the ``hole`` of
    ``image`` (RGB uint8) drawn in as regions of their own (see the module docstring)."""
    hole = np.asarray(hole, bool)
    if not hole.any() or hole.all():
        return labels
    labels = continue_region_arcs(hole, labels, ring)
    gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (0, 0), EDGE_SMOOTH)
    # The hole's own border blurs into an edge: keep clear of it by the blur's reach.
    clearance = ring + int(np.ceil(2 * EDGE_SMOOTH))
    near_hole = cv2.dilate(hole.astype(np.uint8), _disc(clearance)) > 0
    around = (cv2.dilate(hole.astype(np.uint8), _disc(REACH)) > 0) & ~near_hole
    edges = (cv2.Canny(gray, *CANNY) > 0) & ~near_hole & ~hole
    if np.count_nonzero(edges & around) < MIN_EDGE_PIXELS:
        return labels
    edge_distance = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, 3)
    count, components, stats, _ = cv2.connectedComponentsWithStats(edges.astype(np.uint8), connectivity=8)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1
    out = labels.copy()
    next_label = int(labels.max()) + 1
    drawn = 0
    for component in order:
        if drawn >= MAX_CURVES or stats[component, cv2.CC_STAT_AREA] < MIN_EDGE_PIXELS:
            break
        pixels = components == component
        if not (pixels & around).any():  # an edge elsewhere in the picture
            continue
        ys, xs = np.nonzero(pixels)
        model = _fit(np.stack([xs, ys], axis=1).astype(np.float64), hole.shape)
        if model is None:
            continue
        samples = _curve_points(model, hole.shape)
        runs = _backed_crossings(samples, hole, edge_distance, clearance + REACH / 2, near_hole)
        if not runs:
            continue
        curve = np.zeros(hole.shape, np.uint8)
        cv2.polylines(curve, [np.round(samples[run]).astype(np.int32) for run in runs], False, 1, THICKNESS)
        # The curve's pixels in the hole, and the edge pixels that follow it outside: the region's sources.
        outside = np.zeros(hole.shape, np.uint8)
        cv2.polylines(outside, [np.round(samples).astype(np.int32)], model[0] == "ellipse", 1, THICKNESS)
        supported = ((curve > 0) & hole) | ((outside > 0) & (edge_distance <= SUPPORT_DISTANCE) & around)
        out[supported] = next_label
        next_label += 1
        drawn += 1
    return out
