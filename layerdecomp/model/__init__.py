"""The paper's model (Outpaint-and-Remove on a FLUX Fill backbone) on diffusers and peft.

Importing this package imports torch; the core ``layerdecomp`` never does unless a model backend runs.

Training-facing API (stable; the training code in ``layerdecomp/train/`` builds on it)::

    import torch
    from layerdecomp.model import (AdapterConfig, MCFConfig, LayerDecompositionModel, build_tiny_components,
                                   load_components, save_components, save_adapter, load_adapter)

    # 1. A backbone. Tiny (random, ~150k parameters, CPU, sides multiple of 8) for tests and CPU runs,
    #    or the real one: load_components("black-forest-labs/FLUX.1-Fill-dev", dtype="bf16", device="cuda",
    #    need_prompt=True)  (sides multiple of 16).
    components = build_tiny_components(seed=0)

    # 2. The model: widens x_embedder (zero columns), adds LoRA (peft, every attention + FFN projection),
    #    the cross-stream gates, MCF and the RGBA VAE. It takes ownership of `components`.
    model = LayerDecompositionModel(components, AdapterConfig(
        lora_rank=4, mcf=MCFConfig(out_channels=8, heads=2, head_dim=8, depth_model=None, segmentation_model=None)))

    # 3. A batch (image, mask, fg_rgba, background) as tensors:
    #    image, background (B, 3, H, W) in [-1, 1]; mask (B, 1, H, W) in [0, 1], 1 = the object;
    #    fg_rgba (B, 4, H, W) straight RGBA in [0, 1].
    cond = model.encode_conditions(image, mask)              # contexts of both streams + MCF tokens
    #    (optional: modality_maps (B, 3, 3, H, W) in [0, 1] in MODALITIES order and modality_missing (B, 3);
    #     default: Canny from the image, depth and segmentation flagged missing)
    x0_bg, x0_fg = model.encode_targets(background, fg_rgba)  # clean latent tokens (B, L, 4C) each

    # 4. Flow matching: x_t = (1 - t) x0 + t noise, target noise - x0, t in [0, 1] (shape (B,)).
    t = torch.rand(B)
    noise_bg, noise_fg = torch.randn_like(x0_bg), torch.randn_like(x0_fg)
    xt_bg = (1 - t[:, None, None]) * x0_bg + t[:, None, None] * noise_bg   # same for fg
    v_bg, v_fg = model(xt_bg, xt_fg, t, cond)                # one joint pass, both streams
    loss = mse(v_bg, noise_bg - x0_bg) + mse(v_fg, noise_fg - x0_fg)

    # 5. What to optimise: model.trainable_parameters()  (LoRA, x_embedder, gates, MCF), or by part
    #    model.parameter_groups() -> {"lora", "x_embedder", "gates", "mcf", "rgba_vae"}. The RGBA VAE is
    #    trained on its own reconstruction loss: model.rgba_vae (encoder takes rgba_to_vae_input(rgba),
    #    decoder output -> vae_output_to_rgba), or decode_foreground(tokens, H, W).
    #    The gates are one scalar per attention layer, starting at 0 (streams independent); Adam moves a
    #    scalar by ~lr per step, so at the paper's lr 5e-5 they would open by at most ~0.36 in 7,200
    #    iterations: give the "gates" group a larger lr (e.g. 1e-3; the trainer's train.gate_learning_rate).

    #    Memory: model.transformer.enable_gradient_checkpointing() is supported (the stream layout travels
    #    with each block's inputs, so recomputed blocks attend exactly as in the forward).

    # 6. Save / load (safetensors only; load checks the base first):
    save_adapter(model, "adapter.safetensors")
    model = load_adapter("adapter.safetensors", build_tiny_components(seed=0))

Inference: :class:`LayerDecompositionPipeline` (steps, seed, guidance, progress, cancel); the
``diffusion`` backend (``layerdecomp/backends/diffusion.py``) wraps it with cropping and scaling.
"""

from .adapter import load_adapter, read_adapter_config, save_adapter
from .components import Components, build_tiny_components, load_components, save_components
from .config import LORA_TARGET_REGEX, MODALITIES, AdapterConfig, MCFConfig
from .dual_stream import DEFAULT_GUIDANCE, Conditions, LayerDecompositionModel
from .mcf import ModalityEstimators, MultiModalContextFusion, linear_attention
from .rgba_vae import make_rgba_vae, rgba_to_vae_input, vae_output_to_rgba

__all__ = [
    "AdapterConfig", "MCFConfig", "MODALITIES", "LORA_TARGET_REGEX", "Components", "Conditions",
    "LayerDecompositionModel", "DEFAULT_GUIDANCE", "MultiModalContextFusion", "ModalityEstimators",
    "build_tiny_components", "load_components", "save_components", "save_adapter", "load_adapter",
    "read_adapter_config", "linear_attention", "make_rgba_vae", "rgba_to_vae_input", "vae_output_to_rgba",
]
