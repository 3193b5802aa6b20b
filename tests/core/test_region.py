import numpy as np
import pytest

from layerdecomp.crop import DEFAULT_GROW, default_margin
from layerdecomp.region import plan_region, selection_bounds
from layerdecomp.types import Box


def test_selection_bounds_is_the_tight_box():
    mask = np.zeros((50, 60), np.uint8)
    mask[10:20, 30:45] = 7
    assert selection_bounds(mask) == Box(30, 10, 15, 10)


def test_crop_is_bounds_plus_grow_plus_margin_clipped_to_canvas():
    mask = np.zeros((100, 100), np.uint8)
    mask[40:60, 2:10] = 255
    region = plan_region(mask, margin=10, grow=3)
    assert region.box == Box(0, 27, 23, 46)
    assert region.hole.shape == (46, 23)


def test_hole_is_the_selection_dilated_by_grow():
    mask = np.zeros((64, 64), np.uint8)
    mask[32, 32] = 1  # the faintest selection still counts
    region = plan_region(mask, margin=0, grow=3)
    hole = np.zeros((64, 64), bool)
    hole[region.box.slices] = region.hole
    ys, xs = np.nonzero(hole)
    assert hole[32, 32] and hole[29, 32] and hole[32, 35]
    assert not hole[28, 32] and not hole[32, 36]
    assert ys.min() == 29 and xs.max() == 35


def test_grow_zero_keeps_the_selection_exactly():
    rng = np.random.default_rng(0)
    mask = (rng.random((40, 40)) > 0.7).astype(np.uint8) * 255
    region = plan_region(mask, margin=5, grow=0)
    full = np.zeros(mask.shape, bool)
    full[region.box.slices] = region.hole
    assert np.array_equal(full, mask > 0)


def test_crop_size_follows_the_selection_not_the_canvas():
    small = np.zeros((1024, 1024), np.uint8)
    large = np.zeros((8192, 8192), np.uint8)
    small[300:812, 300:812] = 255
    large[4000:4512, 4000:4512] = 255
    a, b = plan_region(small), plan_region(large)
    assert (a.box.w, a.box.h) == (b.box.w, b.box.h)


def test_default_margin_scales_with_the_selection_within_bounds():
    assert default_margin(8, 8) == 16
    assert default_margin(400, 100) == 100
    assert default_margin(10000, 10) == 512


def test_negative_settings_are_refused_by_the_one_geometry_check():
    # plan_region takes checked geometry; the core, the server's session and the CLI all check it here.
    from layerdecomp.errors import InvalidInput
    from layerdecomp.options import check_geometry

    for margin, grow in ((-1, None), (None, -1), (None, 1.5), (True, None)):
        with pytest.raises(InvalidInput):
            check_geometry(margin, grow)
    assert check_geometry(None, None) == DEFAULT_GROW and check_geometry(0, 10, (10, 4)) == 10
    with pytest.raises(InvalidInput, match="reaches beyond the 10 x 4 picture"):
        check_geometry(0, 11, (10, 4))
