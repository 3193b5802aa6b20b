"""Cost of several objects in one go against one object of the same total area (classical backend).

    python bench/parts.py [--canvas 4096] [--parts 4] [--repeats 3]

A photo (skimage's astronaut, reflected out to the canvas) with ``--parts`` discs selected far apart (in
the canvas's corners and centre), decomposed with ``split_parts=True``, against one disc of the same total
area in the centre, decomposed plainly, and against each disc decomposed alone (the sum), in the same
process. Printed: best wall and process CPU seconds of each and the ratios. Parts far apart are decomposed
on their own crops, so the cost follows what is selected (n small discs have sqrt(n) times the outline of one
disc of their area, and the edge's matting follows the outline), never n times a canvas-sized crop: the
split costs about what the parts cost one by one.
"""

from __future__ import annotations

import argparse
import math
import time

import cv2
import numpy as np

import layerdecomp


def photo(size: int) -> np.ndarray:
    from skimage import data
    tile = data.astronaut()
    reps = math.ceil(size / tile.shape[0])
    return np.ascontiguousarray(np.pad(tile, ((0, (reps - 1) * 512), (0, (reps - 1) * 512), (0, 0)),
                                       mode="reflect")[:size, :size])


def masks(size: int, parts: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    spots = [(size // 2, size // 2)] + [(x, y) for x in (size // 6, 5 * size // 6) for y in (size // 6, 5 * size // 6)]
    several = np.zeros((size, size), np.uint8)
    for x, y in spots[:parts]:
        cv2.circle(several, (x, y), radius, 255, -1)
    one = np.zeros((size, size), np.uint8)
    cv2.circle(one, (size // 2, size // 2), int(round(radius * math.sqrt(parts))), 255, -1)
    return several, one


def best(run, repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--canvas", type=int, default=4096)
    parser.add_argument("--parts", type=int, default=4, choices=range(2, 6))
    parser.add_argument("--radius", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    image = photo(args.canvas)
    several, one = masks(args.canvas, args.parts, args.radius)
    single = best(lambda: layerdecomp.decompose(image, one, backend="classical"), args.repeats)
    split = best(lambda: layerdecomp.decompose(image, several, backend="classical", split_parts=True), args.repeats)
    count, labels = cv2.connectedComponents(several)
    alone = [np.where(labels == k, 255, 0).astype(np.uint8) for k in range(1, count)]
    singles = best(lambda: [layerdecomp.decompose(image, m, backend="classical") for m in alone], args.repeats)
    print(f"canvas {args.canvas}², {args.parts} discs of radius {args.radius} vs one disc of the same area")
    print(f"one part:        {single[0]:.2f} s wall, {single[1]:.2f} s CPU")
    print(f"{args.parts} parts (split): {split[0]:.2f} s wall, {split[1]:.2f} s CPU")
    print(f"each part alone: {singles[0]:.2f} s wall, {singles[1]:.2f} s CPU (all {args.parts})")
    print(f"split / one part of the same area: {split[0] / single[0]:.2f} wall, {split[1] / single[1]:.2f} CPU")
    print(f"split / each part alone: {split[0] / singles[0]:.2f} wall, {split[1] / singles[1]:.2f} CPU")


if __name__ == "__main__":
    main()
