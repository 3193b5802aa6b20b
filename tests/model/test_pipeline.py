"""The inference pipelines: deterministic for a seed, a progress report per step, cancellable between steps."""

import threading

import numpy as np
import pytest

from layerdecomp.errors import Cancelled
from layerdecomp.model import load_adapter, load_components
from layerdecomp.model.pipeline import LayerDecompositionPipeline, ZeroShotFill


@pytest.fixture(scope="module")
def pipeline(base_dir, adapter_file):
    components = load_components(base_dir)
    return LayerDecompositionPipeline.from_model(load_adapter(adapter_file, components), components.scheduler)


def test_layer_pipeline_outputs_and_determinism(pipeline, scene):
    image, hole = scene
    steps_seen = []
    first = pipeline(image, hole, steps=3, seed=7, callback=lambda done, total: steps_seen.append((done, total)))
    again = pipeline(image, hole, steps=3, seed=7)
    other = pipeline(image, hole, steps=3, seed=8)
    assert steps_seen == [(1, 3), (2, 3), (3, 3)]
    assert first.foreground.shape == (64, 64, 4) and first.background.shape == (64, 64, 3)
    for array in (first.foreground, first.background):
        assert array.dtype == np.float32 and array.min() >= 0 and array.max() <= 1
    assert np.array_equal(first.foreground, again.foreground) and np.array_equal(first.background, again.background)
    assert not np.array_equal(first.background, other.background)


def test_layer_pipeline_cancels_between_steps(pipeline, scene):
    image, hole = scene
    cancel = threading.Event()
    seen = []

    def callback(done, total):
        seen.append(done)
        if done == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        pipeline(image, hole, steps=5, callback=callback, cancel=cancel)
    assert seen == [1, 2]


def test_layer_pipeline_rejects_sizes_the_model_cannot_pack(pipeline):
    with pytest.raises(ValueError, match="multiples of 8"):
        pipeline(np.zeros((60, 64, 3), np.uint8), np.ones((60, 64), bool), steps=1)


def test_zero_shot_fill_is_deterministic_and_cancellable(base_dir, scene):
    image, hole = scene
    fill = ZeroShotFill(load_components(base_dir))
    seen = []
    a = fill(image, hole, steps=3, seed=1, callback=lambda d, t: seen.append(d))
    b = fill(image, hole, steps=3, seed=1)
    assert seen == [1, 2, 3] and a.shape == (64, 64, 3) and np.array_equal(a, b)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        fill(image, hole, steps=4, callback=lambda d, t: cancel.set(), cancel=cancel)
