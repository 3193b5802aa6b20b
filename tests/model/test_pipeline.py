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


class _FakeModelOffload:
    """What diffusers' model CPU offload does to the VAEs, on a machine without a GPU: each VAE rests on
    the ``meta`` device (as with sequential offload) and gets its weights back on the execution device
    only when its encode/decode runs (diffusers' ``apply_forward_hook`` calls ``_hf_hook.pre_forward``
    with the module, never with its arguments); the other offloaded module goes back to rest."""

    def __init__(self, modules, execution_device="cpu"):
        import torch

        self.execution_device = torch.device(execution_device)
        self.modules = modules
        self.weights = {id(m): {k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules}
        for module in modules:
            module.to("meta")
            module._hf_hook = self

    def pre_forward(self, module, *args, **kwargs):
        for other in self.modules:
            if other is not module:
                other.to("meta")
        module.load_state_dict(self.weights[id(module)], assign=True)
        return args, kwargs


def test_layer_pipeline_runs_where_the_pipeline_executes_not_where_the_vae_rests(base_dir, adapter_file, scene):
    """With CPU offload the VAE is not on the execution device until it runs: inputs must go to the
    pipeline's execution device, not to ``vae.device`` (meta here)."""
    image, hole = scene
    components = load_components(base_dir)
    model = load_adapter(adapter_file, components)
    pipe = LayerDecompositionPipeline.from_model(model, components.scheduler)
    expected = pipe(image, hole, steps=2, seed=3)
    _FakeModelOffload([model.vae, model.rgba_vae])
    assert model.vae.device.type == "meta"
    offloaded = pipe(image, hole, steps=2, seed=3)
    assert np.allclose(offloaded.foreground, expected.foreground, atol=1e-6)
    assert np.allclose(offloaded.background, expected.background, atol=1e-6)
