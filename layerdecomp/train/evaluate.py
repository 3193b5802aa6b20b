"""Scoring a trained model on held-out triplets, straight from the pipeline (no crop, no layering).

What the learnability tests and a training run's sanity check measure: evaluation.md's background PSNR
in the hole, the complete object's alpha IoU and the occlusion-recovery IoU (from :mod:`layerdecomp.eval
.metrics`), on the model's raw output at the triplets' own size. ``layerdecomp eval --backend diffusion``
measures the whole method (crop, working resolution, faithful layering) instead.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data.triplet import Triplet
from ..eval import metrics
from .stages import without_context


class _WithoutContext:
    """The model, but every context it encodes is zeroed (for a model trained with ``drop_context``)."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __call__(self, *args, **kwargs):
        return self._model(*args, **kwargs)

    def encode_conditions(self, *args, **kwargs):
        return without_context(self._model.encode_conditions(*args, **kwargs))


@torch.no_grad()
def score(model, scheduler, triplets: Sequence[Triplet], steps: int = 10, seed: int = 0,
          drop_context: bool = False) -> dict[str, float]:
    """Means over ``triplets`` of bg_psnr_hole, alpha_iou (complete object), occl_iou (hidden part)."""
    from ..model.pipeline import LayerDecompositionPipeline

    pipe = LayerDecompositionPipeline.from_model(_WithoutContext(model) if drop_context else model, scheduler)
    rows: dict[str, list[float]] = {"bg_psnr_hole": [], "alpha_iou": [], "occl_iou": []}
    for i, t in enumerate(triplets):
        hole = t.mask >= 128
        out = pipe(t.image, hole, steps=steps, seed=seed + i)
        background = np.clip(np.rint(out.background * 255), 0, 255)
        alpha = out.foreground[..., 3].astype(np.float64)
        truth = t.foreground[..., 3] / 255.0
        rows["bg_psnr_hole"].append(metrics.psnr(background, t.background, hole))
        rows["alpha_iou"].append(metrics.alpha_soft_iou(alpha, truth))
        if t.hidden.any():
            rows["occl_iou"].append(metrics.occlusion_iou(alpha, truth, t.hidden))
    return {k: float(np.nanmean(v)) if v else float("nan") for k, v in rows.items()}
