"""Where the diffusion model and adapter come from (options, environment, local folders, hub ids), and the
rule that weights are never loaded from a pickle.

Torch-free and cheap, so the backend registry, the model loader and the commands share one rule without
importing each other (or torch).
"""

from __future__ import annotations

import os
import re
from typing import Optional

from .errors import BackendUnavailable

MODEL_ENV = "LAYERDECOMP_MODEL"
ADAPTER_ENV = "LAYERDECOMP_ADAPTER"
# Files that torch.save (pickle) writes; loading one can run arbitrary code, so layerdecomp never does.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


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


def check_not_pickle(path: str | os.PathLike, what: str = "adapter") -> None:
    """Refuse anything that is not a safetensors file, by name and by its first bytes."""
    path = str(path)
    if not os.path.isfile(path):
        raise BackendUnavailable(f"the {what} file {path} does not exist (option {what} / --{what})")
    with open(path, "rb") as handle:
        head = handle.read(8)
    # torch.save writes a zip (PK..) or a raw pickle (0x80 protocol byte); safetensors starts with a
    # little-endian header length followed by '{'.
    if path.lower().endswith(PICKLE_SUFFIXES) or head[:2] == b"PK" or head[:1] == b"\x80":
        raise BackendUnavailable(
            f"{path} is a pickle checkpoint (torch.save); layerdecomp loads only .safetensors files because "
            "loading a pickle can run arbitrary code. Convert it with safetensors.torch.save_file or use the "
            "adapter's .safetensors release")
