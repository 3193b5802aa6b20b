"""Inference: ``LayerDecompositionPipeline`` (the full method) and ``ZeroShotFill`` (base Fill only).

Both take a crop already scaled to the working resolution (sides multiples of 2 × the VAE's scale
factor: 16 for FLUX, 8 for the tiny test model) as H×W×3 uint8 plus the hole (where the background is
regenerated), and run a fixed number of flow-matching Euler steps. Between steps they report progress
and honour cancellation (``layerdecomp.errors.Cancelled``). The noise comes from a CPU generator seeded
with ``seed``, so a seed gives the same result on any device (up to the device's arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from diffusers import DiffusionPipeline

from ..errors import raise_if_cancelled
from ..types import CancelToken
from . import context as ctx
from .components import resolution_mu
from .dual_stream import DEFAULT_GUIDANCE, LayerDecompositionModel

DEFAULT_STEPS = 28
StepCallback = Callable[[int, int], None]  # (steps done, total steps)


@dataclass
class LayerOutput:
    foreground: np.ndarray  # H×W×4 float32, straight RGBA in [0, 1]: the whole object, hidden parts included
    background: np.ndarray  # H×W×3 float32 in [0, 1]: the clean plate


def flow_timesteps(scheduler, steps: int, tokens: int, device) -> torch.Tensor:
    """FLUX's schedule: sigmas 1 → 1/steps, shifted by the resolution-dependent ``mu``."""
    mu = resolution_mu(scheduler, tokens)
    sigmas = np.linspace(1.0, 1.0 / steps, steps)
    scheduler.set_timesteps(sigmas=sigmas, mu=mu, device=device)
    return scheduler.timesteps


class LayerDecompositionPipeline(DiffusionPipeline):
    """One joint generation of the object (RGBA, occluded parts included) and the clean background."""

    model_cpu_offload_seq = "mcf->transformer->vae->rgba_vae"

    def __init__(self, transformer, vae, rgba_vae, mcf, scheduler):
        super().__init__()
        self.register_modules(transformer=transformer, vae=vae, rgba_vae=rgba_vae, mcf=mcf, scheduler=scheduler)

    @classmethod
    def from_model(cls, model: LayerDecompositionModel, scheduler) -> "LayerDecompositionPipeline":
        pipe = cls(model.transformer, model.vae, model.rgba_vae, model.mcf, scheduler)
        pipe.__dict__["decomposer"] = model  # the model ties the parts together; not a pipeline component
        return pipe

    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        hole: np.ndarray,
        *,
        steps: int = DEFAULT_STEPS,
        seed: int = 0,
        guidance: float = DEFAULT_GUIDANCE,
        modality_maps: Optional[np.ndarray] = None,
        modality_missing: Optional[np.ndarray] = None,
        callback: Optional[StepCallback] = None,
        cancel: Optional[CancelToken] = None,
    ) -> LayerOutput:
        """``image`` H×W×3 uint8; ``hole`` H×W bool (the object + its margin); ``modality_maps`` (M, H, W, 3)
        float32 in [0, 1] with ``modality_missing`` (M,) bool, or None (Canny only)."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        model = self.decomposer
        device = self._execution_device
        height, width = image.shape[:2]
        ctx.check_size(height, width, model.vae_scale_factor)
        maps = missing = None
        if modality_maps is not None:
            maps = torch.from_numpy(np.ascontiguousarray(modality_maps)).permute(0, 3, 1, 2)[None]
            missing = torch.from_numpy(np.asarray(modality_missing, np.float32))[None]
        cond = model.encode_conditions(ctx.to_image_tensor(image, device), ctx.to_mask_tensor(hole, device),
                                       maps, missing)
        tokens = cond.tokens
        channels = cond.modality_tokens.shape[-1]
        generator = torch.Generator("cpu").manual_seed(int(seed))
        latents = torch.randn((1, 2 * tokens, channels), generator=generator).to(device, torch.float32)
        timesteps = flow_timesteps(self.scheduler, steps, tokens, device)
        for index, t in enumerate(timesteps):
            raise_if_cancelled(cancel)
            sigma = (t / 1000).reshape(1)
            v_bg, v_fg = model(latents[:, :tokens], latents[:, tokens:], sigma, cond, guidance=guidance)
            velocity = torch.cat([v_bg, v_fg], dim=1).to(torch.float32)
            latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]
            if callback is not None:
                callback(index + 1, len(timesteps))
        raise_if_cancelled(cancel)
        background = model.decode_background(latents[:, :tokens], height, width)
        foreground = model.decode_foreground(latents[:, tokens:], height, width)
        self.maybe_free_model_hooks()
        return LayerOutput(foreground=foreground[0].permute(1, 2, 0).float().cpu().numpy(),
                           background=background[0].permute(1, 2, 0).float().cpu().numpy())


class ZeroShotFill:
    """The base FLUX Fill model alone (no adapter): it regenerates the background in the hole."""

    def __init__(self, components, offload: Optional[str] = None):
        from diffusers import FluxFillPipeline

        if components.prompt_embeds is None:
            raise ValueError("zero-shot fill needs the empty-prompt embeddings (prompt_embeds)")
        self.components = components
        self.pipe = FluxFillPipeline(components.scheduler, components.vae, None, None, None, None,
                                     components.transformer)
        self.pipe.set_progress_bar_config(disable=True)
        apply_offload(self.pipe, offload)

    def __call__(self, image: np.ndarray, hole: np.ndarray, *, steps: int = DEFAULT_STEPS, seed: int = 0,
                 guidance: float = DEFAULT_GUIDANCE, callback: Optional[StepCallback] = None,
                 cancel: Optional[CancelToken] = None) -> np.ndarray:
        """H×W×3 float32 in [0, 1]: the picture with the hole filled."""
        from PIL import Image

        height, width = image.shape[:2]
        ctx.check_size(height, width, self.components.vae_scale_factor)

        def on_step(pipe, index, t, kwargs):
            if callback is not None:
                callback(index + 1, steps)
            raise_if_cancelled(cancel)
            return {}

        raise_if_cancelled(cancel)
        device = self.pipe._execution_device
        dtype = self.components.transformer.dtype
        out = self.pipe(
            image=Image.fromarray(image), mask_image=Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)),
            prompt_embeds=self.components.prompt_embeds.to(device, dtype),
            pooled_prompt_embeds=self.components.pooled_prompt_embeds.to(device, dtype),
            height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
            generator=torch.Generator("cpu").manual_seed(int(seed)), output_type="np",
            callback_on_step_end=on_step)
        return out.images[0].astype(np.float32)


def apply_offload(pipe, offload: Optional[str]) -> None:
    """``offload``: None/"none", "model" (whole parts moved to the GPU in turn) or "sequential" (layer by
    layer: the least GPU memory, the slowest)."""
    if offload in (None, "", "none", False):
        return
    if not torch.cuda.is_available():
        from ..errors import BackendUnavailable

        raise BackendUnavailable(f"offload={offload} needs a CUDA GPU; leave the offload option out on this machine")
    if offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        from ..errors import BackendUnavailable

        raise BackendUnavailable(f"unknown offload {offload!r} (option offload): use none, model or sequential")
