"""The graph cut before the matting (layerdecomp.segmentation): a loose lasso's background goes, holes in
the object are found, a selection that already follows the object's edge stays."""

from __future__ import annotations

import cv2
import numpy as np

from layerdecomp import matting, segmentation


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def ring_on_texture(size: int = 160, seed: int = 0):
    """A red ring (a disc with a 30 px square hole) on a textured blue-green background: image, alpha."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    alpha = (np.hypot(y - size / 2, x - size / 2) < size * 0.3).astype(np.float32)
    alpha[size // 2 - 15:size // 2 + 15, size // 2 - 15:size // 2 + 15] = 0.0
    background = np.dstack([30 + 20 * np.sin(x / 5.0), 120 + 40 * np.sin(y / 7.0), 160 + 30 * np.cos((x + y) / 9.0)])
    background += rng.normal(0, 6, background.shape)
    foreground = np.array([210.0, 50, 40]) + rng.normal(0, 6, background.shape)
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), alpha


def lasso(alpha: np.ndarray, outside: int) -> np.ndarray:
    """A selection ``outside`` px around the object, holes filled (a lasso's outline)."""
    grown = cv2.dilate((alpha > 0).astype(np.uint8), _disk(outside)) if outside else (alpha > 0).astype(np.uint8)
    contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    mask = np.zeros_like(grown)
    cv2.fillPoly(mask, contours, 255)
    return mask


def _hole(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask, _disk(12)) > 0


def test_a_loose_lasso_s_background_and_the_object_s_hole_are_found():
    image, alpha = ring_on_texture()
    mask = lasso(alpha, 15)
    found, doubt, _ = segmentation.segment(image, mask, _hole(mask))
    truth = alpha > 0.5
    background_inside = (mask > 0) & (cv2.dilate(truth.astype(np.uint8), _disk(3)) == 0)
    assert background_inside.sum() > 4000  # the ring around the object and the square hole
    assert np.mean(found[background_inside]) < 0.05
    assert np.mean(found[truth]) > 0.97
    assert not found[80, 80]  # the middle of the hole
    assert np.mean(doubt[background_inside | truth]) < 0.05


def test_a_15_px_and_a_4_px_lasso_give_nearly_the_same_object():
    image, alpha = ring_on_texture(seed=1)
    mattes = [matting.matte(image, lasso(alpha, px), _hole(lasso(alpha, px)), segment=True)[0] for px in (15, 4)]
    assert np.abs(mattes[0] - mattes[1]).mean() < 0.01
    assert np.abs(mattes[0] - alpha).mean() < 0.02
    naive = np.abs(lasso(alpha, 15) / 255.0 - alpha).mean()
    assert np.abs(mattes[0] - alpha).mean() < 0.1 * naive


def test_an_exact_outline_follows_a_strong_edge_and_a_loose_lasso_does_not():
    """Where the selection's line lies on the object's edge the cut may not move it unless sure."""
    image, alpha = ring_on_texture()
    exact = segmentation.follows_strong_edge(image, alpha > 0.5)
    loose = segmentation.follows_strong_edge(image, lasso(alpha, 15) > 0)
    edge_of = lambda m: cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0  # noqa: E731
    assert np.median(exact[edge_of(alpha > 0.5)]) > 0.9
    assert np.median(loose[edge_of(lasso(alpha, 15) > 0)]) < 0.5
    assert exact[5, 5] == 0  # no selection edge near


def test_no_background_to_learn_from_leaves_the_selection_as_it_is():
    image, alpha = ring_on_texture()
    mask = lasso(alpha, 5)
    found, doubt, hard = segmentation.segment(image, mask, np.ones(mask.shape, bool))
    assert np.array_equal(found, mask >= 128) and not doubt.any() and not hard.any()
    empty = segmentation.segment(image, np.zeros_like(mask), _hole(mask))
    assert not empty.found.any()


def test_a_grey_selection_s_faint_part_is_only_probably_background():
    """Below half a grey selection is probably background: the cut takes the object there if its colours
    say so, and leaves the faint background alone."""
    image, alpha = ring_on_texture(seed=2)
    mask = lasso(alpha, 10)
    faint = mask.copy()
    faint[:, :80][faint[:, :80] > 0] = 100  # the left half only faintly selected
    found, _, _ = segmentation.segment(image, faint, _hole(mask))
    truth = alpha > 0.5
    assert np.mean(found[truth[:, :80].nonzero()[0], truth[:, :80].nonzero()[1]]) > 0.9
    assert not found[(faint > 0) & ~cv2.dilate(truth.astype(np.uint8), _disk(3)).astype(bool)].any()


def test_debris_outside_the_selection_goes():
    found = np.zeros((60, 60), bool)
    found[10:50, 10:50] = True  # the object
    found[2:4, 55:57] = True  # a speck the cut took, outside the selection
    selected = np.zeros_like(found)
    selected[12:48, 12:48] = True
    ratio = np.full(found.shape, 5.0)
    kept = segmentation.drop_debris(found, selected, ratio)
    assert kept[30, 30] and not kept[3, 56]
    found[30:33, 30:33] = False
    found[31, 31] = True  # a speck inside the selection, in a gap, with background colours
    ratio[31, 31] = -5.0
    assert not segmentation.drop_debris(found, selected, ratio)[31, 31]


def test_on_noise_the_cut_finds_nothing_and_the_selection_stands():
    """Object and background of the same noise: the colour models cannot tell them apart, and a cut that
    would take away the whole selection is not trusted."""
    rng = np.random.default_rng(1)
    image = (rng.random((120, 150, 3)) * 255).astype(np.uint8)
    mask = np.zeros((120, 150), np.uint8)
    cv2.circle(mask, (70, 60), 22, 255, -1)
    found, doubt, _ = segmentation.segment(image, mask, _hole(mask))
    assert np.array_equal(found, mask > 0) and not doubt.any()
    alpha, _ = matting.matte(image, mask, _hole(mask), segment=True)
    assert (alpha[mask > 0] > 0.99).mean() > 0.2  # the object's core stays opaque


def test_a_piece_the_core_s_colours_claim_stays_and_one_they_do_not_goes():
    """contested_pieces: of two pieces the cut took out of a selection, the red one (the selection's core is
    largely red, like a red cup's body over a red saucer) is claimed back; the blue one (a colour the core
    lacks: background a lasso took in) is not."""
    rng = np.random.default_rng(0)
    image = np.empty((120, 160, 3), np.uint8)
    image[:] = [150, 40, 30]  # red everywhere: the saucer outside, the cup's body inside
    image[:, 110:] = [40, 60, 200]  # blue background on the right
    image[30:90, 30:70] = [235, 230, 220]  # the cup's white rim, in the core
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    selected = np.zeros((120, 160), bool)
    selected[10:110, 10:130] = True  # reaches 20 px into the blue
    found = selected.copy()
    found[70:108, 12:60] = False  # the cut took away a red piece...
    found[10:110, 110:130] = False  # ...and the blue strip
    background_model, object_model = np.zeros((1, 65)), np.zeros((1, 65))
    segmentation.fit_models(image[found], image[~found], background_model, object_model)
    contested = segmentation.contested_pieces(image, found, selected, background_model,
                                               segmentation.core_of(selected, 20))
    assert contested[70:108, 12:60].all()
    assert not contested[:, 110:].any()


def printed_disc(seed: int = 0):
    """A shaded cream disc on a blue texture, a dark brown strip along the picture's top (far from the disc),
    a dark brown print inside the disc on its shaded side and a see-through hole on its lit side: image, the
    disc (filled), the print's and the hole's slices."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:220, :220]
    image = np.dstack([90 + 25 * np.sin(x / 6.0), 150 + 25 * np.sin(y / 8.0), 200 + 20 * np.cos((x + y) / 9.0)])
    image[:25] = [45, 25, 8]
    disc = np.hypot(y - 120, x - 110) < 70
    hole = (slice(112, 128), slice(142, 158))
    seen = disc.copy()
    seen[hole] = False
    shade = 0.45 + 0.55 * np.clip((x - 40) / 140.0, 0, 1)  # lit from the right
    image = np.where(seen[..., None], np.array([225.0, 190, 140]) * shade[..., None], image)
    printed = (slice(114, 126), slice(60, 90))
    image[printed] = [45, 25, 8]
    return np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8), disc, printed, hole


def test_a_print_inside_the_object_stays_and_a_hole_through_it_goes():
    """Do no harm inside the object (GT13's pot label, GT07's eyes): the cut's background model is the whole
    picture's and knows the print's dark brown from a strip far away, so the cut takes the print out of an
    exact selection as surely as the hole. The background around the print does not show that colour: it
    stays (segmentation.enclosed_pieces); the hole shows the background around it: it goes."""
    image, disc, printed, hole = printed_disc()
    mask = disc.astype(np.uint8) * 255
    found, doubt, _ = segmentation.segment(image, mask, _hole(mask))
    assert found[printed].all() and not doubt[printed].any()
    assert not found[hole].any()
    alpha, _ = matting.matte(image, mask, _hole(mask), segment=True)
    assert alpha[printed].min() > 0.95
    assert alpha[114:126, 144:156].max() < 0.05  # the hole, its edge's pixel aside
