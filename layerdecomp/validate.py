"""Stage 1: refuse input that cannot be decomposed, with a sentence that says what is wrong."""

from __future__ import annotations

import numpy as np

from .errors import InvalidInput

# A 32k x 32k canvas is the largest a painting program realistically holds; beyond it an allocation of
# the layers alone would take gigabytes, so such sizes are refused rather than attempted.
MAX_SIDE = 32768
MAX_PIXELS = 32768 * 32768


def validate(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check ``image`` (H×W×3 or H×W×4 uint8) and ``mask`` (H×W uint8); return them as contiguous arrays."""
    if not isinstance(image, np.ndarray) or not isinstance(mask, np.ndarray):
        raise InvalidInput("image and mask must be numpy arrays")
    if image.dtype != np.uint8:
        raise InvalidInput(
            f"the image is {image.dtype}; only 8-bit images are supported "
            "(convert 16-bit or float images to 8 bits first)"
        )
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InvalidInput(f"the image must be H x W x 3 (RGB) or H x W x 4 (RGBA), got shape {image.shape}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise InvalidInput(f"the mask must be a single-channel H x W array, got shape {mask.shape}")
    if mask.dtype == bool:
        mask = mask.astype(np.uint8) * 255
    if mask.dtype != np.uint8:
        raise InvalidInput(f"the mask is {mask.dtype}; it must be 8-bit (0 = not selected, 255 = selected)")
    h, w = image.shape[:2]
    if h < 2 or w < 2:
        raise InvalidInput(f"the image is too small ({w} x {h} pixels)")
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise InvalidInput(f"the image is too large ({w} x {h}); the limit is {MAX_SIDE} pixels a side")
    if mask.shape != (h, w):
        raise InvalidInput(
            f"the mask is {mask.shape[1]} x {mask.shape[0]} but the image is {w} x {h}; they must be the same size"
        )
    if not mask.any():
        raise InvalidInput("the mask is empty: select the object to separate first")
    if mask.min() == 255:
        raise InvalidInput("the mask covers the whole image: select only the object, not everything")
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
