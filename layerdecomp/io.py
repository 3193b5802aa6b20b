"""Reading pictures and masks from files, and writing results without ever leaving half a result behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InvalidInput
from .validate import MAX_PIXELS

# Refuse absurd sizes before decoding: Pillow reads the header first.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_EIGHT_BIT_MODES = {"RGB", "RGBA", "L", "LA", "P", "PA", "1", "CMYK", "YCbCr"}


def _open(path: str | os.PathLike, what: str) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{what} {str(path)!r} does not exist")
    try:
        im = Image.open(path)
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInput(f"{what} {str(path)!r} is not an image Pillow can read ({exc})") from None
    except Image.DecompressionBombError:
        raise InvalidInput(f"{what} {str(path)!r} is too large") from None
    if im.mode not in _EIGHT_BIT_MODES:
        raise InvalidInput(
            f"{what} {str(path)!r} is {im.mode} (16-bit or floating point); save it as an 8-bit image first"
        )
    if im.mode in ("RGB", "RGBA", "L") and _png_bit_depth(path) == 16:
        raise InvalidInput(f"{what} {str(path)!r} is a 16-bit PNG; save it as an 8-bit image first")
    return im


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth from a PNG's header (Pillow quietly narrows 16-bit colour PNGs to 8 bits)."""
    with open(path, "rb") as f:
        head = f.read(25)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24]


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit picture as H×W×3 (RGB) or H×W×4 (RGBA, when the file has transparency) uint8."""
    im = _open(path, "image")
    return np.asarray(im.convert("RGBA" if _has_alpha(im) else "RGB"))


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask as H×W uint8: a greyscale image, or the alpha channel of an image that has one."""
    im = _open(path, "mask")
    if _has_alpha(im):
        return np.asarray(im.convert("RGBA"))[..., 3].copy()
    return np.asarray(im.convert("L"))


def write_outputs(out_dir: str | os.PathLike, images: dict[str, np.ndarray], report: dict[str, Any]) -> None:
    """Write ``{name: uint8 array}`` as PNGs (L, RGB or RGBA by the array's shape) and ``report.json`` into ``out_dir``.

    Every file is written under a temporary name first and renamed only once all were written, so an
    error (or a kill) never leaves a mixture of old and new results.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    try:
        for name, array in images.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=out)
            staged.append((tmp, out / f"{name}.png"))
            with os.fdopen(fd, "wb") as f:
                Image.fromarray(array).save(f, format="PNG")
        fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".json", dir=out)
        staged.append((tmp, out / "report.json"))
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=2, default=str)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
