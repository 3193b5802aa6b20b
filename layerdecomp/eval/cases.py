"""Composite test cases from real photos that ship offline (``docs/evaluation.md``).

A case: a background photo B, an object (colours F from another photo, a soft alpha α of a random smooth
shape), sometimes an occluder O in front of part of the object, the composite
``I = O over (F, α) over B`` and the mask a user would draw (the visible object, sometimes a bit too
large, too small, rough or feathered). Ground truth: the clean plate (``O over B``: only the object goes)
and the complete object. Everything is a function of the seed.

Photos: ``skimage.data`` (astronaut, coffee, chelsea, rocket, retina, hubble_deep_field) and
scikit-learn's sample images (china, flower); all public domain or permissively licensed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "china", "flower", "retina", "hubble_deep_field")
MASK_KINDS = ("exact", "large", "small", "rough", "soft")


@dataclass
class Case:
    name: str
    image: np.ndarray  # uint8 H×W×3, the composite the user edits
    mask: np.ndarray  # uint8 H×W, the user's selection (0/255, grey levels for "soft")
    background: np.ndarray  # uint8 H×W×3, the true clean plate (occluder kept, object removed)
    foreground: np.ndarray  # uint8 H×W×3, the object's true colours (defined everywhere)
    alpha: np.ndarray  # float32 H×W, the complete object's alpha
    alpha_visible: np.ndarray  # float32 H×W, the alpha of what is visible (behind no occluder)
    hidden: np.ndarray  # bool H×W, the object's parts hidden behind the occluder
    mask_kind: str


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """One of ``PHOTOS`` as an RGB uint8 array (read-only)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        photo = load_sample_image(f"{name}.jpg")
    else:
        from skimage import data

        photo = getattr(data, name)()
    photo = np.ascontiguousarray(photo[..., :3])
    photo.setflags(write=False)
    return photo


def _random_view(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``photo`` with the aspect of ``size`` (h, w), resized to it."""
    h, w = size
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.6, 1.0) * min(ph / h, pw / w)
    ch, cw = max(8, int(h * scale)), max(8, int(w * scale))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y:y + ch, x:x + cw]
    interp = cv2.INTER_AREA if ch > h else cv2.INTER_CUBIC
    return cv2.resize(crop, (w, h), interpolation=interp)


def _blob(size: tuple[int, int], center: tuple[float, float], radius: float, rng: np.random.Generator,
          softness: float, wobble: float = 0.25) -> np.ndarray:
    """A smooth star-shaped region with an anti-aliased edge blurred by ``softness`` px (float32 alpha)."""
    h, w = size
    theta = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 7):
        r += rng.uniform(0, wobble / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    ss = 4  # supersampling for an anti-aliased outline
    pts = np.stack([(center[1] + radius * r * np.cos(theta)) * ss, (center[0] + radius * r * np.sin(theta)) * ss], 1)
    big = np.zeros((h * ss, w * ss), np.uint8)
    cv2.fillPoly(big, [np.round(pts).astype(np.int32)], 255)
    alpha = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if softness > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), softness)
    return np.clip(alpha, 0.0, 1.0)


def _user_mask(alpha_visible: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    binary = (alpha_visible > 0.5).astype(np.uint8) * 255

    def disk(r: int) -> np.ndarray:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    if kind == "large":
        return cv2.dilate(binary, disk(int(rng.integers(3, 7))))
    if kind == "small":
        return cv2.erode(binary, disk(int(rng.integers(2, 4))))
    if kind == "rough":
        noise = cv2.GaussianBlur(rng.standard_normal(binary.shape).astype(np.float32), (0, 0), 3.0)
        noise *= 4.0 / (noise.std() + 1e-6)  # a boundary that wanders by a few pixels
        dist_in = cv2.distanceTransform(binary, cv2.DIST_L2, 3)
        dist_out = cv2.distanceTransform(255 - binary, cv2.DIST_L2, 3)
        signed = dist_in - dist_out
        return ((signed + noise) > 0).astype(np.uint8) * 255
    if kind == "soft":
        # a feathered selection: wider than the object's own soft edge, as painting programs feather
        sigma = float(rng.uniform(3.0, 5.0))
        return np.clip(cv2.GaussianBlur(binary.astype(np.float32), (0, 0), sigma), 0, 255).round().astype(np.uint8)
    return binary


def make_case(seed: int, size: int | tuple[int, int] = 512, occluder: bool | None = None,
              mask_kind: str | None = None, coverage: float | None = None) -> Case:
    """The case for ``seed`` at ``size`` (int = square, or (h, w)). ``occluder``/``mask_kind``/``coverage``
    (object area over image area) are drawn from the seed unless given."""
    rng = np.random.default_rng(seed)
    size = (size, size) if isinstance(size, int) else tuple(size)
    h, w = size
    names = rng.permutation(len(PHOTOS))
    back_photo, object_photo, occl_photo = (PHOTOS[i] for i in names[:3])
    occluder = bool(rng.random() < 0.4) if occluder is None else occluder
    mask_kind = MASK_KINDS[int(rng.integers(len(MASK_KINDS)))] if mask_kind is None else mask_kind
    coverage = float(rng.uniform(0.08, 0.18)) if coverage is None else coverage

    background = _random_view(load_photo(back_photo), size, rng).astype(np.float32)
    colours = _random_view(load_photo(object_photo), size, rng).astype(np.float32)
    radius = np.sqrt(coverage * h * w / np.pi)
    center = (rng.uniform(0.4, 0.6) * h, rng.uniform(0.4, 0.6) * w)
    alpha = _blob(size, center, radius, rng, softness=float(rng.uniform(0.6, 2.5)))

    occl_alpha = np.zeros(size, np.float32)
    scene = background
    if occluder:
        angle = rng.uniform(0, 2 * np.pi)
        oc = (center[0] + 0.9 * radius * np.sin(angle), center[1] + 0.9 * radius * np.cos(angle))
        occl_alpha = _blob(size, oc, 0.45 * radius, rng, softness=0.7, wobble=0.15)
        occl_colours = _random_view(load_photo(occl_photo), size, rng).astype(np.float32)
        scene = occl_alpha[..., None] * occl_colours + (1 - occl_alpha[..., None]) * background

    alpha_visible = alpha * (1.0 - occl_alpha)
    a = alpha[..., None]
    image = a * colours + (1 - a) * background
    if occluder:
        o = occl_alpha[..., None]
        image = o * occl_colours + (1 - o) * image
    hidden = (alpha > 0.5) & (occl_alpha > 0.5)
    u8 = lambda x: np.clip(np.rint(x), 0, 255).astype(np.uint8)  # noqa: E731
    return Case(
        name=f"seed{seed}-{back_photo}+{object_photo}{'+occluder' if occluder else ''}-{mask_kind}",
        image=u8(image),
        mask=_user_mask(alpha_visible, mask_kind, rng),
        background=u8(scene),
        foreground=u8(colours),
        alpha=alpha.astype(np.float32),
        alpha_visible=alpha_visible.astype(np.float32),
        hidden=hidden,
        mask_kind=mask_kind,
    )


def make_cases(count: int, size: int | tuple[int, int] = 512, first_seed: int = 0, **kwargs) -> list[Case]:
    """``count`` cases with consecutive seeds."""
    return [make_case(first_seed + i, size, **kwargs) for i in range(count)]
