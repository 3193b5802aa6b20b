"""Composites with a known plate: how close the clean plate comes to the true background behind a real object.

``docs/evaluation.md`` ("Plate") defines the measurement; this module is it:

- **Composites**: each real photo's object (its colours F estimated from the photo and its true alpha with
  pymatting's ``estimate_foreground_ml``) over another real photo (``BACKGROUNDS``: photos that ship with
  scikit-image and scikit-learn, a view chosen by the photo's name, resized to the photo's size):
  ``I = aF + (1 - a)B``, rounded. The true plate is B.
- **Selections**: those of ``photos.selection`` (the same variants as the alpha's measurement).
- **Where**: the *hole* (the grown selection, what the tool may repaint), the *outline* (hole pixels within
  ``OUTLINE_PX`` px of the edge of the true object ``alpha >= 128``, both sides: where a ghost outline
  shows) and the *interior* (hole pixels inside the object farther than that: the fill's own quality).
- **Scores**: the plate's PSNR in the hole, its mean absolute error (0-255, mean over channels) on the
  outline and the interior, each beside OpenCV Telea's inpainting of the same hole (the baseline an artist
  gets from "fill the selection"); and the Object layer's premultiplied colour error, mean
  ``|a F - a_gt F_gt|`` over the hole (0-255).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import cv2
import numpy as np

from ..region import DEFAULT_GROW, plan_region
from .cases import _random_view, load_photo
from .metrics import psnr
from .photos import VARIANTS, Photo, selection

# Background photos (scikit-image, scikit-learn): textured and smooth, indoor and outdoor.
BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower")
OUTLINE_PX = 4
METHODS = ("tool", "telea")
SCORES = ("psnr_hole", "outline", "interior")


@dataclass
class PlateCase:
    name: str
    image: np.ndarray  # uint8 H×W×3, the composite
    alpha: np.ndarray  # uint8 H×W, the object's true alpha
    premultiplied: np.ndarray  # float32 H×W×3, the object's true a·F (0-255)
    plate: np.ndarray  # uint8 H×W×3, the true background


def object_colours(photo: Photo) -> np.ndarray:
    """The object's colours F (float32 0-255) from the photo and its true alpha (pymatting)."""
    from pymatting import estimate_foreground_ml

    foreground = estimate_foreground_ml(photo.image.astype(np.float64) / 255.0, photo.alpha.astype(np.float64) / 255.0)
    return (np.clip(foreground, 0.0, 1.0) * 255.0).astype(np.float32)


def make_case(photo: Photo) -> PlateCase:
    """``photo``'s object over a background photo chosen (and viewed) by the photo's name."""
    seed = zlib.crc32(photo.name.encode())
    rng = np.random.default_rng(seed)
    background = _random_view(load_photo(BACKGROUNDS[seed % len(BACKGROUNDS)]), photo.alpha.shape, rng)
    foreground = object_colours(photo)
    a = photo.alpha.astype(np.float32)[..., None] / 255.0
    image = np.clip(np.rint(a * foreground + (1.0 - a) * background), 0, 255).astype(np.uint8)
    return PlateCase(photo.name, image, photo.alpha, a * foreground, background)


def zones(alpha: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(outline, interior)`` of the hole, as the module says."""
    binary = (alpha >= 128).astype(np.uint8)
    inside = cv2.distanceTransform(binary, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - binary, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    near = np.where(binary > 0, inside, outside) <= OUTLINE_PX
    return hole & near, hole & (binary > 0) & ~near


def _mean_error(plate: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    if not where.any():
        return float("nan")
    return float(np.abs(plate[where].astype(np.float64) - truth[where]).mean())


def plate_scores(plate: np.ndarray, case: PlateCase, hole: np.ndarray) -> dict[str, float]:
    outline, interior = zones(case.alpha, hole)
    return {"psnr_hole": psnr(plate, case.plate, hole), "outline": _mean_error(plate, case.plate, outline),
            "interior": _mean_error(plate, case.plate, interior)}


def evaluate_plates(cases: Iterable[PlateCase], variants: Iterable[str] = VARIANTS, backend: str = "classical",
                    progress: Optional[Callable[[int], None]] = None, **options) -> list[dict]:
    """One row per (case, variant): ``{"photo", "variant", "tool": {...}, "telea": {...}, "object": float}``."""
    from ..api import decompose

    rows = []
    for case in cases:
        for variant in variants:
            mask = selection(case.alpha, variant, case.name)
            result = decompose(case.image, mask, backend=backend, **options)
            region = plan_region(mask, grow=options.get("grow", DEFAULT_GROW))
            hole = np.zeros(mask.shape, bool)
            hole[region.box.slices] = region.hole
            telea = cv2.inpaint(case.image, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
            a = result.foreground[..., 3:4].astype(np.float32) / 255.0
            premultiplied = a * result.foreground[..., :3]
            rows.append({"photo": case.name, "variant": variant,
                         "tool": plate_scores(result.background[..., :3], case, hole),
                         "telea": plate_scores(telea, case, hole),
                         "object": float(np.abs(premultiplied - case.premultiplied)[hole].mean())})
            if progress is not None:
                progress(1)
    return rows


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Means per variant and over all rows (``"all"``): ``{group: {"tool": {...}, "telea": {...}, "object": x}}``."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["variant"], []).append(row)
    groups["all"] = rows
    return {group: {**{m: {k: float(np.nanmean([r[m][k] for r in members])) for k in SCORES} for m in METHODS},
                    "object": float(np.mean([r["object"] for r in members]))}
            for group, members in groups.items()}


def table(summary: dict[str, dict]) -> str:
    """Markdown: per selection variant and overall, the plate's scores beside Telea's."""
    head = ["selection", "PSNR hole tool / Telea (dB)", "outline error tool / Telea", "outline ratio",
            "interior error tool / Telea", "object a·F error"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, s in summary.items():
        tool, telea = s["tool"], s["telea"]
        gain = tool["psnr_hole"] - telea["psnr_hole"]
        lines.append(f"| {group} | {tool['psnr_hole']:.2f} / {telea['psnr_hole']:.2f} ({gain:+.2f}) "
                     f"| {tool['outline']:.2f} / {telea['outline']:.2f} | {tool['outline'] / telea['outline']:.2f}x "
                     f"| {tool['interior']:.2f} / {telea['interior']:.2f} | {s['object']:.2f} |")
    return "\n".join(lines)
