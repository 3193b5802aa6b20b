"""Small learned models on the CPU: ViTMatte for the alpha, MI-GAN for the clean plate.

- Alpha: the same band along the selection's edge as the classical backend (``matting.band_radius`` and
  ``matting.trimap``) becomes ViTMatte's trimap; the model runs on the crop shrunk so that its longer
  side is at most ``matting_resolution`` (default 512, the size of its training crops; on a CPU it costs
  ~15x the classical matting there and ~17x at 1024, see bench/learned_cost.py), and its alpha comes back
  to the crop's size by guided upsampling (``matting.guided_upsample``, the fast guided filter), only
  inside the band. The
  object's colours in the soft edge are estimated as in the classical backend.
- Background: MI-GAN fills the hole on the crop shrunk to fit its native 512 × 512; the fill comes back
  to the crop's size the way ``fill.py`` brings back its coarse PatchMatch pass (``fill.upscale_fill``:
  smooth upsampling plus the picture's own fine detail), so a 4K canvas does not get a 512² blur.
- Layering is ``layering.assemble``'s, as for every backend. No occlusion recovery.

``auto`` picks this backend over ``classical`` when torch, transformers and onnxruntime are installed and
the weights are on disk (see ``layerdecomp.learned``). The models load once, when the backend is created.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional

import cv2
import numpy as np

from .. import fill as fill_module
from .. import learned, matting
from ..learned.migan import NATIVE_SIZE as REMOVAL_SIZE
from ..learned.vitmatte import make_trimap
from ..errors import BackendUnavailable, raise_if_cancelled
from ..options import LOAD, OptionSpec
from ..types import BackendResult, CancelToken, ProgressCallback
from . import Backend, missing_packages

DEFAULT_MATTING_RESOLUTION = 512


def _shrunk_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(w, h) scaled so that the longer side is at most ``longest`` (never enlarged)."""
    scale = min(1.0, longest / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


class LearnedBackend(Backend):
    name = "learned"
    label = "Learned models"
    description = "Small trained models for the edge and the background; a few seconds on a CPU."
    priority = 5  # above classical, below diffusion
    supports_occlusion = False
    option_specs = (
        OptionSpec("weights", "text", None, "Weights folder", "The folder holding both models.", scope=LOAD),
        OptionSpec("device", "text", None, "Device", "Where ViTMatte runs: cpu, cuda, ...", scope=LOAD),
        # Its cost grows with the square of it (bench/learned_cost.py).
        OptionSpec("matting_resolution", "int", DEFAULT_MATTING_RESOLUTION, "Edge detail",
                   "The size the edge is worked out at: higher keeps finer hair, and is slower.", min=32, max=4096),
    )

    @classmethod
    def unavailable_reason(cls, **options: Any) -> Optional[str]:
        missing = missing_packages(("torch", "transformers", "safetensors", "onnxruntime"), "learned")
        if missing:
            return missing
        folder = learned.weights_dir(options)
        absent = learned.missing_files(folder)
        if absent:
            where = f"{folder} lacks {', '.join(absent)}" if folder else "no weights folder is set"
            return f"its weights are not here ({where}); {learned.HOW_TO_GET}"
        return None

    def __init__(self, **options: Any):
        from ..learned.migan import MiGan
        from ..learned.vitmatte import VitMatte

        folder = learned.weights_dir(options)
        self.device = str(options.get("device") or "cpu")
        try:
            self.matting = VitMatte(learned.matting_folder(folder), device=self.device)
            self.removal = MiGan(learned.removal_file(folder))
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"the learned backend's weights in {folder} cannot be loaded ({exc}); "
                                     f"{learned.HOW_TO_GET}") from exc

    def _alpha(self, image: np.ndarray, mask: np.ndarray, hole: np.ndarray, resolution: int):
        """(alpha, unknown band) for the crop: ViTMatte on the band's trimap at the working size."""
        # A selection that is nowhere complete takes that share of the object (as matting.matte does).
        peak = int(mask.max())
        strength = peak / 255.0 if 0 < peak < 255 else 1.0
        if strength < 1.0:
            mask = np.clip(np.rint(mask.astype(np.float32) * (255.0 / peak)), 0, 255).astype(np.uint8)
        radius = matting.band_radius(mask)
        known, unknown = matting.trimap(mask, hole, radius)
        h, w = mask.shape
        size = _shrunk_size(h, w, resolution)
        image01 = image.astype(np.float32) / 255.0
        if size == (w, h):
            alpha = self.matting(image, make_trimap(known, unknown))
        else:
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            small_known = cv2.resize(known, size, interpolation=cv2.INTER_AREA)
            # Any coverage by the band makes a working pixel unknown: the band never shrinks.
            small_unknown = cv2.resize(unknown.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
            small_alpha = self.matting(small, make_trimap(small_known, small_unknown))
            near_band = cv2.dilate(small_unknown.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            small01 = small.astype(np.float32) / 255.0
            alpha = matting.guided_upsample(small01, small_alpha, image01, radius=2, where_small=near_band)
        alpha = np.where(unknown, alpha, known)
        alpha = np.where(hole, np.clip(alpha, 0.0, 1.0), 0.0).astype(np.float32)
        return alpha, unknown, strength

    def _plate(self, image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """The crop with the hole filled by MI-GAN at its native size, brought back with the detail."""
        h, w = hole.shape
        size = _shrunk_size(h, w, REMOVAL_SIZE)
        if size == (w, h):
            return self.removal(image, hole), [w, h]
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        small_fill = self.removal(small, small_hole)
        return fill_module.upscale_fill(image, hole, small_fill, small_hole), list(size)

    def run(self, image, mask, hole, options: Mapping[str, Any], *, progress: ProgressCallback,
            cancel: Optional[CancelToken]) -> BackendResult:
        resolution = options["matting_resolution"]
        hole = np.asarray(hole, bool)
        timings: dict[str, float] = {}
        raise_if_cancelled(cancel)

        progress("alpha", 0.0)
        t0 = time.perf_counter()
        alpha, unknown, strength = self._alpha(image, mask, hole, resolution)
        foreground, _ = matting.estimate_colours(image, alpha, unknown)
        alpha *= np.float32(strength)  # colours are the object's; only the share taken shrinks
        timings["alpha"] = time.perf_counter() - t0
        progress("alpha", 1.0)
        raise_if_cancelled(cancel)

        progress("fill", 0.0)
        t0 = time.perf_counter()
        filled, removal_size = self._plate(image, hole)
        timings["fill"] = time.perf_counter() - t0
        progress("fill", 1.0)
        raise_if_cancelled(cancel)
        return BackendResult(
            background=filled,  # the soft edge's plate is layering.py's to decide
            alpha=alpha,
            foreground=foreground,
            metadata={
                "occlusion_recovery": False,
                "unsupported": ["occlusion_recovery"],
                "matting": "vitmatte",
                "removal": "migan",
                "matting_working_size": list(_shrunk_size(*hole.shape, resolution)),
                "removal_working_size": removal_size,
                "backend_timings": timings,
            },
        )


BACKEND = LearnedBackend
