"""The selection is a hint: on a real photo, a lasso drawn loosely around the object must not drag the
background between its line and the object into the Object layer (issue 11).

The photo is scikit-learn's sample ``flower.jpg`` (an orange dahlia on dark leaves; it ships offline with
scikit-learn, licence in its sample-images README). The reference outline is made here, reproducibly,
from the petals' colour."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import layerdecomp
from layerdecomp.eval.photos import _lasso


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


@pytest.fixture(scope="module")
def dahlia():
    from sklearn.datasets import load_sample_image

    image = np.ascontiguousarray(load_sample_image("flower.jpg"))
    rgb = image.astype(np.int32)
    orange = ((rgb[..., 0] - rgb[..., 2]) > 60).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(orange, connectivity=8)
    flower = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)
    flower = cv2.morphologyEx(flower, cv2.MORPH_CLOSE, _disk(4))
    outside = flower.copy()
    cv2.floodFill(outside, np.zeros((flower.shape[0] + 2, flower.shape[1] + 2), np.uint8), (0, 0), 1)
    flower |= 1 - outside  # the petals' shadowed gaps are the flower too
    assert 50_000 < flower.sum() < 65_000  # the big dahlia, not the one below it
    return image, flower.astype(bool), orange.astype(bool)


def test_a_loose_lasso_sheds_the_ring_of_background_between_it_and_the_object(dahlia):
    image, flower, orange = dahlia
    # A lasso 12 px outside the flower: its outline resampled every 10 px and jittered, as a hand draws it.
    lasso = _lasso(cv2.dilate(flower.astype(np.uint8) * 255, _disk(12)), np.random.default_rng(5))
    ring = (lasso > 0) & ~(cv2.dilate(flower.astype(np.uint8), _disk(2)) > 0) & ~orange
    assert ring.sum() > 8000
    result = layerdecomp.decompose(image, lasso, backend="classical")
    alpha = result.foreground[..., 3] / 255.0
    carried = alpha[ring].sum()
    assert carried <= 0.05 * ring.sum(), f"the Object layer carries {carried:.0f} px of the {ring.sum()} px ring"
    inner = cv2.erode(flower.astype(np.uint8), _disk(3)) > 0
    assert alpha[inner].mean() > 0.98  # and the flower itself stays whole
    # Where the object is not, the plate is the photo itself.
    assert np.array_equal(result.background[alpha == 0], image[alpha == 0])


def test_the_readme_example_leaves_no_halo_on_the_table_above_the_cup():
    # examples/coffee.jpg: a white cup on a wood table, selected a little loosely with a feathered edge.
    # The grain's light streaks lie on the colour line towards the white rim, and closed-form matting alone
    # gives them alpha next to the cup (~0.14 on average): the plate then shows a dark ring there, and the
    # Object layer drags a wooden halo along.
    root = Path(__file__).resolve().parents[2]
    image = cv2.cvtColor(cv2.imread(str(root / "examples" / "coffee.jpg")), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(str(root / "examples" / "coffee_mask.png"), cv2.IMREAD_GRAYSCALE)
    # The cup: the largest bright piece; the table: within 12 px of it, above its top edge in each column.
    bright = (image.astype(np.float32).mean(axis=2) > 175).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bright)
    cup = (labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])).astype(np.uint8)
    cup = cv2.morphologyEx(cup, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    table = (cv2.dilate(cup, _disk(12)) > 0) & ~(cv2.dilate(cup, _disk(2)) > 0)
    first_row = np.where(cup.any(axis=0), cup.argmax(axis=0), 0)
    table &= np.arange(cup.shape[0])[:, None] < first_row[None, :]
    assert table.sum() > 2000 and (mask[table] > 0).any()  # the selection reaches onto it

    result = layerdecomp.decompose(image, mask, backend="classical")
    alpha = result.foreground[..., 3] / 255.0
    assert alpha[table].mean() < 0.05
    assert np.abs(result.background[table].astype(int) - image[table]).mean() < 5
