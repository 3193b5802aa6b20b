"""Layers with transparency: object-over-background is the input in alpha and premultiplied colour, at EVERY
pixel (inside the hole too), for the layers painters split: soft discs, feathered cut-outs, half-transparent
layers, strokes over transparency; through the Python API and the ``decompose`` command."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

import layerdecomp
from layerdecomp.layering_rgba import colour_seen, plate_alpha_behind


def over(foreground: np.ndarray, background: np.ndarray, visibility: np.ndarray) -> tuple:
    """Porter-Duff "over" of straight-alpha RGBA uint8 layers (the object masked by ``visibility``, as Krita's
    transparency mask does): ``(alpha, premultiplied colour)`` in 0..255 units."""
    a = foreground[..., 3:4] / 255.0 * (visibility[..., None] / 255.0)
    b = background[..., 3:4] / 255.0
    alpha = a + b * (1.0 - a)
    colour = a * foreground[..., :3] + (1.0 - a) * b * background[..., :3]
    return alpha[..., 0] * 255.0, colour


def composite_error(image: np.ndarray, out) -> tuple:
    """``(alpha error, premultiplied colour error)``: the largest, over every pixel, in 0..255 units."""
    alpha, colour = over(out.foreground.astype(np.float64), out.background.astype(np.float64), out.visibility)
    expected = image[..., 3:4] / 255.0 * image[..., :3]
    return np.abs(alpha - image[..., 3]).max(), np.abs(colour - expected).max()


def assert_exact_everywhere(image: np.ndarray, out) -> None:
    alpha_error, colour_error = composite_error(image, out)
    assert alpha_error <= 1.0 and colour_error <= 1.0, (alpha_error, colour_error)
    # Each layer is a proper part of the picture: the object is never more opaque than the layer was.
    assert (out.foreground[..., 3] <= image[..., 3]).all()
    assert out.background.shape == image.shape


def soft_disc(size=200, core=50, ramp=30, colour=(200, 60, 40), hidden_colour=(0, 0, 0)) -> np.ndarray:
    """An opaque disc whose alpha falls to 0 over ``ramp`` px, on a transparent layer whose transparent pixels
    store ``hidden_colour``."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5)
    alpha = np.clip((core + ramp - r) / ramp, 0, 1)
    image = np.zeros((size, size, 4), np.uint8)
    image[..., :3] = colour
    image[alpha == 0, :3] = hidden_colour
    image[..., 3] = np.rint(alpha * 255)
    return image


def square(size: int, start: int, stop: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[start:stop, start:stop] = 255
    return mask


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Photo-like colour: smooth shapes with some grain."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (4, 4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("hidden_colour", [(0, 0, 0), (200, 60, 40)])
def test_a_soft_disc_cut_by_a_square_is_the_input_at_every_pixel(hidden_colour):
    # The case: the square ends inside the disc's soft edge (alpha ~0.4-0.8 at the hole's border).
    image = soft_disc(hidden_colour=hidden_colour)
    out = layerdecomp.decompose(image, square(200, 40, 160), backend="classical")
    assert_exact_everywhere(image, out)


def test_a_whole_soft_disc_goes_to_the_object_and_leaves_the_plate_transparent():
    image = soft_disc()
    out = layerdecomp.decompose(image, square(200, 15, 185), backend="classical")
    assert_exact_everywhere(image, out)
    disc = image[..., 3] > 0
    # Nothing was behind the disc: the plate is transparent where it was, the object is the disc itself.
    assert not out.background[..., 3][disc].any()
    assert np.array_equal(out.foreground[disc], image[disc])


def test_a_feathered_cut_out_is_the_input_at_every_pixel():
    # A photo cut out with a feathered edge; an object inside it and a selection that crosses the feather.
    h = w = 160
    image = np.dstack([textured(h, w, 5), np.zeros((h, w), np.uint8)])
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - 80) / 60.0) ** 2 + ((xx - 80) / 70.0) ** 2 <= 1
    image[..., 3] = np.clip(cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 6.0) * 255, 0, 255).round()
    blob = np.hypot(yy - 70, xx - 110) < 22
    image[blob, :3] = [30, 40, 170]
    for mask in (np.where(np.hypot(yy - 70, xx - 110) < 28, 255, 0).astype(np.uint8), square(160, 90, 158)):
        out = layerdecomp.decompose(image, mask, backend="classical")
        assert_exact_everywhere(image, out)


def test_a_half_transparent_layer_keeps_its_transparency_and_the_object_its_look():
    h = w = 120
    image = np.dstack([textured(h, w, 11), np.full((h, w), 128, np.uint8)])
    yy, xx = np.mgrid[:h, :w]
    blob = np.hypot(yy - 60, xx - 60) < 20
    image[blob, :3] = [240, 220, 30]
    mask = np.where(np.hypot(yy - 60, xx - 60) < 26, 255, 0).astype(np.uint8)
    out = layerdecomp.decompose(image, mask, backend="classical")
    assert_exact_everywhere(image, out)
    # The object is as opaque as the layer (not more, not a fainter copy), the plate keeps 128 wherever the
    # object is absent and is transparent under its middle (only the object was there).
    middle = np.hypot(yy - 60, xx - 60) < 12
    assert (np.abs(out.foreground[..., 3][middle].astype(int) - 128) <= 1).all()
    assert (out.background[..., 3][out.foreground[..., 3] == 0] == 128).all()
    assert not out.background[..., 3][middle].any()


def test_a_painted_stroke_over_transparency_is_the_input_at_every_pixel():
    h, w = 120, 180
    alpha = np.zeros((h, w), np.uint8)
    cv2.line(alpha, (20, 90), (160, 30), 255, 9)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 3.0)
    image = np.dstack([np.zeros((h, w, 3), np.uint8), alpha])
    image[alpha > 0, :3] = [20, 90, 200]
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (90, 60), (40, 30), 0, 0, 360, 255, -1)  # a lasso around the stroke's middle
    out = layerdecomp.decompose(image, mask, backend="classical")
    assert_exact_everywhere(image, out)
    # Inside the lasso the stroke is the object's: the plate is transparent where the stroke was (its alpha is
    # continued from where the stroke leaves the lasso, as a fill continues colour: a few px at the ends).
    inner = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    core = (inner > 10) & (alpha >= 200)
    assert core.any() and not out.background[..., 3][core].any()


def test_an_opaque_rgba_layer_splits_as_its_colour_does():
    rgb = textured(96, 96, 2)
    mask = square(96, 30, 66)
    from_rgb = layerdecomp.decompose(rgb, mask, backend="classical")
    from_rgba = layerdecomp.decompose(np.dstack([rgb, np.full((96, 96), 255, np.uint8)]), mask, backend="classical")
    assert np.array_equal(from_rgba.foreground, from_rgb.foreground)
    assert np.array_equal(from_rgba.background[..., :3], from_rgb.background)
    assert (from_rgba.background[..., 3] == 255).all()


def test_transparent_pixels_show_the_nearest_visible_colour_to_the_backend():
    image = np.zeros((1, 5, 4), np.uint8)
    image[0, 1] = [10, 20, 30, 255]
    image[0, 3] = [90, 80, 70, 1]
    assert colour_seen(image).tolist() == [[[10, 20, 30], [10, 20, 30], [10, 20, 30], [90, 80, 70], [90, 80, 70]]]
    assert colour_seen(image[..., :3]) is not None and np.array_equal(colour_seen(image[..., :3]), image[..., :3])


def test_the_decompose_command_writes_layers_that_are_the_input_at_every_pixel(tmp_path):
    image = soft_disc()
    Image.fromarray(image).save(tmp_path / "disc.png")
    Image.fromarray(square(200, 40, 160)).save(tmp_path / "mask.png")
    done = subprocess.run([sys.executable, "-m", "layerdecomp", "decompose", tmp_path / "disc.png", "--mask",
                           tmp_path / "mask.png", "--out", tmp_path / "out", "--backend", "classical"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    class Files:
        foreground = np.asarray(Image.open(tmp_path / "out" / "foreground.png"))
        background = np.asarray(Image.open(tmp_path / "out" / "background.png"))
        visibility = np.asarray(Image.open(tmp_path / "out" / "visibility.png"))

    assert Files.background.shape == (200, 200, 4)
    assert_exact_everywhere(image, Files)


def test_the_plate_alpha_behind_a_large_object_meets_the_picture_along_its_outline():
    # A large crop takes the small-scale fill; along the outline it must still continue the picture's alpha
    # as the full-size fill does (no step where the object ends), and stay within the alpha around it.
    n = 900
    yy, xx = np.mgrid[:n, :n]
    alpha = np.clip(xx / 3.6, 0, 255).astype(np.uint8)
    support = np.zeros((n, n), bool)
    support[150:750, 150:750] = True
    behind = plate_alpha_behind(alpha, support)
    full = cv2.inpaint(alpha, support.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    outline = support & ~cv2.erode(support.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.abs(behind[outline].astype(int) - full[outline]).max() <= 1
    assert np.array_equal(behind[~support], alpha[~support])
    ring = alpha[149:751, 149:751]
    assert ring.min() - 1 <= behind[support].min() and behind[support].max() <= ring.max() + 1
    # The same alpha all around: the same alpha behind.
    assert (plate_alpha_behind(np.full((n, n), 77, np.uint8), support)[support] == 77).all()
