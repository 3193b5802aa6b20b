"""The embedded default: no weights, CPU only.

First version: alpha is the selection softened along its edge, the fill is OpenCV's Telea inpainting.
(To be replaced by band matting + PatchMatch, see issue 2.)
"""

from __future__ import annotations

from typing import Any, Optional

import cv2
import numpy as np

from ..types import BackendResult, CancelToken, ProgressCallback
from . import Backend


class ClassicalBackend(Backend):
    name = "classical"
    priority = 0
    supports_occlusion = False

    def run(self, image, mask, hole, *, progress: ProgressCallback, cancel: Optional[CancelToken], **options: Any):
        progress("alpha", 0.0)
        alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (5, 5), 0)
        alpha = np.where(hole, alpha, 0.0).astype(np.float32)
        progress("alpha", 1.0)
        progress("fill", 0.0)
        background = cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
        progress("fill", 1.0)
        return BackendResult(background=background, alpha=alpha, metadata={"occlusion_recovery": False})


BACKEND = ClassicalBackend
