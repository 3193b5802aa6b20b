import numpy as np
import pytest

from layerdecomp import matting


def two_colour_edge(size=64, width=8):
    """Red object on a blue background with a linear soft edge of ``width`` px along x."""
    x = np.arange(size, dtype=np.float32)
    ramp = np.clip((size / 2 + width / 2 - x) / width, 0, 1)
    alpha = np.tile(ramp, (size, 1))
    fg, bg = np.array([220.0, 40, 30]), np.array([20.0, 60, 200])
    image = np.rint(alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.uint8)
    mask = (alpha >= 0.5).astype(np.uint8) * 255
    hole = np.ones_like(mask, bool)
    return image, mask, hole, alpha, fg, bg


def test_trimap_band_follows_the_edge_and_stays_in_the_hole():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 255
    hole = np.zeros_like(mask, bool)
    hole[8:32, 8:32] = True
    known, unknown = matting.trimap(mask, hole, radius=3)
    assert unknown[10, 20] and unknown[20, 10]  # on the edge
    assert not unknown[20, 20]  # deep inside
    assert not (unknown & ~hole).any()
    assert known[20, 20] == 1 and known[2, 2] == 0


def test_closed_form_recovers_a_two_colour_soft_edge():
    image, mask, hole, alpha, _, _ = two_colour_edge()
    est, _ = matting.matte(image, mask, hole, radius=8)
    assert np.abs(est - alpha).mean() < 0.01
    # The colour models' pull leans towards 0 and 1 (what real photos' bands mostly are): a pure ramp
    # bends a little.
    assert np.abs(est - alpha).max() < 0.1


def test_reduced_scale_solve_with_guided_upsampling_stays_close():
    image, mask, hole, alpha, _, _ = two_colour_edge(size=96, width=10)
    full, _ = matting.matte(image, mask, hole, radius=10)
    reduced, _ = matting.matte(image, mask, hole, radius=10, max_band_pixels=600)
    assert np.abs(reduced - alpha).mean() < 0.03
    assert np.abs(reduced - full).mean() < 0.03


def test_soft_selection_keeps_its_grey_levels_where_the_picture_has_no_edge():
    image = np.full((48, 48, 3), 128, np.uint8)  # flat: the picture says nothing about the object
    mask = np.zeros((48, 48), np.uint8)
    mask[:, :20] = 255
    mask[:, 20:28] = np.linspace(224, 32, 8).astype(np.uint8)
    hole = np.ones_like(mask, bool)
    alpha, _ = matting.matte(image, mask, hole, radius=4)
    assert np.abs(alpha[:, 20:28] - mask[:, 20:28] / 255.0).max() < 0.05


def test_alpha_is_zero_outside_the_hole_for_both_methods():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[12:28, 12:28] = 255
    hole = np.zeros_like(mask, bool)
    hole[10:30, 10:30] = True
    for method in ("closed_form", "guided"):
        alpha, fg = matting.matte(image, mask, hole, method=method)
        assert alpha.dtype == np.float32 and fg.shape == image.shape
        assert (alpha[~hole] == 0).all()
        assert alpha.min() >= 0 and alpha.max() <= 1


def test_unknown_method_is_refused():
    image, mask, hole, *_ = two_colour_edge(size=16)
    with pytest.raises(ValueError):
        matting.matte(image, mask, hole, method="magic")


def test_edge_colours_are_the_objects_not_the_mix():
    image, mask, hole, alpha, fg, bg = two_colour_edge(width=10)
    est_fg, est_bg = matting.estimate_colours(image, alpha)
    soft = (alpha > 0.1) & (alpha < 0.9)
    assert np.abs(est_fg[soft] - fg).mean() < 6  # naive F = I would be ~90 levels off here
    assert np.abs(image[soft] - fg).mean() > 40
    recomposed = alpha[..., None] * est_fg + (1 - alpha[..., None]) * est_bg
    assert np.abs(recomposed - image)[soft].max() < 4


def test_guided_filter_keeps_a_constant():
    guide = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    out = matting.guided_filter(guide, np.full((32, 32), 0.25, np.float32), radius=3)
    assert np.allclose(out, 0.25, atol=1e-4)


def test_warm_up_runs_quickly_without_compiling():
    assert matting.warm_up() < 10.0


def test_a_half_strength_selection_takes_half_of_the_object():
    image, mask, hole, alpha, _, _ = two_colour_edge()
    half = (mask // 2).astype(np.uint8)  # 127 where the object is
    est, _ = matting.matte(image, half, hole, radius=8)
    assert np.abs(est - alpha * 127 / 255).mean() < 0.01


def test_thin_selections_keep_a_known_core():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)
    mask = np.zeros((60, 60), np.uint8)
    mask[:, 30:32] = 255  # a 2-pixel stroke
    mask[10, 10] = 255  # a single pixel
    hole = np.ones_like(mask, bool)
    alpha, _ = matting.matte(image, mask, hole, radius=6)
    assert (alpha[:, 30:32] == 1).all() and alpha[10, 10] == 1


def _disc(size: int, radius: float) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return ((y - size / 2) ** 2 + (x - size / 2) ** 2) < radius**2


def test_background_coloured_texture_inside_the_object_stays_opaque():
    # A red disc with blue spots the colour of the blue background, 10-14 px inside its (exact) outline:
    # near the outline the selection stands, so the spots do not read as background showing through.
    size = 160
    disc = _disc(size, 60)
    red, blue = np.array([200, 40, 30], np.uint8), np.array([30, 50, 190], np.uint8)
    image = np.where(disc[..., None], red, blue).astype(np.uint8)
    y, x = np.mgrid[:size, :size]
    angle, depth = np.arctan2(y - size / 2, x - size / 2), 60 - np.hypot(y - size / 2, x - size / 2)
    spots = disc & (depth > 10) & (depth < 14) & (np.cos(12 * angle) > 0.5)
    image[spots] = blue
    mask = disc.astype(np.uint8) * 255
    alpha, _ = matting.matte(image, mask, np.ones_like(disc))
    assert spots.sum() > 300
    assert alpha[spots].mean() > 0.95
    # ...while the edge itself is still found: the background just outside stays background.
    ring = ~disc & (depth > -6)
    assert alpha[ring].mean() < 0.05


def test_a_loose_selection_sheds_the_background_beyond_the_near_band():
    # The selection runs 10 px outside a red disc on blue: more than the near band reaches, so the colour
    # models' disagreement with the selection must carry the band to the object.
    size = 160
    disc = _disc(size, 50)
    image = np.where(disc[..., None], np.array([200, 40, 30], np.uint8), np.array([30, 50, 190], np.uint8))
    mask = _disc(size, 60).astype(np.uint8) * 255
    alpha, _ = matting.matte(image.astype(np.uint8), mask, np.ones_like(disc), radius=16)
    between = _disc(size, 60) & ~_disc(size, 51)
    assert alpha[between].max() < 0.05
    assert alpha[_disc(size, 49)].min() > 0.95

