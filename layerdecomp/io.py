"""Reading pictures and masks from files, and writing results without ever leaving half a result behind."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidInput, OutputError
from .validate import MAX_PIXELS

# Pillow's own guard (a warning above this, an error above twice this) is the library's outer limit; the
# command line's is DEFAULT_MAX_PIXELS, checked from the header before anything is decoded.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# The command line's default limit: 8192 x 8192, the server's too (256 MB of RGBA once decoded, and the
# layers a decomposition makes are as many again); --max-pixels raises it (up to the library's MAX_PIXELS).
DEFAULT_MAX_PIXELS = 8192 * 8192

_EIGHT_BIT_MODES = {"RGB", "RGBA", "L", "LA", "P", "PA", "1", "CMYK", "YCbCr"}
# Everything Pillow raises for a file it cannot or will not read (a text chunk that inflates too far is
# a ValueError; a truncated stream an OSError or EOFError).
_UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error)
# A progressive JPEG decodes the whole picture once a scan: a few KB of scans can cost minutes. Photos
# and editors write 10 or fewer (each scan starts with an SOS marker, FF DA, which the entropy-coded
# data never contains: its FF bytes are stuffed with 00).
MAX_JPEG_SCANS = 100
_SOS = b"\xff\xda"
# EXIF orientations that turn the picture on its side (its width and height swap when set upright).
_SIDEWAYS = {5, 6, 7, 8}
_ORIENTATION_TAG = 0x0112


def _open_header(path: str | os.PathLike, what: str) -> Image.Image:
    """The picture opened lazily: its size and mode are known, its pixels not decoded yet."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise InvalidInput(f"{what} {str(path)!r} is not a regular file (a folder, a pipe or a device)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit says it in words
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise InvalidInput(f"{what} {str(path)!r} is too large for any decomposition") from None
    except _UNREADABLE as exc:
        raise InvalidInput(f"{what} {str(path)!r} is not an image Pillow can read ({_one_line(exc)})") from None
    if im.format == "JPEG":
        scans = _jpeg_scans(path)
        if scans > MAX_JPEG_SCANS:
            im.close()
            raise InvalidInput(f"{what} {str(path)!r} is a JPEG of {scans} scans, more than the {MAX_JPEG_SCANS} "
                               "layerdecomp decodes (photos have 10 or fewer): save it again as an ordinary JPEG")
    return im


def _jpeg_scans(path: Path) -> int:
    """How many scans (SOS markers) a JPEG file holds (an EXIF thumbnail's count too: a small excess)."""
    count, tail = 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += (tail + chunk).count(_SOS)
            tail = chunk[-1:]
    return count


def _upright_size(im: Image.Image) -> tuple[int, int]:
    """The picture's size as viewers show it: width and height swap for a sideways EXIF orientation."""
    w, h = im.size
    try:
        orientation = im.getexif().get(_ORIENTATION_TAG)
    except _UNREADABLE:
        orientation = None
    return (h, w) if orientation in _SIDEWAYS else (w, h)


def _check_pixels(im: Image.Image, path: str | os.PathLike, what: str, max_pixels: int) -> None:
    w, h = im.size
    if w * h > max_pixels:
        raise InvalidInput(
            f"{what} {str(path)!r} is {w} x {h} pixels, over the limit of {max_pixels} pixels (its pixels alone "
            f"would take {w * h * 4 / 2**30:.1f} GB once decoded): pass --max-pixels {w * h} to allow it")


def _decode(im: Image.Image, path: str | os.PathLike, what: str) -> Image.Image:
    try:
        im.load()
    except _UNREADABLE as exc:
        raise InvalidInput(f"{what} {str(path)!r} is not an image Pillow can read ({_one_line(exc)})") from None
    except MemoryError:
        raise InvalidInput(f"{what} {str(path)!r} does not fit in memory") from None
    if im.mode not in _EIGHT_BIT_MODES:
        raise InvalidInput(
            f"{what} {str(path)!r} is {im.mode} (16-bit or floating point); save it as an 8-bit image first"
        )
    if im.mode in ("RGB", "RGBA", "L") and _png_bit_depth(Path(path)) == 16:
        raise InvalidInput(f"{what} {str(path)!r} is a 16-bit PNG; save it as an 8-bit image first")
    # Phones store pictures sideways with an EXIF orientation; work on them as every viewer shows them
    # (the results are written upright, without an orientation).
    try:
        return ImageOps.exif_transpose(im)
    except _UNREADABLE as exc:
        raise InvalidInput(f"{what} {str(path)!r} has an unreadable EXIF orientation ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _open(path: str | os.PathLike, what: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    im = _open_header(path, what)
    try:
        _check_pixels(im, path, what, max_pixels)
        return _decode(im, path, what)
    except BaseException:
        im.close()
        raise


def _png_bit_depth(path: Path) -> int | None:
    """The bit depth from a PNG's header (Pillow quietly narrows 16-bit colour PNGs to 8 bits)."""
    with open(path, "rb") as f:
        head = f.read(25)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24]


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An 8-bit picture as H×W×3 (RGB) or H×W×4 (RGBA, when the file has transparency) uint8, upright
    (an EXIF orientation applied)."""
    with _open(path, "image", max_pixels) as im:
        return _image_array(im)


def load_mask(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A mask as H×W uint8: a greyscale image, or the alpha channel of an image that has one; upright
    (an EXIF orientation applied)."""
    with _open(path, "mask", max_pixels) as im:
        return _mask_array(im)


def load_pair(image_path: str | os.PathLike, mask_path: str | os.PathLike,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """``load_image`` and ``load_mask``, with every size checked from the files' headers before either is
    decoded: each at most ``max_pixels``, and the mask the image's size."""
    image_im = _open_header(image_path, "image")
    try:
        mask_im = _open_header(mask_path, "mask")
        try:
            _check_pixels(image_im, image_path, "image", max_pixels)
            _check_pixels(mask_im, mask_path, "mask", max_pixels)
            image_size, mask_size = _upright_size(image_im), _upright_size(mask_im)
            if mask_size != image_size:
                raise InvalidInput(f"the mask is {mask_size[0]} x {mask_size[1]} pixels but the image is "
                                   f"{image_size[0]} x {image_size[1]} (both as shown upright): they must be the "
                                   "same size")
            image = _image_array(_decode(image_im, image_path, "image"))
            image_im.close()
            return image, _mask_array(_decode(mask_im, mask_path, "mask"))
        finally:
            mask_im.close()
    finally:
        image_im.close()


def _image_array(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGBA" if _has_alpha(im) else "RGB"))


def _mask_array(im: Image.Image) -> np.ndarray:
    if _has_alpha(im):
        return np.asarray(im.convert("RGBA"))[..., 3].copy()
    return np.asarray(im.convert("L"))


def check_output_dir(out_dir: str | os.PathLike) -> Path:
    """Make ``out_dir`` if needed and make sure a file can be written there, before any work is done."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".layerdecomp-probe.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write results into {str(out)!r}: {exc.strerror or exc}") from None
    return out


@contextlib.contextmanager
def output_dir_for_the_work(out_dir: str | os.PathLike) -> Iterator[Path]:
    """``check_output_dir`` for the length of a ``with`` block: when the block fails, the folders that the
    check had to make go again (while they are empty), so a failed run leaves no empty ``--out`` behind."""
    out = Path(out_dir).absolute()
    made = [folder for folder in (out, *out.parents) if not folder.exists()]  # the deepest first
    try:
        yield check_output_dir(out_dir)
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty (something else wrote there) or already gone: leave it and its parents
                break
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _set_mode(fd: int, mode: int) -> None:
    if hasattr(os, "fchmod"):  # POSIX; Windows has no such permissions
        os.fchmod(fd, mode)


def write_outputs(out_dir: str | os.PathLike, images: dict[str, np.ndarray], report: dict[str, Any]) -> None:
    """Write ``{name: uint8 array}`` as PNGs (L, RGB or RGBA by the array's shape) and ``report.json`` into ``out_dir``.

    Every file is written under a temporary name first and renamed only once all were written, so an
    error (or a kill) never leaves a mixture of old and new results.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # mkstemp makes its files 0600; results are ordinary files, so they get what the umask allows, as a
    # plain open() would give them.
    mode = 0o666 & ~_umask()
    staged: list[tuple[str, Path]] = []
    try:
        for name, array in images.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".png", dir=out)
            staged.append((tmp, out / f"{name}.png"))
            _set_mode(fd, mode)
            with os.fdopen(fd, "wb") as f:
                Image.fromarray(array).save(f, format="PNG")
        fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".json", dir=out)
        staged.append((tmp, out / "report.json"))
        _set_mode(fd, mode)
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=2, default=str)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
