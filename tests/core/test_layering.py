"""The layering guarantees, on random pictures, masks and backend results (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from layerdecomp.layering import assemble, layer_crop
from layerdecomp.region import plan_region
from layerdecomp.types import BackendResult


def recomposition_error(image, foreground, background):
    """max |aF + (1-a)B - I| in 0..255 units."""
    a = foreground[..., 3:4].astype(np.float64) / 255.0
    comp = a * foreground[..., :3] + (1.0 - a) * background[..., :3].astype(np.float64)
    return np.abs(comp - image[..., :3]).max(axis=2)


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    h, w = draw(st.integers(4, 40)), draw(st.integers(4, 40))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    # Soft masks: blobs of random grey levels, sometimes hard.
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = rng.integers(0, h), rng.integers(0, w)
    y1, x1 = rng.integers(y0, h) + 1, rng.integers(x0, w) + 1
    mask[y0:y1, x0:x1] = rng.integers(1, 256, (y1 - y0, x1 - x0)) if draw(st.booleans()) else 255
    if mask.min() == 255:
        mask[0, 0] = 0
    region = plan_region(mask, margin=draw(st.integers(0, 8)), grow=draw(st.integers(0, 3)))
    ch, cw = region.hole.shape
    with_estimate = draw(st.booleans())
    result = BackendResult(
        background=rng.integers(0, 256, (ch, cw, 3), dtype=np.uint8),
        alpha=rng.choice([0.0, 1.0, rng.random()], size=(ch, cw)).astype(np.float32)
        if draw(st.booleans())
        else rng.random((ch, cw)).astype(np.float32),
        foreground=rng.random((ch, cw, 3)).astype(np.float32) * 255 if with_estimate else None,
    )
    return image, mask, region, result


@settings(max_examples=300, deadline=None)
@given(cases())
def test_layers_are_faithful(case):
    image, mask, region, result = case
    out = assemble(image, region, result, {})
    hole = np.zeros(mask.shape, bool)
    hole[region.box.slices] = region.hole

    # Outside the dilated selection: the background is the input bit for bit and alpha is 0.
    assert np.array_equal(out.background[~hole], image[~hole])
    assert not out.foreground[..., 3][~hole].any()
    # Foreground over background reproduces the input within 1/255, everywhere (where alpha is 0 the
    # background is the input).
    assert recomposition_error(image, out.foreground, out.background).max() <= 1.0
    assert np.array_equal(out.background[out.foreground[..., 3] == 0], image[out.foreground[..., 3] == 0])
    assert np.array_equal(out.visibility > 0, hole)
    # Full size, right types.
    assert out.foreground.shape == image.shape[:2] + (4,) and out.foreground.dtype == np.uint8
    assert out.background.shape == image.shape and out.background.dtype == np.uint8


def test_opaque_object_takes_the_fill_as_background_and_the_input_as_colour():
    image = np.full((8, 8, 3), 200, np.uint8)
    hole = np.zeros((8, 8), bool)
    hole[2:6, 2:6] = True
    fill = np.full((8, 8, 3), 17, np.uint8)
    fg, bg, vis = layer_crop(image, hole, BackendResult(background=fill, alpha=np.ones((8, 8), np.float32)))
    assert (bg[hole] == 17).all() and (bg[~hole] == 200).all()
    assert (fg[hole] == [200, 200, 200, 255]).all() and not fg[~hole].any()
    assert (vis[hole] == 255).all() and not vis[~hole].any()


def test_edge_colours_follow_the_estimate_not_the_fill():
    # A half-transparent red veil over grey, with grey around it; the fill is grey with made-up texture
    # (+-20 levels). Without an estimate F would be solved against the fill and carry twice its texture;
    # with the estimate the local background is the grey seen around the veil, and the edge stays red.
    true_f, true_b, a = np.array([255.0, 0, 0]), np.array([128.0, 128, 128]), 0.5
    image = np.full((12, 12, 3), true_b, np.uint8)
    image[3:9, 3:9] = np.rint(a * true_f + (1 - a) * true_b)
    hole = np.zeros((12, 12), bool)
    hole[1:11, 1:11] = True
    alpha = np.zeros((12, 12), np.float32)
    alpha[3:9, 3:9] = a
    texture = np.random.default_rng(0).integers(-20, 21, (12, 12, 1))
    fill = np.clip(true_b + texture, 0, 255).astype(np.uint8)
    naive, _, _ = layer_crop(image, hole, BackendResult(background=fill, alpha=alpha))
    est = np.broadcast_to(true_f.astype(np.float32), (12, 12, 3))
    better, bg, _ = layer_crop(image, hole, BackendResult(background=fill, alpha=alpha, foreground=est))
    veil = alpha > 0

    def err(fg):
        return np.abs(fg[veil][:, :3].astype(float) - true_f).mean()

    assert err(better) < 5 < err(naive)
    assert recomposition_error(image, better, bg).max() <= 1.0


def test_recovered_hidden_parts_are_returned_but_marked_invisible():
    image = np.full((10, 10, 3), 90, np.uint8)
    hole = np.zeros((10, 10), bool)
    hole[2:5, 2:5] = True
    amodal = np.zeros((10, 10), np.float32)
    amodal[2:8, 2:5] = 1.0  # the object continues below the selection, behind an occluder
    colours = np.full((10, 10, 3), 33, np.uint8)
    result = BackendResult(
        background=np.zeros((10, 10, 3), np.uint8),
        alpha=hole.astype(np.float32),
        amodal_alpha=amodal,
        amodal_foreground=colours,
    )
    fg, bg, vis = layer_crop(image, hole, result)
    hidden = (amodal > 0) & ~hole
    assert (fg[hidden] == [33, 33, 33, 255]).all()
    assert not vis[hidden].any() and (vis[hole] == 255).all()
    assert (bg[~hole] == 90).all()


def test_rgba_input_keeps_its_transparency_outside_the_hole():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:10, 5:10] = 255
    region = plan_region(mask, margin=2, grow=1)
    ch, cw = region.hole.shape
    result = BackendResult(background=np.zeros((ch, cw, 3), np.uint8), alpha=np.ones((ch, cw), np.float32))
    out = assemble(image, region, result, {})
    hole = np.zeros((20, 20), bool)
    hole[region.box.slices] = region.hole
    assert out.background.shape == (20, 20, 4)
    assert np.array_equal(out.background[~hole], image[~hole])
    # The object is no more opaque than the layer it came from.
    assert (out.foreground[..., 3][hole] <= image[..., 3][hole]).all()


def plate_of_a_square_object(image: np.ndarray, object_columns: slice, fill_level: int) -> np.ndarray:
    """The plate of a 60² crop whose hole is [5:55]² and whose opaque object covers rows 12:48 and
    ``object_columns``, over a flat fill."""
    hole = np.zeros((60, 60), bool)
    hole[5:55, 5:55] = True
    alpha = np.zeros((60, 60), np.float32)
    alpha[12:48, object_columns] = 1.0
    fill = np.full((60, 60, 3), fill_level, np.uint8)
    return layer_crop(image, hole, BackendResult(background=fill, alpha=alpha))[1]


def test_the_fill_meets_the_picture_in_the_gradient_domain():
    # The object covers only the middle of the hole; the fill is 20 levels darker than the picture and
    # striped. The plate keeps the picture where the object is absent, so a fill pasted as made would show
    # the object's outline as a step; blended, it meets the picture and keeps its own texture.
    image = np.full((60, 60, 3), 150, np.uint8)
    stripes = (np.arange(60) % 6 < 3)[None, :, None] * 12
    hole = np.zeros((60, 60), bool)
    hole[5:55, 5:55] = True
    alpha = np.zeros((60, 60), np.float32)
    alpha[12:48, 12:48] = 1.0
    fill = np.broadcast_to(130 + stripes, (60, 60, 3)).astype(np.uint8)
    plate = layer_crop(image, hole, BackendResult(background=fill, alpha=alpha))[1].astype(int)
    under = plate[12:48, 12:48]
    assert abs(under.mean() - 150) <= 3  # the fill's mean moved to the picture's
    # the stripes stay: the same steps between neighbouring columns as in the fill
    assert np.abs(np.diff(under[18, :, 0]) - np.diff(fill[30, 12:48, 0].astype(int))).max() <= 2


def test_a_hard_edge_given_a_ramp_of_alpha_leaves_no_outline_in_the_plate():
    # A red object ends in a hard edge at column 30 over a blue background, but the matting gave the edge
    # a 16 px ramp of alpha. The local background (I - aF) / (1 - a) would be red on the object's side of
    # the ramp (and pushed away from red on the other): the object's outline drawn into the plate. The
    # plate under the ramp is the fill (the true background) instead.
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :30] = [200, 40, 40]
    image[:, 30:] = [40, 60, 170]
    hole = np.zeros((40, 60), bool)
    hole[:, :50] = True
    alpha = np.clip((38 - np.arange(60)) / 16.0, 0, 1)[None, :].repeat(40, axis=0).astype(np.float32)
    fill = np.broadcast_to(np.array([40, 60, 170], np.uint8), (40, 60, 3))
    est = np.broadcast_to(np.array([200, 40, 40], np.float32), (40, 60, 3))
    fg, plate, _ = layer_crop(image, hole, BackendResult(background=fill, alpha=alpha, foreground=est))
    assert np.abs(plate.astype(int) - [40, 60, 170]).max() <= 3
    assert recomposition_error(image, fg, plate).max() <= 1.0


def test_an_occluder_beside_the_object_is_not_smeared_into_the_fill():
    # Where the object ends at something else (an occluder left in the plate), the difference from the
    # fill is that thing, not a seam: the fill next to it stays as made.
    image = np.full((60, 60, 3), 150, np.uint8)
    image[:, 40:] = 20  # a dark occluder on the right
    plate = plate_of_a_square_object(image, slice(12, 40), 150)
    assert np.abs(plate[30, 30:40].astype(int) - 150).max() <= 2


def test_a_rim_brighter_than_the_mix_allows_raises_alpha_not_the_plate():
    # A pixel too bright for alpha 0.6 over this plate (F would have to be 333). Moving the plate to fit
    # would draw a bright line along the outline; the layer takes the least alpha that fits instead.
    image = np.full((6, 6, 3), 100, np.uint8)
    image[3, 3] = [240, 240, 240]
    hole = np.ones((6, 6), bool)
    hole[0, 0] = False
    alpha = np.zeros((6, 6), np.float32)
    alpha[2:5, 2:5] = 1.0
    alpha[3, 3] = 0.6
    fill = np.full((6, 6, 3), 100, np.uint8)
    fg, plate, _ = layer_crop(image, hole, BackendResult(background=fill, alpha=alpha))
    assert fg[3, 3, 3] >= np.floor((240 - 100) / (255 - 100) * 255)  # the least alpha with F <= 255
    assert (plate[3, 3] == 100).all()
    assert recomposition_error(image, fg, plate).max() <= 1.0
