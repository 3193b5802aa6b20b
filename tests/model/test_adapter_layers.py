"""What the diffusion backend makes of the model's raw layers in adapter mode, with a stub in place of the
model (so the pictures are exact and known): the object's RGBA scaled back premultiplied, hidden parts
that belong to the object, visible alpha kept apart from hidden parts, and shadows the clean plate
removed carried with the object."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from layerdecomp.backends.diffusion import DiffusionBackend
from layerdecomp.options import job_options
from layerdecomp.layering import layer_crop
from layerdecomp.model.pipeline import LayerOutput

RED, BLUE, GREY = (220, 30, 30), (30, 40, 200), (128, 128, 128)
SIZE, WORK = 96, 48  # the crop, and the model's working size (the layers are scaled back ×2, cubic)


def disk(size: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 <= radius ** 2


class StubModel:
    """Returns the given working-size layers whatever it is asked (as LayerDecompositionPipeline does)."""

    def __init__(self, foreground: np.ndarray, background: np.ndarray):
        self.output = LayerOutput(foreground=foreground.astype(np.float32), background=background.astype(np.float32))

    def __call__(self, image, hole, **kwargs):
        assert image.shape[:2] == self.output.background.shape[:2]
        return self.output


class NoModalities:
    problems: dict = {}

    def __call__(self, image):
        return np.zeros((3, *image.shape[:2], 3), np.float32), np.array([False, True, True])


def stub_backend(foreground: np.ndarray, background: np.ndarray) -> DiffusionBackend:
    engine = object.__new__(DiffusionBackend)  # no weights: the stub stands in for the loaded model
    engine.pipeline, engine.estimators, engine.zero_shot = StubModel(foreground, background), NoModalities(), None
    engine.multiple, engine.model_path, engine.adapter_path = 8, "stub", "stub.safetensors"
    return engine


def run(engine, image, mask, hole):
    options = job_options("diffusion", DiffusionBackend.option_specs, {"steps": 1, "resolution": WORK})
    return engine.run(image, mask, hole, options, progress=lambda stage, f: None, cancel=None)


@pytest.fixture
def occluded_scene():
    """A red disk with a blue bar in front of it; the user selected what shows of the disk. The model
    (stub) answers with the complete disk (transparent pixels black, as a decoder may make them), a stray
    speck far from it, and the clean plate with the bar kept (it is in front of the object)."""
    image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    whole = disk(SIZE, 24)
    bar = np.zeros((SIZE, SIZE), bool)
    bar[:, 44:52] = True
    image[whole] = RED
    image[bar] = BLUE
    mask = np.where(whole & ~bar, 255, 0).astype(np.uint8)
    hole = cv2.dilate(mask, np.ones((11, 11), np.uint8)) > 0
    foreground = np.zeros((WORK, WORK, 4), np.float32)
    foreground[disk(WORK, 12)] = (*(np.array(RED) / 255), 1.0)
    foreground[3:6, 3:6, 3] = 0.5  # a speck of alpha nowhere near the object
    foreground[3:6, 3:6, :3] = 0.5
    plate = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    plate[bar] = BLUE
    background = cv2.resize(plate, (WORK, WORK), interpolation=cv2.INTER_AREA) / 255.0
    return image, mask, hole, whole, bar, foreground, background


def test_object_is_scaled_back_premultiplied(occluded_scene):
    """Straight RGBA scaled with cubic interpolation mixes the transparent pixels' colour into the edge
    (dark fringes here); premultiplied, the edge keeps the object's colour."""
    image, mask, hole, whole, bar, foreground, background = occluded_scene
    result = run(stub_backend(foreground, background), image, mask, hole)
    edge = (result.amodal_alpha > 0.05) & (result.amodal_alpha < 0.95)
    assert edge.sum() > 20
    colours = result.amodal_foreground[edge].astype(int)
    assert np.abs(colours - np.array(RED)).max() <= 12, colours[np.abs(colours - RED).max(axis=1).argmax()]


def test_only_hidden_parts_connected_to_the_object_are_kept(occluded_scene):
    image, mask, hole, whole, bar, foreground, background = occluded_scene
    result = run(stub_backend(foreground, background), image, mask, hole)
    assert result.amodal_alpha[:14, :14].max() == 0  # the speck is not part of the object
    inner = cv2.erode(whole.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert result.amodal_alpha[inner].min() > 0.9  # the object, hidden parts included, is


def test_occluders_stay_off_the_object_layer(occluded_scene):
    """Where the complete object continues behind the bar, the picture shows the bar: that is a hidden
    part of the object (kept, not visible), never object pixels of the bar's colour."""
    image, mask, hole, whole, bar, foreground, background = occluded_scene
    result = run(stub_backend(foreground, background), image, mask, hole)
    behind = whole & bar & hole
    behind_inner = cv2.erode(behind.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert behind_inner.sum() > 50
    assert result.alpha[behind_inner].max() == 0  # not visible there
    assert result.amodal_alpha[behind_inner].min() > 0.9  # but a hidden part of the object
    rgba, plate, visibility = layer_crop(image, hole, result)
    shown = (visibility > 0) & (rgba[..., 3] > 0)
    assert not (np.abs(rgba[..., :3].astype(int) - BLUE).max(axis=2) < 60)[shown].any()
    assert (visibility[behind_inner] == 0).all() and (rgba[..., 3][behind_inner] > 200).all()
    assert np.abs(rgba[..., :3][behind_inner].astype(int) - RED).max() <= 12  # the object's colour behind the bar
    # with the hidden parts masked out, the layers still reproduce the picture
    a = (rgba[..., 3:4] / 255.0) * (visibility[..., None] / 255.0)
    composite = a * rgba[..., :3] + (1 - a) * plate
    assert np.abs(composite - image).max() <= 1.0


def test_a_shadow_the_plate_removed_travels_with_the_object():
    """The model's clean plate has no shadow; the picture has one beside the object, inside the selection.
    The plate stands there, and the shadow goes onto the Object layer (dark colour with alpha), so the
    composite is still the picture and the shadow moves with the object."""
    image = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    whole = disk(SIZE, 24)
    mask = np.where(whole, 255, 0).astype(np.uint8)
    hole = cv2.dilate(mask, np.ones((11, 11), np.uint8)) > 0
    yy, _ = np.mgrid[:SIZE, :SIZE]
    shadow = hole & ~cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool) & (yy > SIZE // 2)
    image[shadow] = (60, 60, 64)
    image[whole] = RED
    foreground = np.zeros((WORK, WORK, 4), np.float32)
    foreground[disk(WORK, 12)] = (*(np.array(RED) / 255), 1.0)
    background = np.full((WORK, WORK, 3), np.array(GREY) / 255, np.float32)  # the plate: no shadow
    result = run(stub_backend(foreground, background), image, mask, hole)
    rgba, plate, visibility = layer_crop(image, hole, result)
    inner_shadow = cv2.erode(shadow.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert inner_shadow.sum() > 40
    assert np.abs(plate[inner_shadow].astype(int) - GREY).max() <= 2  # the clean plate stands
    assert (rgba[..., 3][inner_shadow] > 80).all() and (rgba[..., :3][inner_shadow] < 60).all()  # dark, on Object
    assert (visibility[inner_shadow] == 255).all()
    a = (rgba[..., 3:4] / 255.0) * (visibility[..., None] / 255.0)
    composite = a * rgba[..., :3] + (1 - a) * plate
    assert np.abs(composite - image).max() <= 1.0  # still the picture
    assert np.array_equal(plate[~hole], image[~hole]) and (rgba[..., 3][~hole] == 0).all()


def test_carried_effects_reproduce_any_picture_over_any_plate():
    from layerdecomp.layering import carry_effects

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    plate = rng.integers(0, 256, (40, 40, 3)).astype(np.float32)
    plate[:5] = image[:5]  # the plate equals the picture there: nothing to carry
    foreground, alpha, background = np.zeros_like(image), np.zeros((40, 40), np.uint8), image.copy()
    carry_effects(image, plate, np.ones((40, 40), bool), foreground, alpha, background)
    assert np.array_equal(background, plate.astype(np.uint8)) and (alpha[:5] == 0).all()
    a = alpha[..., None] / 255.0
    assert np.abs(a * foreground + (1 - a) * background - image).max() <= 0.5 + 1e-6
