import cv2
import numpy as np

from layerdecomp import fill
from layerdecomp.eval import metrics


def stripes(size=160):
    y, x = np.mgrid[:size, :size]
    value = 127 + 100 * np.sin(2 * np.pi * (x + 0.5 * y) / 9.0)
    image = np.dstack([value, np.full_like(value, 90.0), 255 - value])
    return np.clip(image, 0, 255).astype(np.uint8)


def disk_hole(size=160, radius=30):
    hole = np.zeros((size, size), np.uint8)
    cv2.circle(hole, (size // 2, size // 2), radius, 1, -1)
    return hole.astype(bool)


def test_fill_changes_only_the_hole_and_is_deterministic():
    image, hole = stripes(), disk_hole()
    damaged = image.copy()
    damaged[hole] = 0
    a = fill.fill(damaged, hole, seed=3)
    b = fill.fill(damaged, hole, seed=3)
    assert a.dtype == np.uint8 and a.shape == image.shape
    assert (a[~hole] == damaged[~hole]).all()
    assert (a == b).all()
    assert a[hole].mean() > 40  # something was filled in


def test_fill_keeps_texture_where_diffusion_inpainting_smears():
    image, hole = stripes(), disk_hole()
    damaged = image.copy()
    damaged[hole] = 0
    ours = fill.fill(damaged, hole)
    smeared = cv2.inpaint(damaged, hole.astype(np.uint8), 3, cv2.INPAINT_NS)
    assert metrics.detail_ratio(ours, image, hole) > 0.5
    assert metrics.detail_ratio(ours, image, hole) > 2 * metrics.detail_ratio(smeared, image, hole)


def test_coarse_pass_for_large_holes_keeps_outside_and_texture():
    image, hole = stripes(200), disk_hole(200, 45)
    damaged = image.copy()
    damaged[hole] = 0
    out = fill.fill(damaged, hole, max_hole_pixels=1500)  # forces the shrunk PatchMatch + detail transfer
    assert (out[~hole] == damaged[~hole]).all()
    assert metrics.detail_ratio(out, image, hole) > 0.4
    assert np.abs(out[hole].astype(float).mean(0) - image[hole].astype(float).mean(0)).max() < 25


def test_empty_hole_is_a_copy():
    image = stripes(32)
    out = fill.fill(image, np.zeros((32, 32), bool))
    assert (out == image).all() and out is not image


def test_regions_keep_each_side_of_a_boundary_in_its_own_texture():
    """A hole across the border of two textured regions: each side is continued with its own region."""
    from tests.classical.test_segments import two_regions

    image = two_regions(200, boundary=90)
    hole = np.zeros((200, 200), bool)
    hole[50:140, 60:140] = True
    damaged = image.copy()
    damaged[hole] = 0
    rows = np.arange(200)[:, None].repeat(200, axis=1)

    def right_side_share(out):
        red_ish = out[..., 0].astype(int) > out[..., 2].astype(int)
        return (red_ish == (rows < 90))[hole].mean()

    guided = fill.fill(damaged, hole)
    assert right_side_share(guided) > 0.95
    assert (guided[~hole] == damaged[~hole]).all()


def test_progress_of_the_fill_is_in_order_and_ends_at_one():
    image, hole = stripes(200), disk_hole(200, 45)
    for max_hole_pixels in (100_000, 1500):  # full resolution, then shrunk + detail transfer
        fractions = []
        fill.fill(image, hole, max_hole_pixels=max_hole_pixels, progress=fractions.append)
        assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions.count(1.0) == 1
