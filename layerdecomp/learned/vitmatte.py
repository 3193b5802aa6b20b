"""ViTMatte (Yao et al. 2023): alpha from a picture and a trimap, through transformers.

The model is ``VitMatteForImageMatting`` loaded with ``from_pretrained`` from a local folder, safetensors
only (``use_safetensors=True`` refuses a pickled ``pytorch_model.bin``), nothing fetched from the network.

Pre- and post-processing follow transformers' own ``VitMatteImageProcessor``
(transformers/models/vitmatte/image_processing_pil_vitmatte.py, ``_preprocess`` and ``pad_image``; the
numpy path, which ``tests/learned/test_contracts.py`` compares byte for byte):

- the picture RGB (channel order as given to the processor), rescaled by 1/255 in float64 and cast to
  float32, then normalised with mean 0.5 and std 0.5 (IMAGENET_STANDARD_MEAN/STD) to [-1, 1];
- the trimap (0 background, 128 unknown, 255 object: the convention of the original hustvl/ViTMatte
  data) rescaled by 1/255 the same way, not normalised, appended as a fourth channel;
- zero padding at the bottom and right up to a multiple of 32 (``size_divisor``);
- the output ``alphas`` (N×1×H×W, already through a sigmoid in the model, so in [0, 1]) cropped back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE_DIVISOR = 32
MEAN = 0.5
STD = 0.5
# Trimap levels the model was trained with.
BACKGROUND, UNKNOWN, OBJECT = 0, 128, 255


def _rescale(array: np.ndarray) -> np.ndarray:
    # As transformers.image_transforms.rescale: upcast to float64, scale, cast to float32.
    return (array.astype(np.float64) * (1 / 255)).astype(np.float32)


def preprocess(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """``pixel_values`` (1×4×H'×W' float32) for an RGB uint8 ``image`` and a uint8 ``trimap``."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("ViTMatte takes an H×W×3 uint8 RGB picture")
    if trimap.shape != image.shape[:2] or trimap.dtype != np.uint8:
        raise ValueError("the trimap must be H×W uint8, the picture's size")
    rgb = (_rescale(image) - np.float32(MEAN)) / np.float32(STD)
    planes = np.concatenate([rgb.transpose(2, 0, 1), _rescale(trimap)[None]], axis=0)
    h, w = trimap.shape
    pad_h, pad_w = -h % SIZE_DIVISOR, -w % SIZE_DIVISOR
    planes = np.pad(planes, ((0, 0), (0, pad_h), (0, pad_w)), mode="constant", constant_values=0)
    return planes[None]


def postprocess(alphas: np.ndarray, height: int, width: int) -> np.ndarray:
    """The model's ``alphas`` (1×1×H'×W') cropped to the picture: H×W float32 in [0, 1]."""
    return np.clip(np.asarray(alphas, np.float32)[0, 0, :height, :width], 0.0, 1.0)


def make_trimap(known: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """The trimap from ``layerdecomp.matting.trimap``'s (known alpha, unknown band)."""
    trimap = np.where(known >= 0.5, OBJECT, BACKGROUND).astype(np.uint8)
    trimap[unknown] = UNKNOWN
    return trimap


class VitMatte:
    """A loaded ViTMatte; ``model(image, trimap)`` -> alpha (H×W float32)."""

    def __init__(self, folder: Path, device: str = "cpu"):
        import torch
        from transformers import VitMatteForImageMatting

        self.torch = torch
        self.device = torch.device(device)
        try:
            model = VitMatteForImageMatting.from_pretrained(str(folder), use_safetensors=True, local_files_only=True)
        except OSError:
            raise  # no such folder or file, or only a pickled checkpoint: transformers says which
        except Exception as exc:  # a damaged file, another model's config (safetensors' or transformers' own types)
            raise ValueError(f"transformers cannot load ViTMatte from {folder}: {exc}") from exc
        self.model = model.to(self.device).eval()

    def __call__(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        pixel_values = self.torch.from_numpy(preprocess(image, trimap)).to(self.device)
        with self.torch.inference_mode():
            alphas = self.model(pixel_values=pixel_values).alphas
        return postprocess(alphas.float().cpu().numpy(), *trimap.shape)
