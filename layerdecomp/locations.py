"""Where the diffusion model and adapter come from: options, environment, local folders, hub ids.

Torch-free and cheap, so the backend registry, the model loader and the commands share one rule without
importing each other (or torch).
"""

from __future__ import annotations

import os
import re
from typing import Optional

MODEL_ENV = "LAYERDECOMP_MODEL"
ADAPTER_ENV = "LAYERDECOMP_ADAPTER"


def configured_model(options: dict) -> Optional[str]:
    model = options.get("model") or os.environ.get(MODEL_ENV)
    return os.path.expanduser(str(model)) if model else None


def configured_adapter(options: dict) -> Optional[str]:
    adapter = options.get("adapter") or os.environ.get(ADAPTER_ENV)
    return os.path.expanduser(str(adapter)) if adapter else None


def looks_like_hub_id(model: str) -> bool:
    """``owner/name`` that is not a path on this machine (a folder wins when both could be meant)."""
    return (not os.path.exists(model) and ".." not in model
            and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", model) is not None)


def model_present(model: str) -> bool:
    """A local folder with transformer/ and vae/, or a hub id whose configs are in the local HF cache."""
    if os.path.isdir(model):
        return all(os.path.isfile(os.path.join(model, sub, "config.json")) for sub in ("transformer", "vae"))
    if not looks_like_hub_id(model):
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return all(isinstance(try_to_load_from_cache(model, f"{sub}/config.json"), str) for sub in ("transformer", "vae"))
