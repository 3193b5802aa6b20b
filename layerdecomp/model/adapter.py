"""The adapter file: everything trained, in one safetensors file that loads over any compatible base.

Contents: the LoRA weights, the widened input projection, the cross-stream gates, MCF, the RGBA VAE, the
empty-prompt embeddings, and (in the metadata) the ``AdapterConfig`` with the base's shapes. Only
safetensors: a pickle checkpoint (.bin, .pt, .ckpt, ...) is refused, because loading one runs code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import BackendUnavailable
from ..locations import check_not_pickle
from .components import Components
from .config import AdapterConfig, base_signature

FORMAT = "layerdecomp-adapter"
VERSION = "1"


def save_adapter(model, path: str | os.PathLike) -> Path:
    """Write ``model``'s trained parts (a :class:`LayerDecompositionModel`) to ``path`` (.safetensors)."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"an adapter is saved as .safetensors, not {path.name}")
    tensors = {f"lora/{k}": v for k, v in get_peft_model_state_dict(model.transformer).items()}
    tensors.update({f"x_embedder/{k}": v for k, v in model.transformer.x_embedder.state_dict().items()})
    tensors.update({f"gates/{n}": p for n, p in model.transformer.named_parameters() if n.endswith("cross_gate")})
    tensors.update({f"mcf/{k}": v for k, v in model.mcf.state_dict().items()})
    tensors.update({f"rgba_vae/{k}": v for k, v in model.rgba_vae.state_dict().items()})
    tensors["prompt/prompt_embeds"] = model.prompt_embeds
    tensors["prompt/pooled_prompt_embeds"] = model.pooled_prompt_embeds
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": FORMAT, "version": VERSION, "config": model.config.to_json()})
    return path


def read_adapter_config(path: str | os.PathLike) -> AdapterConfig:
    from safetensors import safe_open

    check_not_pickle(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:
        raise BackendUnavailable(f"{path} is not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise BackendUnavailable(f"{path} is not a layerdecomp adapter (no '{FORMAT}' metadata); "
                                 "was it saved with layerdecomp.model.save_adapter?")
    if metadata.get("version") != VERSION:
        raise BackendUnavailable(f"{path} is adapter format version {metadata.get('version')}; "
                                 f"this layerdecomp reads version {VERSION}")
    return AdapterConfig.from_json(metadata["config"])


def load_adapter(path: str | os.PathLike, components: Components):
    """A :class:`LayerDecompositionModel` over ``components`` with the adapter at ``path`` loaded.

    The base is checked against the shapes the adapter was trained on *before* anything is changed; the
    components are consumed (widened in place), so after any error discard them and load them again.
    """
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    from .dual_stream import LayerDecompositionModel

    config = read_adapter_config(path)
    have = base_signature(components.transformer, components.vae)
    wrong = {k: (v, have.get(k)) for k, v in config.base.items() if have.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k}: adapter {a}, model {b}" for k, (a, b) in sorted(wrong.items()))
        raise BackendUnavailable(f"the adapter {path} was trained on a different base model than "
                                 f"{components.source or 'the one loaded'} ({detail}); use the base it was trained on")
    tensors = load_file(str(path))
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        part, _, name = key.partition("/")
        parts.setdefault(part, {})[name] = value
    for needed in ("lora", "x_embedder", "mcf", "rgba_vae", "prompt"):
        if needed not in parts:
            raise BackendUnavailable(f"the adapter {path} lacks its {needed} weights; it is incomplete")
    components.prompt_embeds = parts["prompt"]["prompt_embeds"]
    components.pooled_prompt_embeds = parts["prompt"]["pooled_prompt_embeds"]
    try:
        model = LayerDecompositionModel(components, config)
        result = set_peft_model_state_dict(model.transformer, parts["lora"], adapter_name="default")
        unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
        if unexpected:
            raise ValueError(f"LoRA weights for layers this model lacks: {unexpected[:3]}")
        missing = [n for n, _ in model.transformer.named_parameters() if "lora_" in n
                   and n.replace(".default", "") not in parts["lora"]]
        if missing:
            raise ValueError(f"no LoRA weights for {missing[:3]}")
        model.transformer.x_embedder.load_state_dict(parts["x_embedder"])
        gates = dict(model.transformer.named_parameters())
        with torch.no_grad():
            for name, value in parts.get("gates", {}).items():
                if name not in gates:
                    raise ValueError(f"a gate for {name}, which this model lacks")
                gates[name].copy_(value)
        model.mcf.load_state_dict(parts["mcf"])
        model.rgba_vae.load_state_dict(parts["rgba_vae"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise BackendUnavailable(f"the adapter {path} does not fit this model: {str(exc).splitlines()[0]}") from exc
    return model
