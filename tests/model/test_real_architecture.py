"""FLUX.1-Fill-dev's real architecture, built on the meta device (shapes only: no weights, no memory), goes
through the whole model: nothing here may depend on the tiny test configuration's sizes."""

import torch
from diffusers import AutoencoderKL, FluxTransformer2DModel

from layerdecomp.model import AdapterConfig, Components, LayerDecompositionModel
from layerdecomp.model.components import fill_in_channels, flux_scheduler


def test_real_size_shapes_and_lora_size():
    with torch.device("meta"):
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=384, out_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=[16, 56, 56],
            guidance_embeds=True)
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=16, layers_per_block=2,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False)
        components = Components(transformer, vae, flux_scheduler(), torch.zeros(1, 512, 4096), torch.zeros(1, 768))
    assert fill_in_channels(16, 8) == 384
    model = LayerDecompositionModel(components, AdapterConfig(lora_rank=4))
    assert sum(p.numel() for p in model.parameter_groups()["lora"]) == 16_343_040  # 16.3M at r=4 (model-notes)
    assert model.transformer.x_embedder.in_features == 384 + 64 + 3 * 64  # + MCF + the local path's latents
    assert len(model.parameter_groups()["gates"]) == 19 + 38

    meta = torch.device("meta")
    image, mask = torch.zeros(1, 3, 256, 256, device=meta), torch.zeros(1, 1, 256, 256, device=meta)
    cond = model.encode_conditions(image, mask, torch.zeros(1, 3, 3, 256, 256, device=meta),
                                   torch.zeros(1, 3, device=meta))
    assert cond.context_bg.shape == cond.context_fg.shape == (1, 256, 64 + 256)  # masked-image latent + 8×8×4 mask
    assert cond.modality_tokens.shape == (1, 3, 256, 64)
    x0_bg, x0_fg = model.encode_targets(image, torch.zeros(1, 4, 256, 256, device=meta))
    with torch.no_grad():
        v_bg, v_fg = model(x0_bg, x0_fg, torch.zeros(1, device=meta), cond)
        assert v_bg.shape == v_fg.shape == (1, 256, 64)
        assert model.decode_foreground(v_fg, 256, 256).shape == (1, 4, 256, 256)
        assert model.decode_background(v_bg, 256, 256).shape == (1, 3, 256, 256)
