"""The frozen backbone: a FLUX *Fill* transformer, its VAE and a flow-matching scheduler.

Loaded with diffusers' ``from_pretrained`` from a hub id or a local folder in diffusers layout
(``transformer/``, ``vae/``, ``scheduler/``), safetensors only. ``build_tiny_components`` makes a model
of the same architecture small enough for tests and CPU training runs (well under a million parameters).

No text encoder is ever loaded for inference: the empty-prompt embeddings are precomputed. An adapter
carries its own; for zero-shot use they are read from ``prompt_embeds.safetensors`` in the model folder
(or computed once from the folder's text encoders, see ``prompts.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import BackendUnavailable
from ..locations import PICKLE_SUFFIXES, looks_like_hub_id

PROMPT_EMBEDS_FILE = "prompt_embeds.safetensors"
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


@dataclass
class Components:
    transformer: Any  # diffusers FluxTransformer2DModel (Fill)
    vae: Any  # diffusers AutoencoderKL
    scheduler: Any  # diffusers FlowMatchEulerDiscreteScheduler
    prompt_embeds: Optional[torch.Tensor] = None  # (1, T, joint_attention_dim), the empty prompt
    pooled_prompt_embeds: Optional[torch.Tensor] = None  # (1, pooled_projection_dim)
    source: str = ""  # where they came from, for messages

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype


def fill_in_channels(latent_channels: int, vae_scale_factor: int) -> int:
    """A FLUX Fill transformer's input width: packed noisy latent + packed masked image + packed mask."""
    return 4 * latent_channels + 4 * latent_channels + 4 * vae_scale_factor ** 2


def resolve_device(device: Optional[str]) -> torch.device:
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise BackendUnavailable(f"unknown device {device!r} (option device): use cuda, mps or cpu") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("device=cuda was asked for but torch sees no CUDA GPU; use -O device=cpu")
    return dev


def resolve_dtype(dtype: Any, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "", "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise BackendUnavailable(f"unknown dtype {dtype!r} (option dtype): use float32, bfloat16 or float16")
    return DTYPES[dtype]


# ---------------------------------------------------------------------------------------------- tiny
def build_tiny_components(seed: int = 0, text_tokens: int = 8) -> Components:
    """A randomly initialised model with FLUX Fill's architecture and ~150k parameters (CPU, float32).

    VAE: 3 levels (scale factor 4), 4 latent channels. Transformer: 1 double + 1 single block, 2 heads
    of 16, input width 96 = 16 (packed noisy latent) + 16 (packed masked image) + 64 (packed mask).
    Image sides must be multiples of 8 (the VAE's 4 × the 2×2 packing).
    """
    from diffusers import AutoencoderKL, FluxTransformer2DModel

    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16),
            down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
            norm_num_groups=4, layers_per_block=1, shift_factor=0.1, scaling_factor=0.5,
        )
        transformer = FluxTransformer2DModel(
            patch_size=1, in_channels=fill_in_channels(4, 4), out_channels=16, num_layers=1,
            num_single_layers=1, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
            pooled_projection_dim=32, axes_dims_rope=[4, 4, 8], guidance_embeds=True,
        )
    scheduler = flux_scheduler()
    prompt = torch.randn((1, text_tokens, 32), generator=generator)
    pooled = torch.randn((1, 32), generator=generator)
    return Components(transformer.eval(), vae.eval(), scheduler, prompt, pooled, source="tiny")


def flux_scheduler():
    """The flow-matching Euler scheduler with FLUX's resolution-dependent shift."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )


def resolution_mu(scheduler, tokens: int) -> float:
    """FLUX's resolution-dependent shift ``mu`` for ``tokens`` image tokens (one stream), exactly as
    ``FluxFillPipeline`` computes it: more tokens, more of the schedule spent at high noise."""
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift

    config = scheduler.config
    return calculate_shift(tokens, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                           config.get("base_shift", 0.5), config.get("max_shift", 1.15))


def save_components(components: Components, folder: str | os.PathLike) -> Path:
    """Write the backbone in diffusers layout (what ``load_components`` and the backend read)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    components.transformer.save_pretrained(folder / "transformer", safe_serialization=True)
    components.vae.save_pretrained(folder / "vae", safe_serialization=True)
    components.scheduler.save_pretrained(folder / "scheduler")
    if components.prompt_embeds is not None:
        save_file({"prompt_embeds": components.prompt_embeds.detach().cpu().contiguous(),
                   "pooled_prompt_embeds": components.pooled_prompt_embeds.detach().cpu().contiguous()},
                  str(folder / PROMPT_EMBEDS_FILE))
    return folder


# ------------------------------------------------------------------------------------------- loading
def load_components(
    model: str | os.PathLike,
    *,
    dtype: Any = "auto",
    device: Optional[str] = None,
    local_files_only: bool = True,
    quantization: Optional[str] = None,
    need_prompt: bool = False,
    vae: Any = None,
) -> Components:
    """Load the Fill backbone from ``model`` (a local folder or a hub id already in the local cache).

    ``quantization``: None, ``"bnb4"`` / ``"bnb8"`` (bitsandbytes; CUDA only) or the path of a GGUF
    single-file transformer (e.g. ``flux1-fill-dev-Q4_K_S.gguf``). Errors name the file or the option.
    ``vae``: one already loaded with :func:`load_vae` (training loads it first, alone).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler

    model = os.path.expanduser(str(model))
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    _check_model_folder(model)
    common = {"local_files_only": bool(local_files_only)}
    load = partial(_load_part, model, local_files_only)
    if vae is None:
        vae = load_vae(model, dtype=torch_dtype, device=str(dev), local_files_only=local_files_only)
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    expected = fill_in_channels(vae.config.latent_channels, scale)
    transformer = load("transformer", lambda: _load_transformer(
        model, torch_dtype, quantization, common))
    if int(transformer.config.in_channels) != expected:
        raise BackendUnavailable(
            f"{model}: the transformer takes {transformer.config.in_channels} input channels, but a FLUX *Fill* "
            f"transformer over this VAE takes {expected}: point the model option at FLUX.1-Fill-dev, not FLUX.1-dev")
    try:
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(model, subfolder="scheduler", **common)
    except (OSError, ValueError, EnvironmentError):
        scheduler = flux_scheduler()  # the scheduler holds no weights; FLUX's settings are known

    if not str(quantization or "").startswith("bnb"):  # bitsandbytes places its weights itself
        transformer.to(dev)
    transformer.requires_grad_(False).eval()
    components = Components(transformer, vae, scheduler, source=model)
    prompt_file = _prompt_file(model)
    if prompt_file:
        components.prompt_embeds, components.pooled_prompt_embeds = read_prompt_embeddings(prompt_file)
    elif need_prompt:
        from .prompts import empty_prompt_embeddings

        components.prompt_embeds, components.pooled_prompt_embeds = empty_prompt_embeddings(
            model, local_files_only=local_files_only)
    return components


def load_vae(model: str | os.PathLike, *, dtype: Any = "auto", device: Optional[str] = None,
             local_files_only: bool = True):
    """The backbone's VAE alone (frozen), e.g. to train the RGBA decoder before the transformer is loaded."""
    from diffusers import AutoencoderKL

    model = os.path.expanduser(str(model))
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    _check_model_folder(model)
    vae = _load_part(model, local_files_only, "vae", lambda: AutoencoderKL.from_pretrained(
        model, subfolder="vae", torch_dtype=torch_dtype, use_safetensors=True, local_files_only=bool(local_files_only)))
    return vae.to(dev).requires_grad_(False).eval()


def _check_model_folder(model: str) -> None:
    if not os.path.isdir(model) and not looks_like_hub_id(model):
        raise BackendUnavailable(f"the model folder {model} does not exist (option model / --model)")
    if os.path.isdir(model):
        for sub in ("transformer", "vae"):
            if not os.path.isdir(os.path.join(model, sub)):
                raise BackendUnavailable(
                    f"{model} is not a FLUX Fill model folder: it has no {sub}/ subfolder "
                    "(expected diffusers layout: transformer/, vae/, scheduler/)")


def _load_part(model: str, local_files_only: bool, what: str, fn):
    """``fn()``, with loading errors turned into a message that names the folder and what to do."""
    try:
        return fn()
    except BackendUnavailable:
        raise
    except (OSError, ValueError, EnvironmentError) as exc:
        raise BackendUnavailable(_load_message(model, what, exc, local_files_only)) from exc


def _prompt_file(model: str) -> Optional[str]:
    """Precomputed empty-prompt embeddings next to the model (its folder, or its hub snapshot), if any."""
    if os.path.isdir(model):
        path = os.path.join(model, PROMPT_EMBEDS_FILE)
        return path if os.path.isfile(path) else None
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(model, PROMPT_EMBEDS_FILE)
    return path if isinstance(path, str) else None


def read_prompt_embeddings(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    from safetensors.torch import load_file

    tensors = load_file(path)
    missing = {"prompt_embeds", "pooled_prompt_embeds"} - set(tensors)
    if missing:
        raise BackendUnavailable(f"{path} lacks {', '.join(sorted(missing))}; delete it to recompute it")
    return tensors["prompt_embeds"], tensors["pooled_prompt_embeds"]


def _load_transformer(model: str, torch_dtype, quantization: Optional[str], common: dict):
    from diffusers import FluxTransformer2DModel

    if quantization in (None, "", "none"):
        return FluxTransformer2DModel.from_pretrained(
            model, subfolder="transformer", torch_dtype=torch_dtype, use_safetensors=True, **common)
    if quantization in ("bnb4", "bnb8"):
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(
                "quantization=bnb4/bnb8 needs the bitsandbytes package (pip install bitsandbytes) and a CUDA GPU"
            ) from exc
        from diffusers import BitsAndBytesConfig

        if quantization == "bnb4":
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                        bnb_4bit_compute_dtype=torch_dtype)
        else:
            config = BitsAndBytesConfig(load_in_8bit=True)
        return FluxTransformer2DModel.from_pretrained(
            model, subfolder="transformer", torch_dtype=torch_dtype, quantization_config=config,
            use_safetensors=True, **common)
    path = quantization[5:] if quantization.startswith("gguf:") else quantization
    if not path.endswith(".gguf"):
        raise BackendUnavailable(
            f"unknown quantization {quantization!r} (option quantization): use bnb4, bnb8 or the path of a .gguf file")
    if not os.path.isfile(path):
        raise BackendUnavailable(f"the GGUF file {path} does not exist (option quantization)")
    try:
        import gguf  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable("a .gguf transformer needs the gguf package (pip install gguf)") from exc
    from diffusers import GGUFQuantizationConfig

    return FluxTransformer2DModel.from_single_file(
        path, quantization_config=GGUFQuantizationConfig(compute_dtype=torch_dtype), torch_dtype=torch_dtype,
        config=model, subfolder="transformer", **common)


def _load_message(model: str, what: str, exc: Exception, local_files_only: bool) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = model if os.path.isdir(model) else f"the hub id {model}"
    if os.path.isdir(os.path.join(model, what)):
        names = os.listdir(os.path.join(model, what))
        if not any(n.endswith(".safetensors") for n in names) and any(
                n.endswith(PICKLE_SUFFIXES) for n in names):
            return (f"{os.path.join(model, what)} holds only pickle weights (.bin/.pt), which layerdecomp never "
                    "loads; use a copy saved as .safetensors")
    hint = (" (it is not in the local cache: download it first, see docs/model.md, or set -O local_files_only=false)"
            if local_files_only and not os.path.isdir(model) else "")
    return f"cannot load the {what} of {where}{hint}: {text}"
