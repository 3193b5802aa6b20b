"""Run a backend over a set of test cases and summarise ``evaluation.md``'s metrics (from :mod:`.metrics`).

Cases come from triplet shards (``layerdecomp data build``: each triplet becomes a :class:`.cases.Case`)
or from the built-in composites of offline photos (:func:`.cases.make_cases`). Each case goes through
:func:`layerdecomp.decompose` exactly as a user's picture would (region, backend, faithful layering), so the
numbers are those of the whole method, and timings and peak memory come with them.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..api import decompose
from ..data.triplet import Triplet
from ..region import DEFAULT_GROW, plan_region
from .cases import Case
from .metrics import evaluate

# Metrics in the order the table prints them, with the direction that is better.
COLUMNS = (
    ("bg_psnr_hole", "↑"), ("bg_ssim_hole", "↑"), ("bg_psnr", "↑"), ("detail_ratio", "→1"), ("detail_log2", "↓"),
    ("outside_maxdiff", "↓"), ("alpha_sad", "↓"), ("alpha_sad_band", "↓"), ("alpha_mse", "↓"),
    ("alpha_grad", "↓"), ("alpha_iou", "↑"), ("fg_l1", "↓"), ("edge_colour", "↓"), ("recomp_psnr", "↑"),
    ("occl_iou", "↑"), ("occl_psnr", "↑"), ("seconds", "↓"), ("peak_mib", "↓"),
)


def triplet_to_case(triplet: Triplet, name: str) -> Case:
    alpha = triplet.foreground[..., 3].astype(np.float32) / 255.0
    return Case(
        name=name,
        image=triplet.image,
        mask=triplet.mask,
        background=triplet.background,
        foreground=triplet.foreground[..., :3],
        alpha=alpha,
        alpha_visible=triplet.visible.astype(np.float32) / 255.0,
        hidden=triplet.hidden,
        mask_kind=str(triplet.meta.get("mask_style", "")),
    )


def cases_from_shards(paths: Iterable[str], limit: Optional[int] = None) -> list[Case]:
    from ..data.shards import TripletShards

    shards = TripletShards(list(paths))
    count = len(shards) if limit is None else min(limit, len(shards))
    return [triplet_to_case(shards[i], shards.where(i)) for i in range(count)]


def run_case(case: Case, backend: str, grow: int = DEFAULT_GROW, **options: Any) -> dict[str, float]:
    """The metrics of one decomposition of ``case``, plus ``seconds`` and ``peak_mib``: the peak of
    Python-allocated memory (numpy, OpenCV results) while it ran, or on a GPU torch's peak allocation when
    larger. Torch's CPU tensors are not counted, so for a model on the CPU this is a lower bound."""
    tracemalloc.start()
    torch = _torch_if_loaded()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = decompose(case.image, case.mask, backend=backend, grow=grow, **options)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if torch is not None and torch.cuda.is_available():
        peak = max(peak, torch.cuda.max_memory_allocated())
    region = plan_region(case.mask, grow=grow)
    hole = np.zeros(case.mask.shape, bool)
    hole[region.box.slices] = region.hole
    occlusion = bool(result.metadata.get("occlusion_recovery"))
    row = evaluate(case, result.foreground, result.background[..., :3], hole, occlusion=occlusion)
    row["seconds"] = seconds
    row["peak_mib"] = peak / 2**20
    return row


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")


def run(cases: list[Case], backend: str, progress: Callable[[int], None] | None = None,
        **options: Any) -> list[dict[str, float]]:
    rows = []
    for case in cases:
        rows.append(run_case(case, backend, **options))
        if progress is not None:
            progress(1)
    return rows


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the cases that have it (nan and inf values are left out; a metric that is
    inf for every case, e.g. an exact recomposition, stays inf)."""
    out = {}
    for name, _ in COLUMNS:
        values = [r[name] for r in rows if name in r and not math.isnan(r[name])]
        if not values:
            continue
        finite = [v for v in values if math.isfinite(v)]
        out[name] = float(np.mean(finite)) if finite else float(values[0])
        out[f"{name}_cases"] = len(values)
    return out


def table(summaries: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per metric, one column per backend."""
    names = list(summaries)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric, better in COLUMNS:
        if not any(metric in s for s in summaries.values()):
            continue
        cells = []
        for name in names:
            value = summaries[name].get(metric)
            cells.append("—" if value is None else f"{value:.4g}")
        lines.append(f"| {metric} ({better}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
