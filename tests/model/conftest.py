"""Tiny FLUX-Fill-shaped models, saved to a temporary folder and loaded back the way users load theirs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerdecomp.model import (
    AdapterConfig,
    LayerDecompositionModel,
    MCFConfig,
    build_tiny_components,
    save_adapter,
    save_components,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads on a busy 2-core machine make tiny matmuls 10-50x slower (spinning OpenMP workers).
    Set per test and restored, so other areas' tests in the same process keep their settings."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(rank: int = 4) -> AdapterConfig:
    return AdapterConfig(lora_rank=rank, mcf=MCFConfig(out_channels=8, heads=2, head_dim=8,
                                                       depth_model=None, segmentation_model=None))


def perturb(model: LayerDecompositionModel, seed: int = 0, scale: float = 0.05) -> LayerDecompositionModel:
    """Make every trainable weight non-trivial, as after training (a fresh adapter is mostly zeros)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.trainable_parameters(include_rgba_vae=True):
            p.add_(torch.randn(p.shape, generator=generator) * scale)
    return model


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-fill")
    save_components(build_tiny_components(seed=0), folder)
    return folder


@pytest.fixture(scope="session")
def adapter_file(tmp_path_factory):
    model = perturb(LayerDecompositionModel(build_tiny_components(seed=0), tiny_config()))
    return save_adapter(model, tmp_path_factory.mktemp("adapter") / "tiny-adapter.safetensors")


@pytest.fixture
def scene():
    """A 64×64 picture with a square object, its hole, and matching batch tensors."""
    rng = np.random.default_rng(0)
    image = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    image[20:44, 16:40] = (200, 40, 40)
    hole = np.zeros((64, 64), bool)
    hole[18:46, 14:42] = True
    return image, hole
