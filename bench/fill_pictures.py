"""Before/after pictures of the clean plate for docs/: the README example and two photos that ship offline.

    python bench/fill_pictures.py [--out docs/pictures] [--panel 320]

For each photo one PNG, four panels (2×2), each cut to the crop the decomposition works on (the selection
and its context): top left, the photo with the selection outlined; top right, the plain PatchMatch fill
of the whole grown selection (``fill(..., regions=False)``, what the classical backend did before the
region guide); bottom left, the region-guided fill of the whole grown selection (``fill(...)``); bottom
right, the clean plate that ``layerdecomp.decompose(..., backend="classical")`` returns (the fill only
where the object was found, blended into the picture, and the soft edge's own background where the
matting can be trusted). Photos: ``examples/coffee.jpg`` with ``examples/coffee_mask.png`` (the README's
example), and photos that ship with scikit-image with the lassos below: the rocket and the shuttle model
(drawn a few pixels outside the object), and two of hair and fur with a loose lasso (10-20 px out, the
way artists draw them): the astronaut's hair and Chelsea the cat's ear. Deterministic: run it again and
the files come out the same.
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Lassos in image coordinates (x, y), by picture name: (skimage photo, points).
LASSOS = {
    # the rocket and its launch arms, down to the pad
    "rocket": ("rocket", [(320, 116), (342, 138), (344, 200), (342, 338), (360, 356), (362, 404), (283, 404),
                          (285, 356), (300, 338), (298, 200), (300, 138)]),
    # the shuttle model in front of the grey wall, down to its black stand
    "astronaut": ("astronaut", [(396, 0), (444, 0), (462, 40), (463, 250), (459, 278), (350, 278), (350, 205),
                                (378, 178), (384, 40)]),
    # the astronaut's head and hair against the grey wall, a loose lasso, down to the collar
    "astronaut-hair": ("astronaut", [(215, 2), (292, 8), (318, 50), (316, 110), (294, 150), (268, 172),
                                     (240, 178), (205, 172), (168, 150), (144, 110), (142, 50), (162, 12)]),
    # Chelsea's right ear against the pale background, a loose lasso
    "chelsea-ear": ("chelsea", [(296, 0), (398, 0), (405, 40), (385, 85), (335, 96), (290, 64)]),
}


def photos() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from skimage import data

    from layerdecomp.io import load_image, load_mask

    out = [("coffee", load_image(os.path.join(ROOT, "examples", "coffee.jpg")),
            load_mask(os.path.join(ROOT, "examples", "coffee_mask.png")))]
    for name, (photo, points) in LASSOS.items():
        image = np.ascontiguousarray(getattr(data, photo)()[..., :3])
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.asarray(points, np.int32)], 255)
        out.append((name, image, mask))
    return out


def fill_only(image: np.ndarray, mask: np.ndarray, regions: bool) -> np.ndarray:
    """The crop with the (grown) selection filled, with or without the region guide."""
    from layerdecomp import fill
    from layerdecomp.region import plan_region

    region = plan_region(mask)
    crop = np.ascontiguousarray(image[region.box.slices][..., :3])
    return fill.fill(crop, region.hole, regions=regions)


def with_outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image[..., :3].copy()
    contours, _ = cv2.findContours((mask > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    thickness = max(2, round(image.shape[1] / 300))
    cv2.drawContours(out, contours, -1, (255, 255, 255), thickness + 2)
    cv2.drawContours(out, contours, -1, (230, 40, 160), thickness)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "pictures"))
    parser.add_argument("--panel", type=int, default=320, help="the panels' larger side, in pixels")
    args = parser.parse_args(argv)

    from PIL import Image

    import layerdecomp

    os.makedirs(args.out, exist_ok=True)
    for name, image, mask in photos():
        result = layerdecomp.decompose(image, mask, backend="classical")
        sl = result.box.slices  # the crop the work happened on: selection, margin and all
        top = np.concatenate([with_outline(image, mask)[sl], fill_only(image, mask, False)], axis=1)
        bottom = np.concatenate([fill_only(image, mask, True), result.background[..., :3][sl]], axis=1)
        panels = np.concatenate([top, bottom], axis=0)
        scale = min(1.0, args.panel / max(panels.shape[0] / 2, panels.shape[1] / 2))
        size = (round(panels.shape[1] * scale), round(panels.shape[0] * scale))
        small = cv2.resize(panels, size, interpolation=cv2.INTER_AREA)
        path = os.path.join(args.out, f"fill-{name}.png")
        # 256 colours, dithered: a third of the bytes, and the differences between the panels stay visible
        Image.fromarray(small).quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
        print(f"{path}: {small.shape[1]}x{small.shape[0]}, {os.path.getsize(path) // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
