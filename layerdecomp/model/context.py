"""Turning pictures into the tokens the transformer reads, packed exactly as FLUX Fill packs them.

Background stream: the usual Fill context (the picture with the hole blanked + the hole as a mask).
Foreground stream: the inverse context (the object region kept, everything outside it to be generated).
Both reuse ``FluxFillPipeline.prepare_mask_latents`` so the packing is diffusers' own.

All images here are (B, C, H, W) tensors: pictures in [-1, 1], masks in {0, 1} (1 = to generate),
sides multiples of ``2 × vae_scale_factor``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch


def _fill():
    from diffusers import FluxFillPipeline

    return FluxFillPipeline


def to_image_tensor(image: np.ndarray, device=None, dtype=torch.float32) -> torch.Tensor:
    """H×W×C uint8 (or float in [0, 1]) -> (1, C, H, W) in [-1, 1]."""
    array = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return torch.from_numpy(array).permute(2, 0, 1)[None].to(device=device, dtype=dtype) * 2 - 1


def to_mask_tensor(mask: np.ndarray, device=None, dtype=torch.float32) -> torch.Tensor:
    """H×W bool/uint8/float -> (1, 1, H, W) in {0, 1} (binarised at half, as Fill's mask processor does)."""
    array = mask.astype(np.float32)
    if mask.dtype == np.uint8:
        array = array / 255.0
    return (torch.from_numpy(array)[None, None] >= 0.5).to(device=device, dtype=dtype)


def encode(vae, image: torch.Tensor) -> torch.Tensor:
    """Unnormalised latents (the distribution's mode: deterministic)."""
    return vae.encode(image.to(vae.dtype)).latent_dist.mode()


def normalise(vae, latents: torch.Tensor) -> torch.Tensor:
    shift = vae.config.shift_factor or 0.0
    return (latents - shift) * vae.config.scaling_factor


def denormalise(vae, latents: torch.Tensor) -> torch.Tensor:
    shift = vae.config.shift_factor or 0.0
    return latents / vae.config.scaling_factor + shift


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h/2 · w/2, 4C), FLUX's 2×2 patch packing."""
    b, c, h, w = latents.shape
    return _fill()._pack_latents(latents, b, c, h, w)


def unpack(tokens: torch.Tensor, height: int, width: int, vae_scale_factor: int) -> torch.Tensor:
    """Tokens back to (B, C, h, w) for a picture of ``height × width`` pixels."""
    return _fill()._unpack_latents(tokens, height, width, vae_scale_factor)


def latent_ids(height: int, width: int, vae_scale_factor: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """FLUX's position ids (L, 3) for the packed tokens of a ``height × width`` picture (axis 0 = 0)."""
    h = height // (vae_scale_factor * 2)
    w = width // (vae_scale_factor * 2)
    return _fill()._prepare_latent_image_ids(1, h, w, device, dtype)


def fill_context(vae, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The Fill context tokens ``masked image latent ⊕ packed mask`` (B, L, 4C + 4s²).

    ``hole``: 1 where the model must generate. The masked picture is encoded here (deterministically)
    and handed to diffusers' ``prepare_mask_latents`` already encoded, which normalises and packs it and
    packs the mask the way the Fill transformer was trained on.
    """
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    masked = image * (1 - hole)
    latents = encode(vae, masked)
    helper = SimpleNamespace(vae=vae, vae_scale_factor=scale, _pack_latents=_fill()._pack_latents)
    b, _, height, width = image.shape
    mask_tokens, image_tokens = _fill().prepare_mask_latents(
        helper, hole, latents, b, vae.config.latent_channels, 1, height, width, latents.dtype, latents.device, None)
    return torch.cat([image_tokens, mask_tokens], dim=-1)


def check_size(height: int, width: int, vae_scale_factor: int) -> None:
    step = 2 * vae_scale_factor
    if height % step or width % step:
        raise ValueError(f"picture sides must be multiples of {step} (got {width}×{height})")
