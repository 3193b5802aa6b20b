"""The plate's per-pixel work on strips around the object (layerdecomp.plate) is the whole crop's, only cheaper."""

import cv2
import pytest
import numpy as np

from layerdecomp import plate


def soft_object(size=300, seed=0):
    """A contrasty textured picture with a disc whose alpha falls off over 6 px, and an estimate of its
    colours: the soft edge's weights spread between 0 and 1, so any strip cut short shows."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 1.5)
    image = np.clip((image - image.mean()) * 3 + 128, 0, 255)
    yy, xx = np.mgrid[:size, :size]
    alpha = np.clip((90 - np.hypot(yy - size / 2, xx - size / 2)) / 6.0, 0, 1).astype(np.float32)
    alpha = np.round(alpha * 255) / 255
    foreground = np.broadcast_to(np.array([200, 60, 40], np.float32), image.shape).copy()
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * image
    return image.astype(np.float32), alpha, foreground


def test_strips_cover_every_pixel_once_and_reach_the_margin():
    where = np.zeros((200, 300), bool)
    where[10, 5] = where[150, 290] = where[100, 64:200] = True
    covered = np.zeros(where.shape, int)
    for outer, inner in plate.strips(where, margin=7, tile=32):
        covered[inner] += 1
        assert outer[0].start == max(0, inner[0].start - 7) and outer[1].stop == min(300, inner[1].stop + 7)
    assert covered.max() == 1 and covered[where].min() == 1


def test_the_soft_edge_on_strips_equals_the_whole_crop():
    image, alpha, foreground = soft_object()
    local, weight = plate.soft_edge_weight(image, alpha, foreground)
    seen = plate.nearest_background(image, alpha <= 0)
    everywhere = (slice(0, image.shape[0]), slice(0, image.shape[1]))
    whole_local, whole_weight = plate._soft_edge_here(image, alpha, foreground, seen(everywhere),
                                                      plate.near_absent(alpha))
    edge = (alpha > 0) & (alpha < 1)
    assert edge.sum() > 2000 and ((weight[edge] > 0.05) & (weight[edge] < 0.95)).mean() > 0.3
    assert np.abs(weight - whole_weight).max() < 1e-4
    assert np.abs(local[edge] - whole_local[edge]).max() < 1e-2
    assert not weight[~edge].any()


def test_the_band_differences_on_strips_equal_the_whole_crop():
    image, alpha, _ = soft_object(seed=1)
    rng = np.random.default_rng(2)
    fill = image + rng.normal(0, 20, image.shape).astype(np.float32)  # off by a different amount everywhere
    band = (alpha <= 0) & (cv2.dilate((alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    got = plate.boundary_differences(image, fill, band)
    difference = (image - fill) * band[..., None]
    blur = lambda x: plate._blur(x, plate.BOUNDARY_SMOOTH)  # noqa: E731
    mean = blur(difference) / np.maximum(blur(band.astype(np.float32)), 1e-6)[..., None]
    own = np.linalg.norm(difference, axis=2) <= np.linalg.norm(mean, axis=2)
    expected = np.where(own[..., None], difference, mean) * band[..., None]
    assert np.abs(got - expected).max() < 1e-3 and np.abs(got[band]).mean() > 1


@pytest.mark.parametrize("radius", [40, 120])  # solved as it is / on a shrunk copy
def test_the_fill_meets_the_soft_edges_own_background_without_a_seam(radius):
    # The picture next to the object says the fill is right (100); through the object's soft edge a
    # lighter background (140) is seen and trusted. The plate takes that background there, and the fill
    # must meet it: without the soft edge as a boundary of the membrane the fill stays at 100 right beside
    # it (a seam of 40 levels along the outline: the ghost).
    size = 2 * radius + 40
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    region, band = r < radius, (r >= radius) & (r < radius + 4)
    image = np.full((size, size, 3), 100.0, np.float32)
    fill = image.copy()
    ring = (r >= radius - 10) & (r < radius - 2)
    seen = np.full_like(image, 140.0)
    trust = ring.astype(np.float32)
    plain = plate.blend_into_picture(image, fill, region, band)
    blended = plate.blend_into_picture(image, fill, region, band, seen, trust)
    assert np.abs(plain[ring] - 100).max() < 1e-3
    assert np.abs(blended[ring] - 140).mean() < 6
    just_inside = (r >= radius - 13) & (r < radius - 10)
    assert blended[just_inside].mean() > 130
    assert np.array_equal(blended[~region], fill[~region])


def ramp_over_red(textured, size=160, seed=0):
    """A red object over a darker red background, the matting's alpha a 14 px ramp. Untextured, the picture
    is that ramp's mix (a soft edge seen through); textured, the object also has its own highlights where
    the alpha is fractional (an opaque part the matting left fractional because it has the background's
    colours: the README example's cup handle over the saucer)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    alpha = np.clip((50 - np.hypot(yy - size / 2, xx - size / 2)) / 14.0, 0, 1).astype(np.float32)
    alpha = np.round(alpha * 255) / 255
    background = np.broadcast_to(np.array([90, 20, 10], np.float32), (size, size, 3))
    foreground = np.broadcast_to(np.array([200, 60, 40], np.float32), (size, size, 3)).copy()
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    if textured:
        spots = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.0)
        image = image + (spots * 30 * (alpha > 0))[..., None]
    return np.clip(image, 0, 255).astype(np.float32), alpha, foreground


def test_a_local_background_more_detailed_than_the_picture_is_not_taken(monkeypatch):
    # (I - aF) / (1 - a) over a textured opaque part is that texture amplified: agreeing in colour with the
    # background next to it, it passed every other test and drew the handle into the plate.
    ramp = lambda image, alpha: (alpha > 0.05) & (alpha < 0.7)  # noqa: E731
    image, alpha, foreground = ramp_over_red(textured=False)
    _, weight = plate.soft_edge_weight(image, alpha, foreground)
    assert weight[ramp(image, alpha)].mean() > 0.95  # a soft edge seen through keeps its background
    image, alpha, foreground = ramp_over_red(textured=True)
    _, weight = plate.soft_edge_weight(image, alpha, foreground)
    assert weight[ramp(image, alpha)].mean() < 0.5
    monkeypatch.setattr(plate, "DETAIL_RATIO", 1e9)  # without the rule it was taken
    _, weight = plate.soft_edge_weight(image, alpha, foreground)
    assert weight[ramp(image, alpha)].mean() > 0.9


def test_fractional_alpha_deep_inside_the_object_is_not_seen_through():
    # A 40 px ramp of alpha, the picture its exact mix: near the pixels the object leaves uncovered the
    # soft edge's background is taken; deeper than twice NEAR_ABSENT it is the matting's doubt about an
    # opaque part (no background is seen through there), and the plate is the fill.
    size = 200
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    alpha = np.round(np.clip((80 - r) / 40.0, 0, 1) * 255).astype(np.float32) / 255
    background = np.broadcast_to(np.array([60, 90, 160], np.float32), (size, size, 3))
    foreground = np.broadcast_to(np.array([200, 60, 40], np.float32), (size, size, 3)).copy()
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    _, weight = plate.soft_edge_weight(image, alpha, foreground)
    near, deep = (r > 70) & (r < 78), (r > 40) & (r < 80 - 2 * plate.NEAR_ABSENT - 1)
    assert weight[near].mean() > 0.9 and deep.any() and weight[deep].max() == 0


def test_a_gap_enclosed_by_the_object_does_not_tint_the_fill(monkeypatch):
    # An opaque red disc over grey (100) with a gap in its middle whose soft rim shows white through it
    # (a sliver the matting opened inside a cup over its white inside). That "background" is the object's
    # own colour: the plate under the object stays the fill (100) away from the gap, with no glow spread
    # from it, while a soft edge along the object's outside still draws the fill to what it shows.
    size = 240
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    outer = np.clip((100 - r) / 12.0, 0, 1)
    inner = np.clip((r - 8) / 10.0, 0, 1)
    alpha = np.round(outer * inner * 255).astype(np.float32) / 255
    red = np.broadcast_to(np.array([200, 40, 30], np.float32), (size, size, 3))
    seen = np.where((r < 40)[..., None], 245.0, 100.0).astype(np.float32)  # white through the gap only
    image = alpha[..., None] * red + (1 - alpha[..., None]) * seen
    alpha8 = np.round(alpha * 255).astype(np.uint8)
    fill = np.full((size, size, 3), 100.0, np.float32)
    hole = r < 120
    away = (r > 45) & (r < 80)

    def glow(near):
        monkeypatch.setattr(plate, "near_the_outside", near)
        return np.abs(plate.plate_under_object(image, fill, alpha8, red.copy(), hole)[away] - 100).mean()

    assert glow(plate.near_the_outside) < 2
    assert glow(lambda a: np.ones(a.shape, np.float32)) > 5  # (the rule is what keeps it out)


def test_near_the_outside_is_the_uncovered_picture_connected_to_the_border():
    alpha8 = np.full((100, 100), 255, np.uint8)
    alpha8[:, :10] = 0  # the picture beside the object
    alpha8[48:52, 48:52] = 0  # a gap the object encloses
    near = plate.near_the_outside(alpha8)
    assert near[50, 10 + int(plate.NEAR_ABSENT) - 1] == 1 and near[50, 10 + int(2 * plate.NEAR_ABSENT) + 1] == 0
    assert near[50, 50] == 0


def test_a_plateau_of_fractional_alpha_is_seen_through_however_deep():
    # A grey selection's own level (alpha 0.5 over a wide disc) is not the matting's doubt about an opaque
    # part: deeper than NEAR_ABSENT it is still a background seen through, and the plate takes it.
    size = 200
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    alpha = np.where(r < 80, 0.5, 0.0).astype(np.float32)
    background = np.broadcast_to(np.array([60, 90, 160], np.float32), (size, size, 3))
    foreground = np.broadcast_to(np.array([200, 60, 40], np.float32), (size, size, 3)).copy()
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    _, weight = plate.soft_edge_weight(image, alpha, foreground)
    deep = r < 80 - 2 * plate.NEAR_ABSENT - 8
    assert deep.any() and weight[deep].min() > 0.9
