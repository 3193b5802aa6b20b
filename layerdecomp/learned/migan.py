"""MI-GAN (Sargsyan et al. 2023) as its published ONNX pipeline, run with onnxruntime.

The file is ``migan_pipeline_v2.onnx`` (MI-GAN-512-Places2 wrapped in its own pre/post-processing by
Picsart-AI-Research/MI-GAN scripts/create_onnx_pipeline.py). Its contract, from that script's
``MIGAN_Pipeline.forward`` and its README's "For Developers" section:

- inputs ``image``: uint8 (1, 3, H, W), RGB, values 0-255; ``mask``: uint8 (1, 1, H, W), **255 = known,
  0 = to fill**, and binary (the script's ``read_mask`` sets everything below 255 to 0);
- output ``result``: uint8 (1, 3, H, W), RGB, the known pixels kept and the hole filled.

Inside, the pipeline crops a square of at least 512 px around the hole and resizes it to 512 × 512, the
model's native size. So that it works at that size and never stretches the picture, ``fill`` gives it
the picture already shrunk to fit in 512 × 512 and padded to exactly that square, as IOPaint does for
MI-GAN (Sanster/IOPaint iopaint/model/mi_gan.py: ``pad_mod = 512``, ``pad_to_square``, ``min_size =
512``; picture and mask both mirrored, ``np.pad(mode="symmetric")`` as in IOPaint's
``pad_img_to_modulo``, so a mirrored copy of the object is a hole too, never a source). Scaling back up and
restoring the detail is the caller's (``fill.upscale_fill``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NATIVE_SIZE = 512
INPUTS = {"image": ("tensor(uint8)", 3), "mask": ("tensor(uint8)", 1)}
OUTPUT = "result"
KNOWN, HOLE = 255, 0


def preprocess(image: np.ndarray, hole: np.ndarray) -> dict[str, np.ndarray]:
    """The pipeline's inputs for an RGB uint8 ``image`` and a bool ``hole`` (True = to fill)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("MI-GAN takes an H×W×3 uint8 RGB picture")
    if hole.shape != image.shape[:2]:
        raise ValueError("the hole must be H×W, the picture's size")
    mask = np.where(np.asarray(hole, bool), HOLE, KNOWN).astype(np.uint8)
    return {"image": np.ascontiguousarray(image.transpose(2, 0, 1)[None]),
            "mask": np.ascontiguousarray(mask[None, None])}


def postprocess(result: np.ndarray) -> np.ndarray:
    """The pipeline's ``result`` (1×3×H×W uint8) as an H×W×3 RGB picture."""
    return np.ascontiguousarray(np.asarray(result, np.uint8)[0].transpose(1, 2, 0))


def pad_to_square(image: np.ndarray, hole: np.ndarray, size: int = NATIVE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``image`` and ``hole`` padded at the bottom and right to ``size`` × ``size``, both mirrored (the
    mirrored object is a hole too). Both must already fit."""
    h, w = hole.shape
    if h > size or w > size:
        raise ValueError(f"{w}×{h} does not fit in {size}×{size}: shrink it first")
    pad = ((0, size - h), (0, size - w))
    return (np.pad(image, pad + ((0, 0),), mode="symmetric"),
            np.pad(np.asarray(hole, bool), pad, mode="symmetric"))


class MiGan:
    """A loaded MI-GAN pipeline; ``model(image, hole)`` -> the picture with the hole filled (same size,
    which must fit in 512 × 512)."""

    def __init__(self, path: Path, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
        import onnxruntime

        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=list(providers))
        except Exception as exc:  # onnxruntime's own exception types (InvalidProtobuf, NoSuchFile, Fail, ...)
            raise ValueError(f"onnxruntime cannot load {path}: {exc}") from exc
        found = {i.name: i for i in self.session.get_inputs()}
        for name, (dtype, channels) in INPUTS.items():
            got = found.get(name)
            if got is None or got.type != dtype or len(got.shape) != 4 or got.shape[1] != channels:
                raise ValueError(f"{path} is not MI-GAN's ONNX pipeline: it needs an input {name!r} of "
                                 f"{dtype} (1, {channels}, H, W); the file has "
                                 + ", ".join(f"{i.name} {i.type} {i.shape}" for i in found.values()))
        if OUTPUT not in [o.name for o in self.session.get_outputs()]:
            raise ValueError(f"{path} is not MI-GAN's ONNX pipeline: it has no output {OUTPUT!r}")

    def __call__(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        h, w = hole.shape
        padded, padded_hole = pad_to_square(image, hole)
        (result,) = self.session.run([OUTPUT], preprocess(padded, padded_hole))
        return postprocess(result)[:h, :w]
