"""The losses of the three training stages, each ``loss(module, batch, generator) -> (loss, parts)``.

1. ``tiny_vae`` (only for the random-weight tiny backbone): fit the base VAE as a plain autoencoder on the
   training pictures, standing in for the pretrained FLUX VAE a real run starts from.
2. ``decoder``: fine-tune the RGBA VAE (the decoder's alpha output, and the encoder's alpha input) to
   reconstruct the complete objects, while the latent of an object stays near the base VAE's latent of
   its colours, so the foreground stream's targets live in the space the backbone knows.
3. ``adapter``: flow matching on both streams (LoRA, input projection, cross-stream gates, MCF).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..model import rgba_to_vae_input
from ..model.components import resolution_mu
from ..model.dual_stream import Conditions

# Weight of the latent anchor in the decoder stage (reconstruction error is in [-1, 1]² units).
LATENT_ANCHOR = 0.1
KL_WEIGHT = 1e-6


def tiny_vae_loss(vae, batch, generator):
    pictures = torch.cat([batch["image"], batch["background"]])
    # Deterministic (the posterior's mode): the model only ever encodes with the mode, and sampling
    # the untrained posterior's unit noise slows the fit a lot.
    posterior = vae.encode(pictures).latent_dist
    reconstruction = vae.decode(posterior.mode()).sample
    mse = F.mse_loss(reconstruction.float(), pictures.float())
    loss = mse + KL_WEIGHT * posterior.kl().mean()
    return loss, {"reconstruction": mse.detach()}


def decoder_loss(rgba_vae, batch, generator, base_vae):
    x = rgba_to_vae_input(batch["foreground"])
    posterior = rgba_vae.encode(x).latent_dist
    reconstruction = rgba_vae.decode(posterior.mode()).sample  # deterministic, as encode_targets
    mse = F.mse_loss(reconstruction.float(), x.float())
    with torch.no_grad():
        anchor = base_vae.encode(x[:, :3].to(base_vae.dtype)).latent_dist.mode()
    drift = F.mse_loss(posterior.mode().float(), anchor.float())
    loss = mse + LATENT_ANCHOR * drift + KL_WEIGHT * posterior.kl().mean()
    return loss, {"reconstruction": mse.detach(), "latent_drift": drift.detach()}


def sample_timesteps(count: int, how: str, generator: torch.Generator, device, mu: float | None = None) -> torch.Tensor:
    """σ in (0, 1): logit-normal (SD3/FLUX training practice, more weight mid-way) or uniform, then shifted
    by ``mu`` (None: no shift) the way inference shifts its schedule, σ' = e^mu / (e^mu + 1/σ − 1), so
    training sees the noise levels inference spends its steps on (at 1024², mu = 1.15: 62% of samples
    above σ = 0.7, as ~61% of the inference steps, instead of 20% unshifted)."""
    if how == "logit_normal":
        t = torch.sigmoid(torch.randn(count, generator=generator, device=device))
    else:
        t = torch.rand(count, generator=generator, device=device)
    if mu is not None:
        t = math.exp(mu) / (math.exp(mu) + (1 / t - 1))
    return t.clamp(1e-4, 1 - 1e-4)


def without_context(cond: Conditions) -> Conditions:
    """The ablation: every context zeroed (both streams' image-mask context and MCF's modality tokens)."""
    return Conditions(torch.zeros_like(cond.context_bg), torch.zeros_like(cond.context_fg),
                      torch.zeros_like(cond.modality_tokens), torch.ones_like(cond.modality_missing),
                      cond.height, cond.width)


class EncodingCache:
    """Every training item's conditions and clean latents, encoded once (the VAEs are frozen by now).

    For small sets (tests, smoke runs: ``data.cache_latents``), where encoding would cost more than the
    transformer; a large set is encoded batch by batch instead.
    """

    def __init__(self, decomposer, dataset, resolution: int, device, chunk: int = 64):
        from .data import to_tensors

        parts: dict[str, list[torch.Tensor]] = {}
        with torch.no_grad():
            for first in range(0, len(dataset), chunk):
                items = [dataset[i] for i in range(first, min(len(dataset), first + chunk))]
                batch = {k: v.to(device) for k, v in to_tensors(items, resolution).items()}
                cond = decomposer.encode_conditions(batch["image"], batch["mask"])
                x0_bg, x0_fg = decomposer.encode_targets(batch["background"], batch["foreground"])
                for name, value in (("context_bg", cond.context_bg), ("context_fg", cond.context_fg),
                                    ("modality_tokens", cond.modality_tokens),
                                    ("modality_missing", cond.modality_missing), ("x0_bg", x0_bg), ("x0_fg", x0_fg)):
                    parts.setdefault(name, []).append(value)
                self.height, self.width = cond.height, cond.width
        self.tensors = {k: torch.cat(v) for k, v in parts.items()}

    def lookup(self, index: torch.Tensor):
        t = {k: v[index.to(v.device)] for k, v in self.tensors.items()}
        cond = Conditions(t["context_bg"], t["context_fg"], t["modality_tokens"], t["modality_missing"],
                          self.height, self.width)
        return cond, t["x0_bg"], t["x0_fg"]


def adapter_loss(model, batch, generator, decomposer, timestep_sampling: str = "logit_normal",
                 drop_context: bool = False, cache: EncodingCache | None = None, scheduler=None):
    """Flow matching on both streams: x_t = (1 − t)·x0 + t·noise, target noise − x0.

    ``model`` and ``decomposer`` are the same :class:`LayerDecompositionModel` (the trainer passes the
    first; the frozen VAEs of the second encode the batch, unless ``cache`` holds the encodings).
    ``scheduler``: the inference scheduler whose resolution-dependent shift the sampled t get (None: none).
    """
    if cache is not None:
        cond, x0_bg, x0_fg = cache.lookup(batch["index"])
    else:
        with torch.no_grad():
            cond = decomposer.encode_conditions(batch["image"], batch["mask"])
            x0_bg, x0_fg = decomposer.encode_targets(batch["background"], batch["foreground"])
    if drop_context:
        cond = without_context(cond)
    b = x0_bg.shape[0]
    mu = None if scheduler is None else resolution_mu(scheduler, x0_bg.shape[1])  # tokens of one stream
    t = sample_timesteps(b, timestep_sampling, generator, x0_bg.device, mu)
    noise_bg = torch.randn(x0_bg.shape, generator=generator, device=x0_bg.device, dtype=x0_bg.dtype)
    noise_fg = torch.randn(x0_fg.shape, generator=generator, device=x0_fg.device, dtype=x0_fg.dtype)
    s = t[:, None, None].to(x0_bg.dtype)
    v_bg, v_fg = model((1 - s) * x0_bg + s * noise_bg, (1 - s) * x0_fg + s * noise_fg, t, cond)
    loss_bg = F.mse_loss(v_bg.float(), (noise_bg - x0_bg).float())
    loss_fg = F.mse_loss(v_fg.float(), (noise_fg - x0_fg).float())
    return loss_bg + loss_fg, {"loss_bg": loss_bg.detach(), "loss_fg": loss_fg.detach()}
