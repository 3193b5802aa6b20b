"""The selection is a hint: on a real photo, a lasso drawn loosely around the object must not drag the
background between its line and the object into the Object layer (issue 11).

The photo is scikit-learn's sample ``flower.jpg`` (an orange dahlia on dark leaves; it ships offline with
scikit-learn, licence in its sample-images README). The reference outline is made here, reproducibly,
from the petals' colour."""

from __future__ import annotations

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
