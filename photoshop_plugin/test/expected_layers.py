"""What `layerdecomp.decompose` makes of a picture, for the Node tests to compare the plugin's layers with.

    python expected_layers.py DIR WIDTH HEIGHT

reads DIR/image.raw (RGBA8) and DIR/mask.raw (A8) and writes DIR/foreground.raw, DIR/background.raw
(RGBA8) and DIR/visibility.raw (A8), all canvas-sized, from the classical backend with the library's
default margin and grow: the whole canvas in, as a Python user of the library would call it.
"""

import sys
from pathlib import Path

import numpy as np

import layerdecomp


def main() -> int:
    folder, width, height = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    image = np.fromfile(folder / "image.raw", np.uint8).reshape(height, width, 4)
    mask = np.fromfile(folder / "mask.raw", np.uint8).reshape(height, width)
    result = layerdecomp.decompose(image, mask, backend="classical")
    for name in ("foreground", "background", "visibility"):
        np.ascontiguousarray(getattr(result, name), np.uint8).tofile(folder / f"{name}.raw")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
