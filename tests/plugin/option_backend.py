"""A test-only backend that declares one per-job option of its own (``feather``) beside a seed, and
records the options each run gets: the one declaration the options' path starts from
(tests/plugin/test_one_declaration.py). Its work is cheap arithmetic."""

from __future__ import annotations

import cv2
import numpy as np

from layerdecomp.backends import Backend
from layerdecomp.options import OptionSpec
from layerdecomp.types import BackendResult

# Every run's options, in order (the server runs jobs in this process, on a worker thread).
RUNS: list = []


class OptionBackend(Backend):
    name = "test_option"
    label = "Option test"
    description = "A test method with one option of its own."
    priority = -100  # never chosen by "auto"
    option_specs = (
        OptionSpec("feather", "int", 2, "Feather", "How many pixels the edge is softened by.", min=0, max=8),
        OptionSpec("seed", "seed", 0, "Variation", "Another number, another try."),
    )

    def run(self, image, mask, hole, options, *, progress, cancel):
        RUNS.append(dict(options))
        size = 2 * options["feather"] + 1
        alpha = np.where(hole, cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (size, size), 0), 0)
        background = cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        return BackendResult(background=background, alpha=alpha.astype(np.float32))


BACKEND = OptionBackend
