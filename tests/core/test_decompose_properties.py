"""The layering guarantees end to end: the real classical backend on random pictures and soft masks."""

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import layerdecomp
from layerdecomp.region import plan_region

from .test_layering import recomposition_error


@st.composite
def pictures(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h, w = draw(st.integers(12, 56)), draw(st.integers(12, 56))
    # Smooth content with some noise, like a photo, rather than pure noise.
    base = rng.integers(0, 256, (3, 3, 3)).astype(np.float32)
    image = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR) + rng.normal(0, 12, (h, w, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cy, cx = rng.integers(2, h - 2), rng.integers(2, w - 2)
    ry, rx = rng.integers(1, h // 3 + 2), rng.integers(1, w // 3 + 2)
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    if draw(st.booleans()):  # a soft selection: feathered grey levels
        mask = np.clip(cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 2.0) * 255, 0, 255).astype(np.uint8)
    else:
        mask[inside] = 255
    if not mask.any() or mask.min() == 255:
        mask[cy, cx], mask[0, 0] = 255, 0
    return image, mask, draw(st.integers(0, 4))


def assert_faithful(image, mask, grow, out):
    """The layering guarantees every backend keeps: outside the hole the background is the input and the
    object is transparent; object over background reproduces the input within one level."""
    region = plan_region(mask, grow=grow)
    hole = np.zeros(mask.shape, bool)
    hole[region.box.slices] = region.hole
    assert np.array_equal(out.background[~hole], image[~hole])
    assert not out.foreground[..., 3][~hole].any()
    assert recomposition_error(image, out.foreground, out.background).max() <= 1.0


@settings(max_examples=25, deadline=None)
@given(pictures())
def test_classical_decomposition_is_faithful(case):
    image, mask, grow = case
    out = layerdecomp.decompose(image, mask, backend="classical", grow=grow)
    assert_faithful(image, mask, grow, out)
    # Something was taken: the object layer is not empty where the selection is sure.
    assert out.foreground[..., 3][mask == 255].any() or not (mask == 255).any()


@st.composite
def layers_with_transparency(draw):
    """The pictures above with an alpha channel a painter's layer has: a soft-edged shape on transparency,
    a uniformly half-transparent layer, or a feathered cut-out with holes; transparent pixels store black."""
    image, mask, grow = draw(pictures())
    h, w = mask.shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["soft shape", "half transparent", "feathered cut-out"]))
    if kind == "half transparent":
        alpha = np.full((h, w), rng.integers(1, 255), np.uint8)
    else:
        shape = np.zeros((h, w), np.float32)
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        yy, xx = np.mgrid[:h, :w]
        shape[((yy - cy) / rng.uniform(3, h)) ** 2 + ((xx - cx) / rng.uniform(3, w)) ** 2 <= 1] = 1.0
        if kind == "feathered cut-out":
            shape = 1.0 - shape  # the layer is opaque around a transparent hole
        alpha = np.clip(cv2.GaussianBlur(shape, (0, 0), rng.uniform(0.5, 6.0)) * 255, 0, 255).astype(np.uint8)
    rgba = np.dstack([image, alpha])
    rgba[alpha == 0, :3] = 0
    return rgba, mask, grow


@settings(max_examples=25, deadline=None)
@given(layers_with_transparency())
def test_classical_decomposition_of_a_layer_with_transparency_is_faithful_at_every_pixel(case):
    image, mask, grow = case
    out = layerdecomp.decompose(image, mask, backend="classical", grow=grow)
    region = plan_region(mask, grow=grow)
    hole = np.zeros(mask.shape, bool)
    hole[region.box.slices] = region.hole
    assert np.array_equal(out.background[~hole], image[~hole])
    assert not out.foreground[..., 3][~hole].any()
    assert (out.foreground[..., 3] <= image[..., 3]).all()
    # Object over background is the layer in alpha and premultiplied colour, inside the hole too.
    a = out.foreground[..., 3:4] / 255.0
    b = out.background[..., 3:4] / 255.0
    alpha = (a + b * (1.0 - a))[..., 0] * 255.0
    colour = a * out.foreground[..., :3] + (1.0 - a) * b * out.background[..., :3]
    assert np.abs(alpha - image[..., 3]).max() <= 1.0
    assert np.abs(colour - image[..., 3:4] / 255.0 * image[..., :3]).max() <= 1.0
