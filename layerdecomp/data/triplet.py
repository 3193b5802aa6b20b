"""One training / evaluation example: a composite, the user's mask, and the two true layers.

Arrays are numpy uint8, H×W×C, all at the same size:

- ``image``: RGB, what the user sees (every layer composited);
- ``mask``: L, the selection a user would draw (deliberately imperfect: too large, too small, rough, box-like);
- ``foreground``: RGBA (straight alpha), the *complete* object, including the parts hidden behind occluders;
- ``background``: RGB, the picture with the object removed (occluders in front of it stay);
- ``visible``: L, the object's alpha as it shows in ``image`` (``foreground`` alpha times whatever covers it).

On disk (a shard member or a folder) each array is a PNG named ``<key>.<field>.png``, plus ``<key>.json``
for metadata (source files, mask style, seed), the webdataset convention.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InvalidInput

# field -> number of channels
FIELDS = {"image": 3, "mask": 1, "foreground": 4, "background": 3, "visible": 1}


@dataclass
class Triplet:
    image: np.ndarray
    mask: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    visible: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        height, width = self.image.shape[:2]
        for name, channels in FIELDS.items():
            array = getattr(self, name)
            expected = (height, width) if channels == 1 else (height, width, channels)
            if array.dtype != np.uint8 or array.shape != expected:
                raise InvalidInput(f"triplet field {name!r} must be uint8 {expected}, got {array.dtype} {array.shape}")

    @property
    def hidden(self) -> np.ndarray:
        """bool: the object's parts that occluders hide (where occlusion recovery is measured)."""
        return (self.foreground[..., 3] >= 128) & (self.visible < 128)

    def encode(self) -> dict[str, bytes]:
        """``{extension: bytes}`` for a shard: ``image.png``, ..., ``json``."""
        out = {}
        for name in FIELDS:
            buf = io.BytesIO()
            # compress_level 1: shards are written once and read many times; decoding speed is the same.
            Image.fromarray(getattr(self, name)).save(buf, format="PNG", compress_level=1)
            out[f"{name}.png"] = buf.getvalue()
        out["json"] = json.dumps(self.meta, sort_keys=True).encode()
        return out

    @classmethod
    def decode(cls, members: dict[str, bytes], where: str) -> "Triplet":
        """The inverse of :meth:`encode`; ``where`` names the shard and key in errors."""
        arrays = {}
        for name, channels in FIELDS.items():
            data = members.get(f"{name}.png")
            if data is None:
                raise InvalidInput(f"{where}: member {name}.png is missing")
            try:
                im = Image.open(io.BytesIO(data))
                im.load()
            except Exception as exc:  # Pillow raises many types for broken data
                raise InvalidInput(f"{where}: {name}.png is not a readable PNG ({exc})") from None
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
            arrays[name] = np.asarray(im.convert(mode))
        meta = {}
        if "json" in members:
            try:
                meta = json.loads(members["json"])
            except ValueError as exc:
                raise InvalidInput(f"{where}: json member is not valid JSON ({exc})") from None
        try:
            return cls(**arrays, meta=meta)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None
