"""Adapter files: bitwise round trip, and clear refusals of anything that does not fit."""

import pytest
import torch
from safetensors.torch import save_file

from layerdecomp.errors import BackendUnavailable
from layerdecomp.model import (LayerDecompositionModel, build_tiny_components, load_adapter, load_components,
                               save_adapter, save_components)

from .conftest import perturb, tiny_config


def test_save_load_round_trip_is_bitwise(base_dir, tmp_path):
    model = perturb(LayerDecompositionModel(load_components(base_dir), tiny_config()), seed=5)
    path = save_adapter(model, tmp_path / "a.safetensors")
    loaded = load_adapter(path, load_components(base_dir))
    before, after = model.state_dict(), loaded.state_dict()
    assert set(before) == set(after)
    different = [k for k in before if not torch.equal(before[k], after[k])]
    assert different == []
    assert loaded.config.lora_rank == 4 and loaded.config.mcf.out_channels == 8


def test_adapter_for_another_base_is_refused_before_anything_changes(adapter_file, tmp_path):
    other = build_tiny_components()
    from diffusers import FluxTransformer2DModel

    other.transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=96, out_channels=16, num_layers=2, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
        guidance_embeds=True)
    save_components(other, tmp_path / "other")
    components = load_components(tmp_path / "other")
    expected = r"tiny-adapter\.safetensors.*different base.*num_layers: adapter 1, model 2"
    with pytest.raises(BackendUnavailable, match=expected):
        load_adapter(adapter_file, components)
    assert components.transformer.x_embedder.in_features == 96  # untouched
    assert not any("lora_" in n for n, _ in components.transformer.named_parameters())


@pytest.mark.parametrize("name", ["adapter.pt", "adapter.safetensors"])
def test_pickle_checkpoints_are_refused(tmp_path, name):
    path = tmp_path / name
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(BackendUnavailable, match=rf"{name} is a pickle checkpoint.*only \.safetensors"):
        load_adapter(path, build_tiny_components())


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(BackendUnavailable, match=r"nothere\.safetensors does not exist.*--adapter"):
        load_adapter(tmp_path / "nothere.safetensors", build_tiny_components())
    foreign = tmp_path / "lora.safetensors"
    save_file({"x": torch.zeros(1)}, str(foreign))
    with pytest.raises(BackendUnavailable, match=r"lora\.safetensors is not a layerdecomp adapter"):
        load_adapter(foreign, build_tiny_components())


def test_save_refuses_other_formats(base_dir, tmp_path):
    model = LayerDecompositionModel(load_components(base_dir), tiny_config())
    with pytest.raises(ValueError, match="safetensors"):
        save_adapter(model, tmp_path / "adapter.pt")
