"""The paper's model: a FLUX Fill backbone, with or without a trained layer-decomposition adapter.

- adapter mode (``adapter=FILE``): one joint generation of the object (RGBA, including the parts hidden
  behind occluders) and the clean background; see ``layerdecomp/model/``.
- zero-shot mode (no adapter): the base Fill model regenerates the background in the hole and the object's
  alpha and colours come from matting (``layerdecomp.matting``); no occlusion recovery.

The crop is worked on at its own size, capped at ``resolution`` pixels on its longer side and raised to
512 at least (sides rounded to the model's multiple); the results are scaled back. ``auto`` picks this
backend only when torch and diffusers are installed and a model is configured (``model`` option,
``--model``, or ``LAYERDECOMP_MODEL``) and present on this machine. Nothing here imports torch until the
backend is created.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import cv2
import numpy as np

from ..errors import BackendUnavailable, InvalidInput
from ..locations import MODEL_ENV, configured_adapter, configured_model, model_present
from ..options import LOAD, Choice, OptionSpec
from ..types import BackendResult, CancelToken, ProgressCallback
from . import Backend, missing_packages

DEFAULT_RESOLUTION = 1024
MIN_RESOLUTION = 512


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() not in ("0", "false", "no", "off")


def working_size(height: int, width: int, resolution: int, multiple: int) -> tuple[int, int]:
    """(h, w), both multiples of ``multiple``, with the longer side the crop's own, capped at ``resolution``
    and raised to at least ``MIN_RESOLUTION`` (FLUX makes poor pictures much below 512 px), so the cost
    follows the selection's size up to the cap."""
    longest = min(resolution, max(max(height, width), min(MIN_RESOLUTION, resolution)))
    factor = longest / max(height, width)
    h = max(multiple, int(round(height * factor / multiple)) * multiple)
    w = max(multiple, int(round(width * factor / multiple)) * multiple)
    return h, w


def _out_of_memory_message(size: tuple[int, int], resolution: int) -> str:
    return (f"the GPU ran out of memory at a working size of {size[1]}×{size[0]}: lower -O resolution= "
            f"(now {resolution}), or load the model with -O dtype=bf16, -O offload=model (or sequential), "
            "or -O quantization=bnb4 / a .gguf file (see docs/model.md)")


# Below this the RGBA decoder's alpha is noise, not a part of the object.
MIN_OBJECT_ALPHA = 2 / 255
# Object colour and plate this far apart (RGB distance in [0, 1] units) tell visible from hidden apart.
DISTINCT_COLOURS = 0.15


def scale_rgba_premultiplied(rgba: np.ndarray, width: int, height: int, enlarge: bool) -> np.ndarray:
    """Straight RGBA in [0, 1] scaled to ``width × height`` through premultiplied colour, so transparent
    pixels' colours (whatever the decoder left there) never bleed into the edge. Linear (enlarging) or
    area (shrinking) weights are never negative, so an edge keeps its object's colour exactly; cubic
    ones overshoot, and dividing by a small alpha would magnify that."""
    alpha = np.clip(rgba[..., 3:4], 0, 1).astype(np.float32)
    premultiplied = np.dstack([rgba[..., :3] * alpha, alpha]).astype(np.float32)
    scaled = cv2.resize(premultiplied, (width, height), interpolation=cv2.INTER_LINEAR if enlarge else cv2.INTER_AREA)
    a = np.clip(scaled[..., 3:4], 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        colour = np.where(a > 0, scaled[..., :3] / a, 0.0)
    return np.dstack([np.clip(colour, 0, 1), a]).astype(np.float32)


def split_visible(image: np.ndarray, rgba: np.ndarray, plate: np.ndarray,
                  hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(complete alpha, visible alpha)`` of the object the model returned (``rgba`` straight, ``plate``
    the clean background, both in [0, 1], at the crop's size).

    Visible: inside the hole, where the picture shows the object. The plate keeps what stands in front
    of the object, so where object colour and plate differ clearly, the picture's alpha along the line
    plate -> object, ``((I − B)·(F − B)) / |F − B|²``, tells them apart: under half the object's alpha
    means something else is seen there (an occluder), a hidden part. Hidden parts are only kept where
    they connect to the visible object (a speck of alpha elsewhere is not part of it).
    """
    alpha = np.where(rgba[..., 3] >= MIN_OBJECT_ALPHA, rgba[..., 3], 0).astype(np.float32)
    picture = image.astype(np.float32) / 255.0
    towards_object = rgba[..., :3] - plate
    spread = (towards_object ** 2).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = ((picture - plate) * towards_object).sum(axis=2) / spread
    hidden = (spread > DISTINCT_COLOURS ** 2) & (shown < 0.5 * alpha)
    visible = np.where(hole & ~hidden, alpha, 0).astype(np.float32)
    count, labels = cv2.connectedComponents((alpha > 0).astype(np.uint8), connectivity=8)
    attached = np.unique(labels[visible > 0])
    keep = np.isin(labels, attached[attached > 0])
    return np.where(keep, alpha, 0).astype(np.float32), np.where(keep, visible, 0).astype(np.float32)


# Plate and picture further apart than this (levels, any channel, at the working size) mean the model
# removed something there; its VAE round trip alone differs by a few levels.
EFFECT_TOLERANCE = 12


def removed_beside(small: np.ndarray, plate: np.ndarray, back) -> np.ndarray:
    """Where the model's clean plate differs from the picture: the object, and what goes with it (its
    shadow, its reflection). Compared at the working size, where the plate has its own sharpness; a
    plate scaled back is blurrier than the picture, and that is not something removed. ``layering``
    keeps the object's own pixels out and carries the rest with the object."""
    difference = np.abs(small.astype(np.float32) - plate * 255.0).max(axis=2)
    return back((difference > EFFECT_TOLERANCE).astype(np.float32)) > 0.5


class DiffusionBackend(Backend):
    name = "diffusion"
    label = "Diffusion model (needs a GPU)"
    description = "The paper's model: recovers hidden parts of the object; needs a graphics card and time."
    priority = 10  # above classical: when the model can run, auto prefers it
    supports_occlusion = True
    option_specs = (
        OptionSpec("model", "text", None, "Model", "The FLUX Fill model: a folder in diffusers layout or a hub id.",
                   scope=LOAD),
        OptionSpec("adapter", "text", None, "Adapter", "A layer-decomposition adapter (.safetensors); without "
                   "it, zero-shot.", scope=LOAD),
        OptionSpec("dtype", "text", None, "Precision", "The weights' precision: auto, bf16, fp16, fp32.", scope=LOAD),
        OptionSpec("device", "text", None, "Device", "Where the model runs: cuda, cpu, mps, ...", scope=LOAD),
        OptionSpec("offload", "text", None, "Offload", "Keep weights on the CPU between uses: model or "
                   "sequential.", scope=LOAD),
        OptionSpec("quantization", "text", None, "Quantization", "Load the base quantised: bnb4 (or give a "
                   ".gguf model).", scope=LOAD),
        OptionSpec("local_files_only", "bool", True, "Local files only", "Never download; false lets a hub id "
                   "download.", scope=LOAD),
        OptionSpec("depth_model", "text", None, "Depth model", "The adapter's depth estimator (empty: none).",
                   scope=LOAD),
        OptionSpec("segmentation_model", "text", None, "Segmentation model", "The adapter's segmentation model "
                   "(empty: none).", scope=LOAD),
        OptionSpec("steps", "int", 28, "Quality steps", "More steps: a more careful background, slower.",
                   min=1, max=200),
        OptionSpec("seed", "seed", 0, "Variation",
                   "The same number gives the same result for the same picture; another number, another try."),
        OptionSpec("guidance", "float", 30.0, "Guidance", "How closely the fill follows the model's prompt; "
                   "leave it unless the background drifts.", min=0.0, max=100.0),
        OptionSpec("mode", "choice", "auto", "Mode", "With an adapter: recover hidden parts too; zero-shot: the "
                   "background only.", choices=(Choice("auto", "As loaded"), Choice("adapter", "Adapter"),
                                                Choice("zero-shot", "Zero-shot"))),
        OptionSpec("resolution", "int", DEFAULT_RESOLUTION, "Working size", "The longer side the model works "
                   "at (at least 512 in the end): higher keeps detail, costs memory and time.", min=16, max=4096),
    )

    @classmethod
    def unavailable_reason(cls, **options: Any) -> Optional[str]:
        missing = missing_packages(("torch", "diffusers", "peft", "safetensors"), "model")
        if missing:
            return missing
        model = configured_model(options)
        if not model:
            return ("no model is configured: give one with --model DIR (layerdecomp decompose, serve or eval), "
                    f"the model option in Python, or {MODEL_ENV}")
        if _truthy(options.get("local_files_only", True)) and not model_present(model):
            return (f"the model {model} is not on this machine (a folder with transformer/ and vae/ in diffusers "
                    "layout, or a downloaded hub id; see docs/model.md)")
        adapter = configured_adapter(options)
        if adapter and not os.path.isfile(adapter):
            return f"the adapter file {adapter} does not exist (option adapter / --adapter)"
        return None

    def __init__(self, **options: Any):
        import torch

        from ..model.components import load_components, resolve_device
        from ..model.pipeline import ZeroShotFill, apply_offload

        self.model_path = configured_model(options)
        self.adapter_path = configured_adapter(options)
        local = _truthy(options.get("local_files_only", True))
        offload = options.get("offload")
        device = options.get("device")
        try:
            # with offload, everything starts on the CPU and each part visits the GPU when it runs
            components = load_components(
                self.model_path, dtype=options.get("dtype", "auto"), device="cpu" if offload else device,
                local_files_only=local, quantization=options.get("quantization"),
                need_prompt=self.adapter_path is None)
            self.multiple = 2 * components.vae_scale_factor
            # what the server's welcome reports; with offload the weights rest on the CPU between uses
            self.device = f"{resolve_device(device)} (offload: {offload})" if offload else str(components.device)
            self.pipeline = self.zero_shot = self.estimators = None
            if self.adapter_path:
                from ..model.adapter import load_adapter
                from ..model.mcf import ModalityEstimators
                from ..model.pipeline import LayerDecompositionPipeline

                model = load_adapter(self.adapter_path, components)
                if not options.get("quantization"):
                    # Merge the LoRA into the base weights, then drop the LoRA matrices: same outputs (to
                    # rounding), ~1 B parameters' worth of matmuls saved per step at rank 256, and ~2 GB of
                    # weights (bf16) that would otherwise stay resident. A quantised base cannot merge.
                    model.transformer.fuse_lora()
                    model.transformer.unload_lora()
                mcf = model.config.mcf
                for key in ("depth_model", "segmentation_model"):
                    if key in options:
                        setattr(mcf, key, options[key] or None)
                self.pipeline = LayerDecompositionPipeline.from_model(model, components.scheduler)
                self.pipeline.set_progress_bar_config(disable=True)
                apply_offload(self.pipeline, offload)
                # the execution device, not the VAE's: with offload the VAE rests on the CPU (or meta)
                self.estimators = ModalityEstimators(mcf, device=str(self.pipeline._execution_device),
                                                     local_files_only=local)
            else:
                self.zero_shot = ZeroShotFill(components, offload)
        except torch.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise BackendUnavailable(
                f"the GPU ran out of memory loading {self.model_path}: load it with -O dtype=bf16, -O offload=model "
                "(or sequential), or -O quantization=bnb4 / a .gguf file (see docs/model.md)") from exc

    def run(self, image: np.ndarray, mask: np.ndarray, hole: np.ndarray, options: Mapping[str, Any], *,
            progress: ProgressCallback, cancel: Optional[CancelToken]) -> BackendResult:
        import torch

        steps, seed, guidance = options["steps"], options["seed"], options["guidance"]
        mode, resolution = options["mode"], options["resolution"]
        if mode == "auto":
            mode = "adapter" if self.pipeline is not None else "zero-shot"
        if mode == "adapter" and self.pipeline is None:
            raise InvalidInput("mode=adapter needs an adapter: pass --adapter FILE or -O adapter=FILE")
        if mode == "zero-shot" and self.zero_shot is None:
            raise InvalidInput("mode=zero-shot runs the base model without an adapter: leave the adapter option out")
        if resolution < self.multiple:
            raise InvalidInput(f"the diffusion backend's option resolution must be at least {self.multiple} "
                               f"(this model's multiple), not {resolution}")
        height, width = image.shape[:2]
        size = working_size(height, width, resolution, self.multiple)
        shrink = size[0] * size[1] < height * width
        small = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        # Any coverage of a working pixel by the hole makes it part of the hole: the hole never shrinks.
        small_hole = cv2.resize(hole.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA) > 0

        def on_step(done: int, total: int) -> None:
            progress("step", done / total)

        def back(array: np.ndarray) -> np.ndarray:
            return cv2.resize(array, (width, height), interpolation=cv2.INTER_CUBIC if shrink else cv2.INTER_AREA)

        metadata = {"mode": mode, "working_size": [size[1], size[0]], "model": self.model_path}
        try:
            if mode == "adapter":
                maps, missing = self.estimators(small)
                out = self.pipeline(small, small_hole, steps=steps, seed=seed, guidance=guidance, modality_maps=maps,
                                    modality_missing=missing, callback=on_step, cancel=cancel)
                plate = np.clip(back(out.background), 0, 1)
                background = np.clip(np.rint(plate * 255), 0, 255).astype(np.uint8)
                rgba = scale_rgba_premultiplied(out.foreground, width, height, shrink)
                amodal_alpha, alpha = split_visible(image, rgba, plate, hole)
                colours = (rgba[..., :3] * 255).astype(np.float32)
                from ..model.config import MODALITIES

                metadata.update(adapter=self.adapter_path, occlusion_recovery=True,
                                missing_modalities=[m for m, gone in zip(MODALITIES, missing) if gone],
                                modality_problems=dict(self.estimators.problems))
                return BackendResult(background=background, alpha=alpha, foreground=colours,
                                     amodal_alpha=amodal_alpha, amodal_foreground=np.rint(colours).astype(np.uint8),
                                     metadata=metadata, effects=removed_beside(small, out.background, back) & hole)
            filled = self.zero_shot(small, small_hole, steps=steps, seed=seed, guidance=guidance,
                                    callback=on_step, cancel=cancel)
        except torch.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise BackendUnavailable(_out_of_memory_message(size, resolution)) from exc
        background = np.clip(np.rint(back(filled) * 255), 0, 255).astype(np.uint8)
        from ..matting import matte

        progress("alpha", 0.0)
        alpha, colours = matte(image, mask, hole)
        progress("alpha", 1.0)
        metadata.update(occlusion_recovery=False)
        return BackendResult(background=background, alpha=alpha, foreground=colours, metadata=metadata)


BACKEND = DiffusionBackend
