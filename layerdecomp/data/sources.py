"""Readers for the public sources as they lie on a user's disk.

- :class:`RGBAFolder`: LayerDiffuse-style folders of transparent pictures (PNG/WebP with alpha), any depth.
- :class:`BackgroundFolder`: OpenImages-style folders of photos (JPEG/PNG/WebP), any depth.
- :class:`MuLAnFolder`: MuLAn decompositions. MuLAn ships annotations (pickles) that its own script turns,
  together with the COCO / LAION images they reference, into one folder of RGBA layers per image. We read
  that output and never unpickle anything: each image folder holds a background layer (a name containing
  ``background``, or ending in ``0``) and instance layers whose names end in their order, back to front
  (``layer1.png``, ``layer2.png``, ...). A folder with a missing background or no instance is an error
  that names it.

Listing is cheap (file names only); pictures are decoded when a triplet needs them, and a file that is
missing, corrupt or lacks transparency where it must have it raises an error naming the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import InvalidInput
from ..io import load_image

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
RGBA_SUFFIXES = {".png", ".webp", ".tif", ".tiff"}


def _files(root: Path, suffixes: set[str], what: str) -> list[Path]:
    if not root.is_dir():
        raise InvalidInput(f"{what} folder {str(root)!r} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise InvalidInput(f"{what} folder {str(root)!r} holds no {'/'.join(sorted(suffixes))} files")
    return files


class BackgroundFolder:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.files = _files(self.root, PHOTO_SUFFIXES, "background")

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> np.ndarray:
        return load_image(self.files[index])[..., :3]


class RGBAFolder:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.files = _files(self.root, RGBA_SUFFIXES, "RGBA object")

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> np.ndarray:
        """The object cropped to where its alpha is non-zero (RGBA uint8)."""
        path = self.files[index]
        rgba = load_image(path)
        if rgba.shape[2] != 4:
            raise InvalidInput(f"RGBA object {str(path)!r} has no transparency (an object needs an alpha channel)")
        ys, xs = np.nonzero(rgba[..., 3])
        if ys.size == 0:
            raise InvalidInput(f"RGBA object {str(path)!r} is fully transparent")
        return rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


_ORDER = re.compile(r"(\d+)$")


class MuLAnFolder:
    """One entry per image folder: (background RGB, [RGBA layers back to front]), all the same size."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InvalidInput(f"MuLAn folder {str(self.root)!r} does not exist")
        self.scenes: list[tuple[Path, list[Path]]] = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            files = [p for p in folder.iterdir() if p.suffix.lower() in RGBA_SUFFIXES | PHOTO_SUFFIXES]
            if not files:
                continue
            background, layers = None, []
            for path in files:
                match = _ORDER.search(path.stem)
                if "background" in path.stem.lower() or (match and int(match.group(1)) == 0):
                    if background is not None:
                        raise InvalidInput(f"MuLAn folder {str(folder)!r} has two backgrounds: "
                                           f"{background.name} and {path.name}")
                    background = path
                elif match:
                    layers.append((int(match.group(1)), path))
            if background is None:
                raise InvalidInput(f"MuLAn folder {str(folder)!r} has no background layer "
                                   "(a file named *background* or ending in 0)")
            if not layers:
                raise InvalidInput(f"MuLAn folder {str(folder)!r} has no instance layers (layer1.png, layer2.png, ...)")
            self.scenes.append((background, [p for _, p in sorted(layers)]))
        if not self.scenes:
            raise InvalidInput(f"MuLAn folder {str(self.root)!r} holds no decomposed images "
                               "(one sub-folder per image, as MuLAn's reconstruction script writes)")

    def __len__(self) -> int:
        return len(self.scenes)

    def load(self, index: int) -> tuple[np.ndarray, list[np.ndarray]]:
        background_path, layer_paths = self.scenes[index]
        background = load_image(background_path)[..., :3]
        layers = []
        for path in layer_paths:
            rgba = load_image(path)
            if rgba.shape[2] != 4:
                raise InvalidInput(f"MuLAn layer {str(path)!r} has no transparency")
            if rgba.shape[:2] != background.shape[:2]:
                raise InvalidInput(f"MuLAn layer {str(path)!r} is {rgba.shape[1]}×{rgba.shape[0]} but its "
                                   f"background is {background.shape[1]}×{background.shape[0]}")
            layers.append(rgba)
        return background, layers
