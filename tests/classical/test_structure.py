"""Lines and ellipse arcs crossing the hole are continued (layerdecomp.structure, used by the fill)."""

import cv2
import numpy as np

from layerdecomp import fill, structure


def picture_with(draw) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = np.clip(180 + rng.normal(0, 6, (200, 200, 3)), 0, 255).astype(np.uint8)
    draw(image)
    return image


def test_an_ellipse_crossing_the_hole_becomes_a_region_and_is_continued():
    image = picture_with(lambda im: cv2.ellipse(im, (100, 100), (80, 50), 0, 0, 360, (40, 40, 40), 3))
    hole = np.zeros((200, 200), np.uint8)
    cv2.circle(hole, (100, 50), 22, 1, -1)  # over the top of the ellipse
    hole = hole.astype(bool)
    damaged = image.copy()
    damaged[hole] = 0
    labels = structure.continue_curves(damaged, hole, np.zeros((200, 200), np.int32))
    on_curve = np.zeros((200, 200), np.uint8)
    cv2.ellipse(on_curve, (100, 100), (80, 50), 0, 0, 360, 1, 1)
    inside = on_curve.astype(bool) & hole
    near_curve = cv2.distanceTransform(1 - on_curve, cv2.DIST_L2, 3) <= 8
    # The arc through the hole (its two edges: the rim is 3 px thick) is a region of its own, nothing else is.
    marked = hole & (labels > 0)
    assert marked.sum() > 2 * inside.sum() and near_curve[marked].mean() > 0.95
    out = fill.fill(damaged, hole)
    assert out[inside].mean() < 110  # the rim is continued, dark, through the hole


def test_a_curve_seen_on_one_side_only_is_not_guessed_through():
    image = picture_with(lambda im: cv2.line(im, (0, 100), (90, 100), (40, 40, 40), 3))  # ends in the hole
    hole = np.zeros((200, 200), bool)
    hole[70:130, 80:140] = True
    damaged = image.copy()
    damaged[hole] = 0
    labels = structure.continue_curves(damaged, hole, np.zeros((200, 200), np.int32))
    assert not labels.any()
