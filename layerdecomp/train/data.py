"""What the training loop eats: triplets as tensors, in an order fixed by the seed and the step.

The sample order is a pure function of (seed, position): position p of the endless stream is item
``permutation(seed, epoch)[p mod N]`` with ``epoch = p div N``. Each process takes its own positions,
so a run on any number of devices sees each epoch's items once, and resuming at step s needs no saved
sampler state: the loader simply starts at s.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

from ..data import TripletShards, procedural
from ..data.triplet import Triplet
from .config import TrainConfig


class ProceduralTriplets:
    """``count`` procedural triplets made on first use and kept (item i depends only on seed and i)."""

    def __init__(self, count: int, size: int, seed: int):
        self.count, self.size, self.seed = count, size, seed
        self._made: dict[int, Triplet] = {}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Triplet:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if index not in self._made:
            self._made[index] = procedural.triplet(self.size, np.random.default_rng([self.seed, index]))
        return self._made[index]


def open_dataset(config: TrainConfig) -> Sequence[Triplet]:
    if config.data.train == ["procedural"]:
        return ProceduralTriplets(config.data.procedural_count, config.data.resolution, config.train.seed)
    return TripletShards(config.data.train)


def stream_index(position: int, count: int, seed: int) -> int:
    epoch, offset = divmod(position, count)
    order = np.random.default_rng([seed, epoch, 7919]).permutation(count)
    return int(order[offset])


def _resized(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[0] == size and array.shape[1] == size:
        return array
    interp = cv2.INTER_AREA if array.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(array, (size, size), interpolation=interp)


def to_tensors(triplets: Sequence[Triplet], size: int) -> dict[str, torch.Tensor]:
    """A batch in the model's conventions: image/background (B,3,S,S) in [-1,1], mask (B,1,S,S) in {0,1},
    foreground (B,4,S,S) straight RGBA in [0,1], visible (B,1,S,S) in [0,1]."""

    def stack(name: str, scale: float, shift: float) -> torch.Tensor:
        arrays = [_resized(getattr(t, name), size) for t in triplets]
        x = torch.from_numpy(np.stack(arrays)).float()
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
        return x * scale + shift

    return {
        "image": stack("image", 2 / 255, -1),
        "mask": (stack("mask", 1 / 255, 0) >= 0.5).float(),
        "background": stack("background", 2 / 255, -1),
        "foreground": stack("foreground", 1 / 255, 0),
        "visible": stack("visible", 1 / 255, 0),
    }


class BatchStream(torch.utils.data.Dataset):
    """Item k = the k-th micro-batch this process trains on (k = step × accumulation + micro-step)."""

    def __init__(self, dataset: Sequence[Triplet], micro_batch: int, resolution: int, seed: int,
                 process_index: int = 0, num_processes: int = 1, length: int = 0, indices_only: bool = False):
        self.dataset, self.micro_batch, self.resolution, self.seed = dataset, micro_batch, resolution, seed
        self.process_index, self.num_processes, self.length = process_index, num_processes, length
        self.indices_only = indices_only  # the pictures' encodings are cached: only say which items

    def __len__(self) -> int:
        return self.length

    def positions(self, k: int) -> list[int]:
        first = (k * self.num_processes + self.process_index) * self.micro_batch
        return list(range(first, first + self.micro_batch))

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        indices = [stream_index(p, len(self.dataset), self.seed) for p in self.positions(k)]
        batch = {} if self.indices_only else to_tensors([self.dataset[i] for i in indices], self.resolution)
        batch["index"] = torch.tensor(indices)
        return batch


def loader(stream: BatchStream, start: int, workers: int) -> torch.utils.data.DataLoader:
    """Micro-batches ``start, start+1, ...`` of ``stream`` (already batched: batch_size=None)."""
    indices = list(range(start, len(stream)))
    return torch.utils.data.DataLoader(torch.utils.data.Subset(stream, indices), batch_size=None,
                                       num_workers=workers, persistent_workers=False)
