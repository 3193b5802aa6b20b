"""Real photos with ground-truth alpha: selections made the way people make them, alpha scored on the edge.

``docs/evaluation.md`` ("Real photos") defines the measurement; this module is it:

- **Photos**: a folder in the alphamatting.com layout (``input/`` and ``gt/``), or any pair of sub-folders
  with image and alpha of the same stem (AIM-500's ``original/`` + ``mask/``, P3M's ``blurred_image/`` +
  ``mask/``).
- **Selections** from ``binary = alpha_gt >= 128``, five variants: ``exact``; ``loose`` = dilated 6 px
  (elliptic); ``tight`` = eroded 4 px; ``lasso`` = the outer outlines resampled every 10 px, each vertex
  jittered by N(0, 2.5 px) (seeded by the photo's name), filled; ``loose_lasso`` = the same lasso drawn
  around the true support (``alpha_gt > 0.02``) grown 10 px, the way artists lasso 8-20 px outside.
- **Band**: ``0 < alpha_gt < 255`` united with every pixel within 10 px of the edge of ``binary``. There:
  SAD = Σ|α − α_gt| / 1000, MSE and the gradient error (Gaussian derivatives, σ = 1.4).
- **Background kept**: of the pure-background pixels inside the selection (``alpha_gt == 0``, at least
  3 px from the support, selection >= 128), the share the Object layer keeps with alpha > 0.1 (the
  selection itself keeps 100%; ``nan`` where the selection holds none).
- **Interior lost**: of the object's interior (``alpha_gt == 255`` outside the band), the share where the
  Object layer's alpha is below 0.5 (a print, an eye or a label cut out of the object; the band does not
  see it).
- **Methods**, all on the same selection: the tool (``layerdecomp.decompose``, its stored alpha), *naive*
  (the selection itself as alpha) and, when pymatting is installed, *closed-form*: pymatting's closed-form
  matting with the unknown region within r px on both sides of the selection's edge, r the band radius the
  tool uses (``matting.band_radius``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import cv2
import numpy as np

from .. import matting
from ..errors import InvalidInput
from .metrics import alpha_gradient_error, alpha_mse, alpha_sad, background_kept, interior_lost

VARIANTS = ("exact", "loose", "tight", "lasso", "loose_lasso")
METRICS = ("sad", "mse", "grad", "kept", "lost")
BAND_RADIUS = 10
LOOSE_PX, TIGHT_PX = 6, 4
LASSO_STEP, LASSO_JITTER = 10.0, 2.5
# The loose lasso: around the true support (alpha_gt above 2%), this far outside it.
SUPPORT_LEVEL, LOOSE_LASSO_PX = 0.02, 10
# Background kept: pure background this far from the support, kept when the Object's alpha is above KEPT_ALPHA.
KEPT_DISTANCE, KEPT_ALPHA = 3, 0.1
# (image folder, alpha folder) pairs, tried in this order.
LAYOUTS = (("input", "gt"), ("original", "mask"), ("blurred_image", "mask"), ("image", "alpha"), ("images", "alphas"))
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class Photo:
    name: str
    image: np.ndarray  # uint8 H×W×3
    alpha: np.ndarray  # uint8 H×W, the ground truth


def _read(path: Path, flags: int) -> np.ndarray:
    data = cv2.imread(str(path), flags)
    if data is None:
        raise InvalidInput(f"{str(path)!r} is not an image OpenCV can read")
    return data


def load_photos(folder: str | Path, limit: Optional[int] = None) -> list[Photo]:
    """The photos of ``folder`` (see the module's layouts), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{str(folder)!r} is not a folder")
    for image_dir, alpha_dir in LAYOUTS:
        if (folder / image_dir).is_dir() and (folder / alpha_dir).is_dir():
            break
    else:
        raise InvalidInput(f"{str(folder)!r} has none of the layouts " + ", ".join(f"{i}/ + {a}/" for i, a in LAYOUTS))
    alphas = {p.stem: p for p in (folder / alpha_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    images = sorted(p for p in (folder / image_dir).iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in alphas)
    if not images:
        raise InvalidInput(f"no image in {str(folder / image_dir)!r} has an alpha of the same name in {alpha_dir}/")
    photos = []
    for path in images[:limit]:
        image = cv2.cvtColor(_read(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        alpha = _read(alphas[path.stem], cv2.IMREAD_GRAYSCALE)
        if alpha.shape != image.shape[:2]:
            raise InvalidInput(f"{path.name}: alpha {alpha.shape[::-1]} and image {image.shape[1::-1]} differ in size")
        photos.append(Photo(path.stem, image, alpha))
    return photos


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _lasso(binary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(binary)
    polygons = []
    for contour in contours:
        points = contour[:, 0, :].astype(np.float64)
        closed = np.vstack([points, points[:1]])
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(closed, axis=0).T))])
        if arc[-1] < LASSO_STEP:  # specks: shorter than one lasso step
            continue
        at = np.arange(0.0, arc[-1], LASSO_STEP)
        resampled = np.stack([np.interp(at, arc, closed[:, 0]), np.interp(at, arc, closed[:, 1])], axis=1)
        resampled += rng.normal(0.0, LASSO_JITTER, resampled.shape)
        polygons.append(np.round(resampled).astype(np.int32))
    cv2.fillPoly(out, polygons, 255)
    return out


def selection(alpha_gt: np.ndarray, variant: str, name: str = "") -> np.ndarray:
    """The selection (uint8 0/255) a user would make of the object, as ``variant`` says."""
    binary = (alpha_gt >= 128).astype(np.uint8) * 255
    if variant == "exact":
        return binary
    if variant == "loose":
        return cv2.dilate(binary, _disk(LOOSE_PX))
    if variant == "tight":
        return cv2.erode(binary, _disk(TIGHT_PX))
    if variant == "lasso":
        return _lasso(binary, np.random.default_rng(zlib.crc32(name.encode())))
    if variant == "loose_lasso":
        support = cv2.dilate(support_of(alpha_gt), _disk(LOOSE_LASSO_PX))
        return _lasso(support, np.random.default_rng(zlib.crc32(b"loose " + name.encode())))
    raise ValueError(f"unknown selection variant {variant!r}; one of {', '.join(VARIANTS)}")


def support_of(alpha_gt: np.ndarray) -> np.ndarray:
    """The object's true support (uint8 0/255): every pixel with alpha above ``SUPPORT_LEVEL``."""
    return (alpha_gt > SUPPORT_LEVEL * 255).astype(np.uint8) * 255


def pure_background(alpha_gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The selected pixels that are certainly background: alpha_gt 0, at least ``KEPT_DISTANCE`` px from
    the object (any alpha above 0)."""
    away = cv2.distanceTransform((alpha_gt == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (away >= KEPT_DISTANCE) & (mask >= 128)


def edge_band(alpha_gt: np.ndarray, radius: int = BAND_RADIUS) -> np.ndarray:
    """Where the scores are taken: the true soft pixels and everything within ``radius`` px of the edge of
    the true binary object."""
    binary = (alpha_gt >= 128).astype(np.uint8)
    inside = cv2.distanceTransform(binary, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - binary, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    near = np.where(binary > 0, inside, outside) <= radius
    return near | ((alpha_gt > 0) & (alpha_gt < 255))


def scores(alpha: np.ndarray, alpha_gt: np.ndarray, band: np.ndarray,
           background: Optional[np.ndarray] = None) -> dict[str, float]:
    """Band SAD, MSE and gradient error; with ``background`` (:func:`pure_background`), background kept."""
    truth = alpha_gt.astype(np.float64) / 255.0
    out = {"sad": alpha_sad(alpha, truth, band), "mse": alpha_mse(alpha, truth, band),
           "grad": alpha_gradient_error(alpha, truth, band)}
    out["kept"] = float("nan") if background is None else background_kept(alpha, background)
    out["lost"] = interior_lost(alpha, truth, band)
    return out


def tool_alpha(image: np.ndarray, mask: np.ndarray, backend: str = "classical", **options) -> np.ndarray:
    from ..api import decompose

    return decompose(image, mask, backend=backend, **options).foreground[..., 3].astype(np.float64) / 255.0


def closed_form_alpha(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """pymatting's closed-form matting, unknown within the tool's band radius on both sides of the edge."""
    from pymatting import estimate_alpha_cf

    radius = matting.band_radius(mask)
    inside = mask >= 128
    kernel = _disk(radius)
    unknown = (cv2.dilate(inside.astype(np.uint8), kernel) > 0) & ~(cv2.erode(inside.astype(np.uint8), kernel) > 0)
    trimap = np.where(unknown, 0.5, inside.astype(np.float64))
    return np.clip(estimate_alpha_cf(image.astype(np.float64) / 255.0, trimap), 0.0, 1.0)


def closed_form_available() -> bool:
    try:
        import pymatting  # noqa: F401  (its first import compiles numba kernels: ~30 s once)
    except ImportError:
        return False
    return True


def evaluate_photos(photos: Iterable[Photo], variants: Iterable[str] = VARIANTS, backend: str = "classical",
                    closed_form: bool = True, progress: Optional[Callable[[int], None]] = None,
                    **options) -> list[dict]:
    """One row per (photo, variant): ``{"photo", "variant", "tool": {...}, "naive": {...}, ["closed_form": {...}]}``
    with the scores of :func:`scores`."""
    rows = []
    for photo in photos:
        band = edge_band(photo.alpha)
        for variant in variants:
            mask = selection(photo.alpha, variant, photo.name)
            background = pure_background(photo.alpha, mask)
            row = {"photo": photo.name, "variant": variant,
                   "tool": scores(tool_alpha(photo.image, mask, backend, **options), photo.alpha, band, background),
                   "naive": scores(mask / 255.0, photo.alpha, band, background)}
            if closed_form:
                row["closed_form"] = scores(closed_form_alpha(photo.image, mask), photo.alpha, band, background)
            rows.append(row)
            if progress is not None:
                progress(1)
    return rows


def summarise(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean scores per variant and over all rows (``"all"``): ``{group: {method: {metric: mean}}}``."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["variant"], []).append(row)
    groups["all"] = rows
    methods = [m for m in ("tool", "naive", "closed_form") if rows and m in rows[0]]
    return {group: {m: {k: _mean([r[m][k] for r in members]) for k in METRICS} for m in methods}
            for group, members in groups.items()}


def _mean(values: list[float]) -> float:
    """The mean over the rows that have a value (background kept: the selections that hold background)."""
    values = np.asarray(values, np.float64)
    return float(np.mean(values[~np.isnan(values)])) if np.any(~np.isnan(values)) else float("nan")


def table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: per selection variant and overall, the tool's band scores and its ratios to the baselines."""
    has_cf = any("closed_form" in s for s in summary.values())
    head = ["selection", "SAD tool", "SAD naive"] + (["SAD closed-form"] if has_cf else []) + [
        "tool/naive SAD"] + (["tool/closed-form SAD"] if has_cf else []) + [
        "MSE tool/naive", "grad tool/naive", "background kept", "interior lost"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, s in summary.items():
        tool, naive = s["tool"], s["naive"]
        cells = [group, f"{tool['sad']:.2f}", f"{naive['sad']:.2f}"]
        if has_cf:
            cells.append(f"{s['closed_form']['sad']:.2f}")
        cells.append(f"{tool['sad'] / naive['sad']:.2f}x")
        if has_cf:
            cells.append(f"{tool['sad'] / s['closed_form']['sad']:.2f}x")
        kept = "-" if np.isnan(tool["kept"]) else f"{100 * tool['kept']:.1f}%"
        lost = "-" if np.isnan(tool["lost"]) else f"{100 * tool['lost']:.2f}%"
        cells += [f"{tool['mse'] / naive['mse']:.2f}x", f"{tool['grad'] / naive['grad']:.2f}x", kept, lost]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
