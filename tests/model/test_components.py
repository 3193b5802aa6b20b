"""Loading the backbone through from_pretrained, as users do, and the errors when it cannot be loaded."""

import os
import shutil

import pytest
import torch

from layerdecomp.errors import BackendUnavailable
from layerdecomp.model import build_tiny_components, load_components, save_components


def test_tiny_model_is_tiny_and_round_trips_bitwise(base_dir):
    fresh = build_tiny_components(seed=0)
    loaded = load_components(base_dir)
    params = sum(p.numel() for part in (fresh.transformer, fresh.vae) for p in part.parameters())
    assert params < 1_000_000
    for a, b in ((fresh.transformer, loaded.transformer), (fresh.vae, loaded.vae)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(fresh.prompt_embeds, loaded.prompt_embeds)
    assert loaded.transformer.dtype == torch.float32 and not loaded.transformer.training


def test_missing_or_incomplete_model_folder(tmp_path, base_dir):
    with pytest.raises(BackendUnavailable, match=r"model folder .*nowhere does not exist \(option model"):
        load_components(str(tmp_path / "nowhere"))
    partial = tmp_path / "partial"
    shutil.copytree(base_dir / "vae", partial / "vae")
    with pytest.raises(BackendUnavailable, match=r"not a FLUX Fill model folder: it has no transformer/"):
        load_components(partial)


def test_not_a_fill_transformer(tmp_path):
    from diffusers import FluxTransformer2DModel

    components = build_tiny_components()
    components.transformer = FluxTransformer2DModel(  # FLUX.1-dev-like: latent input only
        patch_size=1, in_channels=16, out_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    save_components(components, tmp_path / "dev")
    with pytest.raises(BackendUnavailable, match=r"takes 16 input channels.*Fill.*takes 96"):
        load_components(tmp_path / "dev")


def test_pickle_only_weights_are_refused(tmp_path, base_dir):
    folder = tmp_path / "pickled"
    shutil.copytree(base_dir, folder)
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    from safetensors.torch import load_file

    torch.save(load_file(str(weights)), folder / "transformer" / "diffusion_pytorch_model.bin")
    os.remove(weights)
    with pytest.raises(BackendUnavailable, match=r"transformer holds only pickle weights"):
        load_components(folder)


def test_quantisation_and_device_options_fail_clearly(base_dir, tmp_path):
    with pytest.raises(BackendUnavailable, match="bitsandbytes"):
        load_components(base_dir, quantization="bnb4")
    with pytest.raises(BackendUnavailable, match=r"GGUF file .*missing\.gguf does not exist"):
        load_components(base_dir, quantization=str(tmp_path / "missing.gguf"))
    with pytest.raises(BackendUnavailable, match="unknown quantization"):
        load_components(base_dir, quantization="int3")
    with pytest.raises(BackendUnavailable, match="unknown dtype"):
        load_components(base_dir, dtype="float8")
    with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
        load_components(base_dir, device="cuda")


def test_zero_shot_without_prompt_embeddings_or_text_encoders_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    components = build_tiny_components()
    components.prompt_embeds = components.pooled_prompt_embeds = None
    save_components(components, tmp_path / "bare")
    assert load_components(tmp_path / "bare").prompt_embeds is None  # fine for adapter mode
    with pytest.raises(BackendUnavailable, match=r"empty-prompt embeddings.*no usable text encoders.*use an adapter"):
        load_components(tmp_path / "bare", need_prompt=True)
