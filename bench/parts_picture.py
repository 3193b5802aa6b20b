"""The README's picture of several objects in one go: docs/pictures/parts-coins.png.

    python bench/parts_picture.py

skimage's coins photo with three coins lassoed at once: the selection, the one clean plate, and the three
object layers moved apart over it (each shifted, as an artist would drag them).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

import layerdecomp

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "docs", "pictures", "parts-coins.png")
SHIFTS = [(-20, 30), (25, -5), (-35, -25)]  # (dx, dy) per object layer, bottom to top


def main() -> None:
    from skimage import data
    grey = data.coins()
    image = np.dstack([grey] * 3)
    mask = np.zeros(grey.shape, np.uint8)
    for x, y, r in ((155, 50, 33), (270, 118, 34), (172, 260, 35)):  # three coins, lassoed ~10 px loose
        cv2.circle(mask, (x, y), r, 255, -1)
    result = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    selection = image.copy()
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(selection, contours, -1, (255, 80, 0), 2)
    moved = result.background[..., :3].astype(np.float32)
    height, width = mask.shape
    for layer, (dx, dy) in zip(result.objects, SHIFTS):
        pixels = layer.on_canvas(height, width)
        pixels = cv2.warpAffine(pixels, np.float32([[1, 0, dx], [0, 1, dy]]), (width, height))
        a = pixels[..., 3:].astype(np.float32) / 255
        moved = pixels[..., :3] * a + moved * (1 - a)
    panels = [selection, result.background[..., :3], moved.round().astype(np.uint8)]
    gap = np.full((height, 6, 3), 255, np.uint8)
    row = np.hstack([panels[0], gap, panels[1], gap, panels[2]])
    cv2.imwrite(OUT, cv2.cvtColor(row, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {os.path.normpath(OUT)} ({len(result.objects)} objects)")


if __name__ == "__main__":
    main()
