"""The dual-stream transformer: background and foreground streams denoised together in one pass.

Token sequence: ``[text (T) | background (L) | foreground (L)]``. Each stream's token is the channel
concat ``noisy latent ⊕ its context ⊕ c_MM`` (its context: the Fill context for the background, the
inverse context for the foreground; c_MM: MCF's output, then, with ``MCFConfig.local``, the token's own
modality latents). Position ids tell the streams apart: the
foreground's ``img_ids[:, 0] = 1`` (FLUX Kontext offsets its reference image the same way).

Attention (our choice, documented because the paper does not say): every token attends to the text and
its own stream as FLUX Fill does, plus a *gated* cross-stream term, ``within + tanh(g)·cross``, with one
scalar gate ``g`` per attention layer, initialised at 0. The text tokens follow the background stream.
So a fresh adapter (gates 0, LoRA B = 0, zero-initialised new input columns) makes the background
stream's prediction *equal* to the base Fill model's, and training opens the gates as far as it helps.
The attended token pairs are exactly those of plain joint attention over the 2L-token sequence.

Trainable: the LoRA weights on every attention and FFN projection, the widened ``x_embedder`` (trained
fully), the cross-stream gates, MCF, and (separately, with its own loss) the RGBA VAE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import context as ctx
from .components import Components
from .config import LORA_TARGET_REGEX, MODALITIES, AdapterConfig, base_in_channels, base_signature
from .mcf import MultiModalContextFusion
from .rgba_vae import make_rgba_vae, rgba_to_vae_input, vae_output_to_rgba

DEFAULT_GUIDANCE = 30.0  # FLUX.1-Fill-dev is guidance-distilled; 30 is its pipeline's default


class DualStreamAttnProcessor(nn.Module):
    """FLUX attention with the stream structure above; plain FLUX attention when ``streams`` is None.

    ``streams`` = (text tokens, tokens per stream) arrives through the transformer's
    ``joint_attention_kwargs``, so it is part of every block's inputs and gradient checkpointing replays
    it (state kept on the side would be gone by the time backward recomputes a block)."""

    def __init__(self):
        super().__init__()
        self.cross_gate = nn.Parameter(torch.zeros(()))

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None,
                 streams: Optional[tuple[int, int]] = None):
        from diffusers.models.embeddings import apply_rotary_emb

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.unflatten(-1, (-1, attn.head_dim))

        query = attn.norm_q(heads(attn.to_q(hidden_states)))
        key = attn.norm_k(heads(attn.to_k(hidden_states)))
        value = heads(attn.to_v(hidden_states))
        if encoder_hidden_states is not None:  # double-stream block: the text has its own projections
            query = torch.cat([attn.norm_added_q(heads(attn.add_q_proj(encoder_hidden_states))), query], dim=1)
            key = torch.cat([attn.norm_added_k(heads(attn.add_k_proj(encoder_hidden_states))), key], dim=1)
            value = torch.cat([heads(attn.add_v_proj(encoder_hidden_states)), value], dim=1)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
            key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
        out = self.attend(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), streams)
        out = out.transpose(1, 2).flatten(2, 3).to(query.dtype)
        if encoder_hidden_states is None:
            return out
        text_len = encoder_hidden_states.shape[1]
        text_out, image_out = out[:, :text_len], out[:, text_len:]
        image_out = attn.to_out[1](attn.to_out[0](image_out.contiguous()))
        return image_out, attn.to_add_out(text_out.contiguous())

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               streams: Optional[tuple[int, int]]) -> torch.Tensor:
        """q, k, v: (B, H, S, D) over the whole sequence."""
        if streams is None:
            return F.scaled_dot_product_attention(q, k, v)
        t, n = streams
        own = slice(0, t + n)  # text + background
        fg = slice(t + n, t + 2 * n)
        bg = slice(t, t + n)
        k_fg = torch.cat([k[:, :, :t], k[:, :, fg]], dim=2)
        v_fg = torch.cat([v[:, :, :t], v[:, :, fg]], dim=2)
        within = torch.cat([F.scaled_dot_product_attention(q[:, :, own], k[:, :, own], v[:, :, own]),
                            F.scaled_dot_product_attention(q[:, :, fg], k_fg, v_fg)], dim=2)
        cross = torch.cat([F.scaled_dot_product_attention(q[:, :, own], k[:, :, fg], v[:, :, fg]),
                           F.scaled_dot_product_attention(q[:, :, fg], k[:, :, bg], v[:, :, bg])], dim=2)
        return within + torch.tanh(self.cross_gate).to(q.dtype) * cross


def dense_linear(layer: nn.Module) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """A linear layer's effective (weight, bias). Quantised layers (bitsandbytes, GGUF) keep packed
    weights, so theirs are read back through the layer itself: ``layer(I) - b = Wᵀ``."""
    bias = layer.bias.detach() if getattr(layer, "bias", None) is not None else None
    if type(layer) is nn.Linear:
        return layer.weight.detach(), bias
    dtype = getattr(layer, "compute_dtype", None) or (bias.dtype if bias is not None else torch.float32)
    with torch.no_grad():
        eye = torch.eye(layer.in_features, device=layer.weight.device, dtype=dtype)
        out = layer(eye)
        weight = (out - bias.to(dtype) if bias is not None else out).T.contiguous()
    return weight, None if bias is None else bias.to(dtype)


def widen_x_embedder(transformer, extra: int) -> None:
    """Give the input projection ``extra`` more input columns, zero-initialised (outputs unchanged)."""
    old = transformer.x_embedder
    base = base_in_channels(transformer)
    if old.in_features != base:
        raise ValueError(f"x_embedder already widened ({old.in_features} inputs, Fill has {base})")
    weight, bias = dense_linear(old)
    wide = nn.Linear(base + extra, old.out_features, bias=bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, :base] = weight
        if bias is not None:
            wide.bias.copy_(bias)
    transformer.x_embedder = wide
    transformer.register_to_config(in_channels=base + extra, fill_in_channels=base)


@dataclass
class Conditions:
    """Everything a forward needs besides the noisy latents, for a batch (tokens are (B, L, C))."""

    context_bg: torch.Tensor  # Fill context: masked-image latent ⊕ packed hole
    context_fg: torch.Tensor  # inverse context: the object region kept, the outside to be generated
    modality_tokens: torch.Tensor  # (B, M, L, 4C)
    modality_missing: torch.Tensor  # (B, M) in {0, 1}
    height: int  # picture size in pixels
    width: int

    @property
    def tokens(self) -> int:
        return self.context_bg.shape[1]


class LayerDecompositionModel(nn.Module):
    """The paper's model over a Fill backbone. Takes ownership of ``components`` (its transformer is
    widened and gets the LoRA in place: a failure while building means the components must be discarded)."""

    def __init__(self, components: Components, config: Optional[AdapterConfig] = None):
        super().__init__()
        config = config or AdapterConfig()
        if components.prompt_embeds is None:
            raise ValueError("the components carry no empty-prompt embeddings (prompt_embeds)")
        transformer, vae = components.transformer, components.vae
        config.base = base_signature(transformer, vae)
        self.config = config
        self.vae_scale_factor = components.vae_scale_factor
        latent = vae.config.latent_channels
        token_channels = 4 * latent
        context_channels = base_in_channels(transformer) - token_channels

        from peft import LoraConfig

        local = len(MODALITIES) * token_channels if config.mcf.local else 0  # the MCF local path's columns
        widen_x_embedder(transformer, config.mcf.out_channels + local)
        transformer.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.alpha, init_lora_weights=True,
                                           target_modules=LORA_TARGET_REGEX))
        transformer.x_embedder.requires_grad_(True)  # add_adapter froze it; it is trained fully
        for module in transformer.modules():
            if hasattr(module, "set_processor") and hasattr(module, "to_q"):
                module.set_processor(DualStreamAttnProcessor())
        dev, dtype = transformer.x_embedder.weight.device, transformer.x_embedder.weight.dtype
        self.transformer = transformer
        self.vae = vae.requires_grad_(False)
        self.rgba_vae = make_rgba_vae(vae).requires_grad_(True)
        self.mcf = MultiModalContextFusion(config.mcf, token_channels, context_channels).to(dev, dtype)
        self.register_buffer("prompt_embeds", components.prompt_embeds.to(dev, dtype).clone())
        self.register_buffer("pooled_prompt_embeds", components.pooled_prompt_embeds.to(dev, dtype).clone())

    # ------------------------------------------------------------------------------ parameters
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The trainable parameters by part: lora, x_embedder, gates, mcf (the flow-matching loss) and
        rgba_vae (trained on its own reconstruction loss)."""
        lora = [p for n, p in self.transformer.named_parameters() if "lora_" in n]
        gates = [p for n, p in self.transformer.named_parameters() if n.endswith("cross_gate")]
        return {"lora": lora, "x_embedder": list(self.transformer.x_embedder.parameters()), "gates": gates,
                "mcf": list(self.mcf.parameters()), "rgba_vae": list(self.rgba_vae.parameters())}

    def trainable_parameters(self, include_rgba_vae: bool = False) -> list[nn.Parameter]:
        groups = self.parameter_groups()
        names = ["lora", "x_embedder", "gates", "mcf"] + (["rgba_vae"] if include_rgba_vae else [])
        return [p for name in names for p in groups[name]]

    # -------------------------------------------------------------------------------- encoding
    @torch.no_grad()  # the frozen VAE: nothing to train here, and the result may be reused across steps
    def encode_conditions(self, image: torch.Tensor, mask: torch.Tensor, modality_maps: Optional[torch.Tensor] = None,
                          modality_missing: Optional[torch.Tensor] = None) -> Conditions:
        """image (B, 3, H, W) in [-1, 1]; mask (B, 1, H, W), 1 = the object (where the background is
        regenerated); modality_maps (B, M, 3, H, W) in [0, 1] in ``MODALITIES`` order (None: Canny from the
        image, the others missing); modality_missing (B, M) in {0, 1}."""
        b, _, height, width = image.shape
        ctx.check_size(height, width, self.vae_scale_factor)
        vae = self.vae
        # Everything is computed where the caller's tensors are (the pipeline's execution device), never at
        # vae.device: with CPU offload the VAE rests on the CPU until its encode moves it (and not its
        # arguments), and with sequential offload its weights are on the meta device.
        device = image.device
        image = image.to(device, vae.dtype)
        hole = (mask.to(device, vae.dtype) >= 0.5).to(vae.dtype)
        context_bg = ctx.fill_context(vae, image, hole)
        context_fg = ctx.fill_context(vae, image, 1 - hole)
        if modality_maps is None:
            from .mcf import canny_map

            pictures = ((image.float().permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).round().clip(0, 255)
            maps = np.zeros((b, len(MODALITIES), height, width, 3), np.float32)
            for i in range(b):
                maps[i, 0] = canny_map(pictures[i].astype(np.uint8), self.config.mcf)
            modality_maps = torch.from_numpy(maps).permute(0, 1, 4, 2, 3)
            modality_missing = torch.tensor([[0.0] + [1.0] * (len(MODALITIES) - 1)] * b)
        m = modality_maps.shape[1]
        flat = modality_maps.reshape(b * m, 3, height, width).to(device, vae.dtype) * 2 - 1
        tokens = ctx.pack(ctx.normalise(vae, ctx.encode(vae, flat)))
        tokens = tokens.reshape(b, m, tokens.shape[1], tokens.shape[2])
        missing = (modality_missing if modality_missing is not None else torch.zeros(b, m)).to(device, vae.dtype)
        return Conditions(context_bg, context_fg, tokens, missing, height, width)

    @torch.no_grad()  # targets carry no gradient (the RGBA VAE is trained on its own loss)
    def encode_targets(self, background: torch.Tensor,
                       foreground_rgba: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean latent tokens x0 for both streams. background (B, 3, H, W) in [-1, 1] (base VAE);
        foreground_rgba (B, 4, H, W) straight RGBA in [0, 1] (RGBA VAE)."""
        vae = self.vae
        device = background.device  # the caller's device, as in encode_conditions
        x0_bg = ctx.pack(ctx.normalise(vae, ctx.encode(vae, background.to(device, vae.dtype))))
        rgba_in = rgba_to_vae_input(foreground_rgba.to(device, vae.dtype))
        x0_fg = ctx.pack(ctx.normalise(vae, ctx.encode(self.rgba_vae, rgba_in)))
        return x0_bg, x0_fg

    # -------------------------------------------------------------------------------- forward
    def forward(self, noisy_bg: torch.Tensor, noisy_fg: torch.Tensor, timestep: torch.Tensor, cond: Conditions,
                guidance: float = DEFAULT_GUIDANCE) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity predictions ``(v_bg, v_fg)``, each (B, L, 4C), for noisy latent tokens (B, L, 4C) at
        ``timestep`` = σ in [0, 1] (shape (B,) or scalar; x_σ = (1 − σ)·x0 + σ·noise, target noise − x0)."""
        transformer = self.transformer
        b, n, _ = noisy_bg.shape
        dtype = transformer.x_embedder.weight.dtype
        rows = cond.height // (2 * self.vae_scale_factor)
        c_mm = self.mcf(cond.context_bg, cond.modality_tokens, cond.modality_missing, (rows, n // rows))
        if self.config.mcf.local:  # each token's own modality latents, (B, L, M·4C), zero where missing
            present = (1 - cond.modality_missing)[:, :, None, None]
            own = (cond.modality_tokens * present.to(cond.modality_tokens.dtype)).permute(0, 2, 1, 3).flatten(2)
            c_mm = torch.cat([c_mm.to(dtype), own.to(dtype)], dim=-1)
        bg = torch.cat([noisy_bg.to(dtype), cond.context_bg.to(dtype), c_mm.to(dtype)], dim=-1)
        fg = torch.cat([noisy_fg.to(dtype), cond.context_fg.to(dtype), c_mm.to(dtype)], dim=-1)
        ids = ctx.latent_ids(cond.height, cond.width, self.vae_scale_factor, bg.device, bg.dtype)
        fg_ids = ids.clone()
        fg_ids[:, 0] = 1
        text = self.prompt_embeds.to(bg.device).expand(b, -1, -1)  # .to: with CPU offload it may live elsewhere
        timestep = torch.as_tensor(timestep, device=bg.device, dtype=dtype).reshape(-1).expand(b)
        guide = (torch.full((b,), float(guidance), device=bg.device, dtype=torch.float32)
                 if transformer.config.guidance_embeds else None)
        out = transformer(
            hidden_states=torch.cat([bg, fg], dim=1), timestep=timestep, guidance=guide,
            pooled_projections=self.pooled_prompt_embeds.to(bg.device).expand(b, -1), encoder_hidden_states=text,
            txt_ids=torch.zeros(text.shape[1], 3, device=bg.device, dtype=bg.dtype),
            img_ids=torch.cat([ids, fg_ids], dim=0), joint_attention_kwargs={"streams": (text.shape[1], n)},
            return_dict=False)[0]
        return out[:, :n], out[:, n:]

    # -------------------------------------------------------------------------------- decoding
    def decode_background(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Background tokens -> (B, 3, H, W) in [0, 1] with the base VAE."""
        latents = ctx.denormalise(self.vae, ctx.unpack(tokens, height, width, self.vae_scale_factor))
        return ((self.vae.decode(latents.to(self.vae.dtype)).sample + 1) / 2).clamp(0, 1)

    def decode_foreground(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Foreground tokens -> (B, 4, H, W) straight RGBA in [0, 1] with the RGBA decoder."""
        latents = ctx.denormalise(self.vae, ctx.unpack(tokens, height, width, self.vae_scale_factor))
        return vae_output_to_rgba(self.rgba_vae.decode(latents.to(self.rgba_vae.dtype)).sample)
