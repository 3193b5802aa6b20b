"""Building a triplet set: scenes from the sources, composed, written to shards.

Triplet i depends only on (seed, i) and the sources' file lists, so a set can be rebuilt bit for bit and
built in parts. Sources mix as the paper's data does: MuLAn scenes (real layered photos, real occlusions)
for a fraction ``mulan_fraction`` of the triplets, and synthetic scenes for the rest: 1–3 RGBA objects
over a background photo, placed so that they often overlap. A source that is not given is replaced by
procedural content (gradients, shapes); with no sources at all, the set is :mod:`.procedural` triplets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from ..errors import InvalidInput
from . import procedural
from .compose import Layer, compose
from .shards import ShardWriter
from .sources import BackgroundFolder, MuLAnFolder, RGBAFolder
from .triplet import Triplet


class _NoVisibleObject(Exception):
    """This random scene hides every object; draw another."""


@dataclass
class Sources:
    mulan: Optional[MuLAnFolder] = None
    objects: Optional[RGBAFolder] = None
    backgrounds: Optional[BackgroundFolder] = None
    mulan_fraction: float = 0.5


def _cover(image: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A random square crop of ``image`` resized to size×size, and the crop (x, y, side) used."""
    h, w = image.shape[:2]
    side = min(h, w)
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    crop = image[y:y + side, x:x + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp), (x, y, side)


def _fit(rgba: np.ndarray, longest: int) -> np.ndarray:
    h, w = rgba.shape[:2]
    scale = longest / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgba, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def synthetic_triplet(sources: Sources, size: int, rng: np.random.Generator) -> Triplet:
    """1–3 objects over a background; the target is one of them, often overlapped by one in front."""
    meta: dict = {"source": "synthetic"}
    if sources.backgrounds is not None:
        index = int(rng.integers(len(sources.backgrounds)))
        background, _ = _cover(sources.backgrounds.load(index), size, rng)
        meta["background"] = str(sources.backgrounds.files[index])
    else:
        background = procedural.background(size, rng)
    count = int(rng.integers(1, 4))
    layers, names = [], []
    centre = rng.uniform(0.3, 0.7, 2) * size
    for _ in range(count):
        longest = int(rng.uniform(0.3, 0.7) * size)
        if sources.objects is not None:
            index = int(rng.integers(len(sources.objects)))
            rgba = _fit(sources.objects.load(index), longest)
            names.append(str(sources.objects.files[index]))
        else:
            kind = procedural.SHAPES[int(rng.integers(len(procedural.SHAPES)))]
            rgba = procedural.shape(kind, longest, int(longest * rng.uniform(0.6, 1.0)), rng)
            names.append(kind)
        # Around a common centre, so that objects overlap about half the time.
        offset = rng.normal(0, 0.25 * size, 2)
        x = int(centre[0] + offset[0] - rgba.shape[1] / 2)
        y = int(centre[1] + offset[1] - rgba.shape[0] / 2)
        layers.append(Layer(rgba, x, y))
    meta["objects"] = names
    order = rng.permutation(count)
    for target in order:  # the first object that is visible enough
        try:
            return compose(background, layers, int(target), rng, meta=meta)
        except InvalidInput:
            continue
    raise _NoVisibleObject


def mulan_triplet(sources: Sources, size: int, rng: np.random.Generator) -> Triplet:
    index = int(rng.integers(len(sources.mulan)))
    background, layers = sources.mulan.load(index)
    background, (x, y, side) = _cover(background, size, rng)
    scaled = []
    for rgba in layers:
        crop = rgba[y:y + side, x:x + side]
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        scaled.append(Layer(cv2.resize(crop, (size, size), interpolation=interpolation)))
    meta = {"source": "mulan", "scene": str(sources.mulan.scenes[index][0].parent)}
    for target in rng.permutation(len(scaled)):
        try:
            return compose(background, scaled, int(target), rng, meta=meta)
        except InvalidInput:
            continue
    raise _NoVisibleObject


def make_triplet(sources: Sources, size: int, seed: int, index: int, attempts: int = 20) -> Triplet:
    """Triplet ``index`` of the set made with ``seed``; redraws scenes where no object is visible."""
    for attempt in range(attempts):
        rng = np.random.default_rng([seed, index, attempt])
        if sources.mulan is None and sources.objects is None and sources.backgrounds is None:
            make = lambda s, n, r: procedural.triplet(n, r)  # noqa: E731
        elif sources.mulan is not None and rng.random() < sources.mulan_fraction:
            make = mulan_triplet
        else:
            make = synthetic_triplet
        try:
            triplet = make(sources, size, rng)
        except _NoVisibleObject:
            continue
        triplet.meta.update(seed=seed, index=index)
        return triplet
    raise InvalidInput(f"triplet {index}: no scene with a visible object in {attempts} attempts; "
                       "are the objects much larger or smaller than the canvas?")


def build(
    out_dir: str | os.PathLike,
    count: int,
    size: int,
    seed: int = 0,
    sources: Sources | None = None,
    per_shard: int = 1000,
    progress: Callable[[int], None] | None = None,
    start: int = 0,
) -> int:
    """Write triplets ``start .. start+count-1`` of size×size to shards in ``out_dir``; returns the count.

    Parts built with the same seed and different ``start`` (in parallel, into different folders) make
    the same set as one build: training takes a list of folders."""
    if count < 1:
        raise InvalidInput("count must be at least 1")
    if size < 16 or size % 16:
        raise InvalidInput(f"size must be a multiple of 16 and at least 16 (got {size})")
    sources = sources or Sources()
    info = {
        "size": size,
        "seed": seed,
        "mulan": str(sources.mulan.root) if sources.mulan else None,
        "objects": str(sources.objects.root) if sources.objects else None,
        "backgrounds": str(sources.backgrounds.root) if sources.backgrounds else None,
        "mulan_fraction": sources.mulan_fraction,
        "start": start,
    }
    with ShardWriter(out_dir, per_shard=per_shard, info=info, first_key=start) as writer:
        for i in range(start, start + count):
            writer.write(make_triplet(sources, size, seed, i))
            if progress is not None:
                progress(1)
    return count
