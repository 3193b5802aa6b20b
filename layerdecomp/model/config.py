"""The adapter's configuration: everything needed to rebuild the trainable parts over a base model.

It travels inside the adapter file (as JSON in the safetensors metadata), together with a short
description of the base it was trained on, so that loading it over a base it does not fit fails with a
clear message instead of a shape error deep inside torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

# Every attention and FFN projection of the FLUX blocks, and nothing else: the top-level ``proj_out``
# must stay out (a plain "proj_out" in a list would wrap it too, see docs/model-notes).
LORA_TARGET_REGEX = (
    r".*(attn\.(to_q|to_k|to_v|to_out\.0|add_q_proj|add_k_proj|add_v_proj|to_add_out)"
    r"|ff\.net\.(0\.proj|2)|ff_context\.net\.(0\.proj|2)"
    r"|single_transformer_blocks\.\d+\.(proj_mlp|proj_out))$"
)

# The modalities MCF fuses, in this order. Canny is computed with OpenCV (no weights); depth and
# segmentation come from transformers pipelines whose model ids are configurable.
MODALITIES = ("canny", "depth", "segmentation")


@dataclass
class MCFConfig:
    """Multi-Modal Context Fusion (see ``mcf.py``)."""

    out_channels: int = 64  # channels added to each stream's tokens
    heads: int = 4
    head_dim: int = 32
    position_frequencies: int = 4  # Fourier features of the token's (row, column), for queries and keys
    # The local path: each latent token also gets its *own* modality latents (M × 4C channels, zeroed where a
    # modality is missing) through zero-initialised input columns. The attention above gives a token a
    # summary of all modality tokens, which cannot carry a per-pixel edge to its own place; this does, at
    # a cost linear in the tokens.
    local: bool = True
    canny_low: int = 100
    canny_high: int = 200
    depth_model: Optional[str] = "depth-anything/Depth-Anything-V2-Small-hf"
    segmentation_model: Optional[str] = "nvidia/segformer-b0-finetuned-ade-512-512"


@dataclass
class AdapterConfig:
    """The trainable parts' shapes. ``base`` describes the backbone (filled in by the model)."""

    lora_rank: int = 256
    lora_alpha: Optional[float] = None  # None: equal to the rank (scale 1)
    mcf: MCFConfig = field(default_factory=MCFConfig)
    base: dict[str, Any] = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return float(self.lora_rank if self.lora_alpha is None else self.lora_alpha)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "AdapterConfig":
        data = json.loads(text)
        mcf_data = data.pop("mcf", {})
        mcf_data.setdefault("local", False)  # adapters saved before the local path existed have none
        mcf = MCFConfig(**mcf_data)
        return cls(mcf=mcf, **data)


def base_signature(transformer, vae) -> dict[str, Any]:
    """What an adapter must agree with: the base transformer's and VAE's shapes (not its weights)."""
    tc, vc = transformer.config, vae.config
    return {
        "fill_in_channels": int(base_in_channels(transformer)),
        "out_channels": int(tc.out_channels or tc.in_channels),
        "inner_dim": int(tc.num_attention_heads * tc.attention_head_dim),
        "num_layers": int(tc.num_layers),
        "num_single_layers": int(tc.num_single_layers),
        "joint_attention_dim": int(tc.joint_attention_dim),
        "pooled_projection_dim": int(tc.pooled_projection_dim),
        "latent_channels": int(vc.latent_channels),
        "vae_scale_factor": int(2 ** (len(vc.block_out_channels) - 1)),
    }


def base_in_channels(transformer) -> int:
    """The Fill model's own input width, before our widening (kept in the config once widened)."""
    return int(getattr(transformer.config, "fill_in_channels", None) or transformer.config.in_channels)
