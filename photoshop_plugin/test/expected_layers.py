"""What `layerdecomp.decompose` makes of a picture, for the Node tests to compare the plugin's layers with.

    python expected_layers.py DIR WIDTH HEIGHT [parts]

reads DIR/image.raw (RGBA8) and DIR/mask.raw (A8) and writes DIR/foreground.raw, DIR/background.raw
(RGBA8) and DIR/visibility.raw (A8), all canvas-sized, from the classical backend with the library's
default margin and grow: the whole canvas in, as a Python user of the library would call it. With
``parts`` (``split_parts=True``) it also writes, for each object bottom to top, DIR/object<i>.raw (the
object alone on the canvas, RGBA8) and DIR/object<i>_visibility.raw (A8, canvas-sized), and
DIR/objects.txt: how many there are (0 for an ordinary result).
"""

import sys
from pathlib import Path

import numpy as np

import layerdecomp


def main() -> int:
    folder, width, height = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    parts = sys.argv[4:] == ["parts"]
    image = np.fromfile(folder / "image.raw", np.uint8).reshape(height, width, 4)
    mask = np.fromfile(folder / "mask.raw", np.uint8).reshape(height, width)
    result = layerdecomp.decompose(image, mask, backend="classical", split_parts=parts)
    for name in ("foreground", "background", "visibility"):
        np.ascontiguousarray(getattr(result, name), np.uint8).tofile(folder / f"{name}.raw")
    # One part is the ordinary result (the server then sends no objects).
    objects = result.objects if parts and result.objects and len(result.objects) > 1 else []
    for i, layer in enumerate(objects):
        layer.on_canvas(height, width).tofile(folder / f"object{i}.raw")
        seen = np.zeros((height, width), np.uint8)
        seen[layer.box.slices] = layer.visibility
        seen.tofile(folder / f"object{i}_visibility.raw")
    (folder / "objects.txt").write_text(str(len(objects)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
