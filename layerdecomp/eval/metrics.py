"""The metrics of ``docs/evaluation.md`` as plain numpy/scipy functions.

Conventions (stable; ``layerdecomp eval`` builds on them):
- images are H×W×3 arrays on the 0–255 scale (uint8 or float), alphas H×W floats in [0, 1];
- ``region`` arguments are H×W bool arrays (``None`` = the whole image);
- every function returns a plain ``float``; an empty region gives ``nan`` (never an exception), so a
  table can average over cases with ``np.nanmean``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import ndimage

Region = Optional[np.ndarray]


def _f(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _select(x: np.ndarray, region: Region) -> np.ndarray:
    return x if region is None else x[region]


def _gray(image: np.ndarray) -> np.ndarray:
    image = _f(image)
    return image if image.ndim == 2 else image[..., :3] @ np.array([0.299, 0.587, 0.114])


# --- background ---------------------------------------------------------------------------------------

def psnr(pred: np.ndarray, truth: np.ndarray, region: Region = None, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over ``region`` (all channels); ``inf`` for identical pixels."""
    diff = _select(_f(pred) - _f(truth), region)
    if diff.size == 0:
        return float("nan")
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def ssim_map(pred: np.ndarray, truth: np.ndarray, sigma: float = 1.5, peak: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM (Wang et al. 2004, Gaussian window σ = 1.5) of the grey images."""
    x, y = _gray(pred), _gray(truth)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    blur = lambda a: ndimage.gaussian_filter(a, sigma, truncate=3.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(pred: np.ndarray, truth: np.ndarray, region: Region = None) -> float:
    """Mean SSIM over ``region`` (windows are computed on the whole image, averaged inside the region)."""
    values = _select(ssim_map(pred, truth), region)
    return float(values.mean()) if values.size else float("nan")


def gradient_energy(image: np.ndarray, region: Region = None) -> float:
    """Sum of squared grey-level gradients (central differences) over ``region``."""
    gy, gx = np.gradient(_gray(image))
    return float(_select(gx * gx + gy * gy, region).sum())


def detail_ratio(pred: np.ndarray, truth: np.ndarray, region: Region = None) -> float:
    """Gradient energy of ``pred`` over that of ``truth`` in ``region``: 1.0 = as much texture as the
    truth, a blur scores far below 1, invented noise above 1."""
    reference = gradient_energy(truth, region)
    return float("nan") if reference == 0 else gradient_energy(pred, region) / reference


def detail_error(pred: np.ndarray, truth: np.ndarray, region: Region = None) -> float:
    """|log2(detail_ratio)|: twice the texture is as wrong as half of it."""
    ratio = detail_ratio(pred, truth, region)
    return float("nan") if not ratio > 0 else abs(float(np.log2(ratio)))


def max_abs_outside(background: np.ndarray, image: np.ndarray, hole: np.ndarray) -> float:
    """Largest |background − input| outside the hole; faithful layering makes it exactly 0."""
    outside = ~np.asarray(hole, bool)
    diff = np.abs(_f(background)[..., :3] - _f(image)[..., :3])[outside]
    return float(diff.max()) if diff.size else 0.0


# --- foreground ---------------------------------------------------------------------------------------

def edge_band(alpha_truth: np.ndarray, width: int = 5) -> np.ndarray:
    """Pixels within ``width`` px of the true alpha's soft or hard transition (where matting matters)."""
    a = _f(alpha_truth)
    soft = (a > 0.0) & (a < 1.0)
    hard = ndimage.morphological_gradient((a >= 0.5).astype(np.uint8), size=3) > 0
    return ndimage.binary_dilation(soft | hard, iterations=width)


def alpha_sad(alpha: np.ndarray, truth: np.ndarray, region: Region = None) -> float:
    """Sum of absolute differences / 1000 (alphas in [0, 1]), the matting benchmarks' SAD."""
    return float(np.abs(_select(_f(alpha) - _f(truth), region)).sum() / 1000.0)


def alpha_mse(alpha: np.ndarray, truth: np.ndarray, region: Region = None) -> float:
    diff = _select(_f(alpha) - _f(truth), region)
    return float(np.mean(diff**2)) if diff.size else float("nan")


def alpha_gradient_error(alpha: np.ndarray, truth: np.ndarray, region: Region = None, sigma: float = 1.4) -> float:
    """Σ |∇α − ∇α_gt|² / 1000, gradients by first derivatives of a Gaussian (σ = 1.4), as in the
    alphamatting.com benchmark."""
    def grad(a):
        a = _f(a)
        return ndimage.gaussian_filter(a, sigma, order=(0, 1)), ndimage.gaussian_filter(a, sigma, order=(1, 0))

    (px, py), (tx, ty) = grad(alpha), grad(truth)
    return float(_select((px - tx) ** 2 + (py - ty) ** 2, region).sum() / 1000.0)


def alpha_soft_iou(alpha: np.ndarray, truth: np.ndarray, region: Region = None) -> float:
    """Σ min(α, α_gt) / Σ max(α, α_gt)."""
    a, t = _select(_f(alpha), region), _select(_f(truth), region)
    union = np.maximum(a, t).sum()
    return float("nan") if union == 0 else float(np.minimum(a, t).sum() / union)


def background_kept(alpha: np.ndarray, background: np.ndarray, level: float = 0.1) -> float:
    """Share of the ``background`` pixels (bool: pure background the object must not take) where the
    Object layer's ``alpha`` is above ``level``; ``nan`` where there are none."""
    values = _select(_f(alpha), np.asarray(background, bool))
    return float(np.mean(values > level)) if values.size else float("nan")


def interior_lost(alpha: np.ndarray, truth: np.ndarray, band: np.ndarray, level: float = 0.5) -> float:
    """Share of the object's interior (``truth`` 1 outside ``band``, away from its edge, where the band's scores
    do not look) where the Object layer's ``alpha`` is below ``level``: a print, an eye or a label the split
    cut out of the object; ``nan`` where there is none."""
    values = _select(_f(alpha), (_f(truth) >= 1.0) & ~np.asarray(band, bool))
    return float(np.mean(values < level)) if values.size else float("nan")


def weighted_rgb_l1(foreground: np.ndarray, truth: np.ndarray, alpha_truth: np.ndarray) -> float:
    """Mean |F − F_gt| (0–255) weighted by the true alpha: the object's colours where it is visible."""
    w = _f(alpha_truth)
    if w.sum() == 0:
        return float("nan")
    err = np.abs(_f(foreground)[..., :3] - _f(truth)[..., :3]).mean(axis=2)
    return float((w * err).sum() / w.sum())


def edge_colour_region(alpha: np.ndarray, alpha_truth: np.ndarray) -> np.ndarray:
    """Soft-edge pixels: 0.1 < α_gt < 0.95 and α > 0.1."""
    t = _f(alpha_truth)
    return (t > 0.1) & (t < 0.95) & (_f(alpha) > 0.1)


def edge_colour_error(foreground: np.ndarray, alpha: np.ndarray, truth: np.ndarray, alpha_truth: np.ndarray) -> float:
    """Mean |F − F_gt| (0–255, over channels) on the soft edge: does the object keep its own colours
    there, or carry the background's / the fill's? (Naive F = I scores ~17 on our cases.)"""
    region = edge_colour_region(alpha, alpha_truth)
    if not region.any():
        return float("nan")
    return float(np.abs(_f(foreground)[..., :3] - _f(truth)[..., :3])[region].mean())


def composite(foreground_rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Straight-alpha ``F over B`` in float (0–255)."""
    a = _f(alpha)[..., None]
    return a * _f(foreground_rgb)[..., :3] + (1.0 - a) * _f(background)[..., :3]


def recomposition_psnr(foreground_rgba: np.ndarray, background: np.ndarray, image: np.ndarray,
                       region: Region = None) -> float:
    """PSNR of (foreground over background) against the input, for uint8 RGBA layers."""
    fg = np.asarray(foreground_rgba)
    recomposed = np.rint(composite(fg[..., :3], _f(fg[..., 3]) / 255.0, background))
    return psnr(recomposed, image[..., :3], region)


def occlusion_iou(amodal_alpha: np.ndarray, amodal_truth: np.ndarray, hidden: np.ndarray) -> float:
    """Soft IoU of the recovered complete alpha against the truth inside the hidden part."""
    return alpha_soft_iou(amodal_alpha, amodal_truth, np.asarray(hidden, bool))


def occlusion_psnr(amodal_foreground: np.ndarray, truth: np.ndarray, hidden: np.ndarray) -> float:
    """RGB PSNR of the recovered object colours inside the hidden part."""
    return psnr(amodal_foreground, truth, np.asarray(hidden, bool))


# --- everything for one case ---------------------------------------------------------------------------

def evaluate(case, foreground_rgba: np.ndarray, background: np.ndarray, hole: np.ndarray,
             occlusion: bool = False) -> dict[str, float]:
    """All metrics for one decomposition of ``case`` (a :class:`layerdecomp.eval.cases.Case`).

    ``foreground_rgba`` (uint8 RGBA, straight alpha) and ``background`` (uint8 RGB) are the layers at the
    case's size; ``hole`` is the region the backend regenerated (the dilated mask). With ``occlusion``
    the foreground's alpha is read as the complete object and scored in the hidden part too.
    """
    fg = np.asarray(foreground_rgba)
    alpha = _f(fg[..., 3]) / 255.0
    truth_alpha = case.alpha_visible
    band = edge_band(truth_alpha)
    # The selection's inside, a few pixels in from its edge: regenerated by every method (the layering
    # keeps the input wherever a method's alpha is 0, so parts of the hole can stay the input).
    core = ndimage.binary_erosion(np.asarray(case.mask) >= 128, iterations=3)
    out = {
        "bg_psnr_hole": psnr(background, case.background, hole),
        "bg_ssim_hole": ssim(background, case.background, hole),
        "bg_psnr": psnr(background, case.background),
        "detail_ratio": detail_ratio(background, case.background, hole),
        "detail_log2": detail_error(background, case.background, hole),
        "bg_psnr_core": psnr(background, case.background, core),
        "detail_ratio_core": detail_ratio(background, case.background, core),
        "outside_maxdiff": max_abs_outside(background, case.image, hole),
        "alpha_sad": alpha_sad(alpha, truth_alpha),
        "alpha_sad_band": alpha_sad(alpha, truth_alpha, band),
        "alpha_mse": alpha_mse(alpha, truth_alpha),
        "alpha_mse_band": alpha_mse(alpha, truth_alpha, band),
        "alpha_grad": alpha_gradient_error(alpha, truth_alpha),
        "alpha_grad_band": alpha_gradient_error(alpha, truth_alpha, band),
        "alpha_iou": alpha_soft_iou(alpha, truth_alpha),
        "fg_l1": weighted_rgb_l1(fg, case.foreground, truth_alpha),
        "edge_colour": edge_colour_error(fg, alpha, case.foreground, truth_alpha),
        # where the layer claims the object (alpha > 0) the layering must reproduce the input exactly;
        # over the whole image, object parts left out of the layer (removed yet transparent) count too
        "recomp_psnr": recomposition_psnr(fg, background, case.image, fg[..., 3] > 0),
        "recomp_psnr_all": recomposition_psnr(fg, background, case.image),
    }
    if occlusion and case.hidden.any():
        out["occl_iou"] = occlusion_iou(alpha, case.alpha, case.hidden)
        out["occl_psnr"] = occlusion_psnr(fg[..., :3], case.foreground, case.hidden)
    return out
