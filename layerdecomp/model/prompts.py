"""The empty-prompt embeddings, computed once from the model's own text encoders and cached.

FLUX Fill is conditioned on a text prompt; the method uses none, so its embeddings are a constant. An
adapter carries them; for zero-shot use they are computed here the first time (CLIP + T5 on the CPU in
bfloat16, ~10 GB of RAM for a minute) and kept in the user's cache folder, so the GPU never holds a
text encoder.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from ..errors import BackendUnavailable


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "layerdecomp"


def empty_prompt_embeddings(model: str, local_files_only: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    from safetensors.torch import load_file, save_file

    key = hashlib.sha256(os.path.abspath(model).encode() if os.path.isdir(model) else model.encode()).hexdigest()[:16]
    path = cache_dir() / f"prompt_embeds-{key}.safetensors"
    if path.is_file():
        tensors = load_file(str(path))
        return tensors["prompt_embeds"], tensors["pooled_prompt_embeds"]
    try:
        from diffusers import FluxPipeline

        with warnings.catch_warnings():  # newer diffusers call it `dtype`; `torch_dtype` works in every version
            warnings.simplefilter("ignore", FutureWarning)
            pipe = FluxPipeline.from_pretrained(model, transformer=None, vae=None, torch_dtype=torch.bfloat16,
                                                local_files_only=local_files_only, use_safetensors=True)
        with torch.no_grad():
            prompt, pooled, _ = pipe.encode_prompt(prompt="", prompt_2=None, device="cpu", max_sequence_length=512)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise BackendUnavailable(
            f"zero-shot mode needs the empty-prompt embeddings, and {model} has no usable text encoders "
            f"(text_encoder/, text_encoder_2/, tokenizers) to compute them: use an adapter (it carries them) or "
            f"the full FLUX.1-Fill-dev folder ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from exc
    prompt, pooled = prompt.float().contiguous(), pooled.float().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: another process never reads a half-written cache file.
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    save_file({"prompt_embeds": prompt, "pooled_prompt_embeds": pooled}, str(partial))
    os.replace(partial, path)
    return prompt, pooled
