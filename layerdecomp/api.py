"""``decompose``: validate -> region -> backend -> layering."""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from . import backends
from .errors import raise_if_cancelled
from .layering import assemble
from .region import DEFAULT_GROW, plan_region
from .types import CancelToken, Decomposition, ProgressCallback
from .validate import validate


def _no_progress(stage: str, fraction: float) -> None:
    pass


def decompose(
    image: np.ndarray,
    mask: np.ndarray,
    backend: str = "auto",
    *,
    margin: Optional[int] = None,
    grow: int = DEFAULT_GROW,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    **options: Any,
) -> Decomposition:
    """Split the selected object out of ``image``.

    ``image``: H×W×3 or H×W×4 uint8 (RGB/RGBA). ``mask``: H×W uint8, 0 = not selected, 255 = selected,
    grey levels = partly selected. ``margin``: context in pixels around the selection (default: a quarter
    of the selection's size). ``grow``: how far the hole reaches beyond the selection. Other ``options``
    go to the backend (see its ``load_options`` / ``run_options``).
    """
    report = progress or _no_progress
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    image, mask = validate(image, mask)
    cls = backends.resolve(backend, **options)
    load_options, run_options = backends.split_options(cls, options)
    region = plan_region(mask, margin=margin, grow=grow)
    timings["region"] = time.perf_counter() - t0
    report("region", 1.0)
    raise_if_cancelled(cancel)

    t0 = time.perf_counter()
    engine = backends.instance(cls, load_options)
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    crop = image[region.box.slices]
    result = engine.run(
        np.ascontiguousarray(crop[..., :3]),
        np.ascontiguousarray(mask[region.box.slices]),
        region.hole,
        progress=report,
        cancel=cancel,
        **run_options,
    )
    timings["backend"] = time.perf_counter() - t0
    raise_if_cancelled(cancel)

    t0 = time.perf_counter()
    metadata = {
        "backend": cls.name,
        "occlusion_recovery": bool(cls.supports_occlusion and result.amodal_alpha is not None),
        "box": list(region.box.as_tuple()),
        "options": {"margin": margin, "grow": grow, **options},
        **result.metadata,
    }
    decomposition = assemble(image, region, result, metadata)
    timings["layering"] = time.perf_counter() - t0
    metadata["timings"] = timings
    report("layering", 1.0)
    return decomposition
