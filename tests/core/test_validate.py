import numpy as np
import pytest

from layerdecomp.errors import InvalidInput
from layerdecomp.validate import MAX_SIDE, validate


def _pair(h=16, w=20):
    image = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[4:8, 4:8] = 255
    return image, mask


def test_valid_input_passes_through():
    image, mask = _pair()
    out_image, out_mask = validate(image, mask)
    assert out_image.shape == image.shape and out_mask.shape == mask.shape


def test_bool_and_single_channel_masks_are_accepted():
    image, mask = _pair()
    _, m = validate(image, mask > 0)
    assert m.dtype == np.uint8 and m.max() == 255
    _, m = validate(image, mask[..., None])
    assert m.ndim == 2


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda i, m: (i, m[:-1]), "same size"),
        (lambda i, m: (i, np.zeros_like(m)), "empty"),
        (lambda i, m: (i, np.full_like(m, 255)), "whole image"),
        (lambda i, m: (i.astype(np.uint16), m), "8-bit"),
        (lambda i, m: (i.astype(np.float32), m), "8-bit"),
        (lambda i, m: (i[..., :2], m), "RGB"),
        (lambda i, m: (i, m.astype(np.float32)), "8-bit"),
        (lambda i, m: (i, np.dstack([m, m])), "single-channel"),
        (lambda i, m: (i[:1], m[:1]), "too small"),
        (lambda i, m: ([[1]], m), "numpy"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(change, words):
    image, mask = change(*_pair())
    with pytest.raises(InvalidInput, match=words):
        validate(image, mask)


def test_absurd_dimensions_are_refused_without_allocating():
    # A broadcast view: the shape is absurd but no memory is behind it.
    image = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (MAX_SIDE + 1, 4, 3))
    mask = np.broadcast_to(np.zeros((1, 1), np.uint8), (MAX_SIDE + 1, 4))
    with pytest.raises(InvalidInput, match="too large"):
        validate(image, mask)
