"""What the bench scripts share: run a backend instance through the library's own stages."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from layerdecomp import matting
from layerdecomp.backends import Backend
from layerdecomp.fill import patchmatch_fill
from layerdecomp.layering import assemble
from layerdecomp.options import job_options
from layerdecomp.region import plan_region
from layerdecomp.types import BackendResult
from layerdecomp.validate import validate


class NaiveBaseline(Backend):
    """evaluation.md's *naive* baseline: OpenCV Navier-Stokes inpainting, alpha = the mask."""

    name = "naive"

    def run(self, image, mask, hole, options, *, progress, cancel):
        background = cv2.inpaint(image, hole.astype(np.uint8), 3, cv2.INPAINT_NS)
        return BackendResult(background=background, alpha=mask.astype(np.float32) / 255.0)


class StrongBaseline(Backend):
    """evaluation.md's *strong classical* baseline: PatchMatch at full resolution, guided-filter alpha."""

    name = "strong"

    def run(self, image, mask, hole, options, *, progress, cancel):
        background = patchmatch_fill(image, hole)
        radius = max(2, matting.band_radius(mask) // 2)
        alpha = matting.guided_filter(image.astype(np.float32) / 255.0, mask.astype(np.float32) / 255.0, radius)
        return BackendResult(background=background, alpha=np.clip(alpha, 0, 1).astype(np.float32))


def run_backend(engine: Backend, image: np.ndarray, mask: np.ndarray, **options):
    """``(decomposition, hole at full size, seconds)``: validate -> region -> backend -> layering."""
    t0 = time.perf_counter()
    image, mask = validate(image, mask)
    region = plan_region(mask)
    crop = np.ascontiguousarray(image[region.box.slices][..., :3])
    result = engine.run(crop, np.ascontiguousarray(mask[region.box.slices]), region.hole,
                        job_options(engine.name, engine.option_specs, options),
                        progress=lambda stage, fraction: None, cancel=threading.Event())
    decomposition = assemble(image, region, result, {"backend": engine.name, **result.metadata})
    seconds = time.perf_counter() - t0
    hole = np.zeros(mask.shape, bool)
    hole[region.box.slices] = region.hole
    return decomposition, hole, seconds
