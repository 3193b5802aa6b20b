"""A test-only backend: cheap, deterministic arithmetic (so the server tests' time does not follow the
real backends'), with deterministic slowness on request.

``steps=N`` reports N "step" progress events ``step_s`` apart (like a diffusion backend);
``hold=True`` then waits until the job is cancelled (reporting stage "hold" first), so a test can
cancel a job that is surely running; ``busy_s=S`` works S seconds without looking at the cancel token
(reporting stage "busy" first), like a backend stage with no checkpoint inside. Registered as
``test_gated`` by the tests' conftest.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from layerdecomp.backends import Backend
from layerdecomp.errors import Cancelled
from layerdecomp.options import OptionSpec
from layerdecomp.types import BackendResult

HOLD_LIMIT_S = 30.0


class GatedBackend(Backend):
    name = "test_gated"
    priority = -100  # never chosen by "auto"
    option_specs = (
        OptionSpec("hold", "bool", False, "Hold", "Wait until cancelled."),
        OptionSpec("steps", "int", 0, "Steps", "Step events to report.", min=0),
        OptionSpec("step_s", "float", 0.06, "Step time", "Seconds between steps.", min=0.0),
        OptionSpec("busy_s", "float", 0.0, "Busy time", "Seconds of work without a checkpoint.", min=0.0),
    )

    def run(self, image, mask, hole, options, *, progress, cancel):
        hold, steps, step_s, busy_s = options["hold"], options["steps"], options["step_s"], options["busy_s"]
        if busy_s:
            progress("busy", 0.0)
            time.sleep(busy_s)
            progress("busy", 1.0)
        for i in range(int(steps)):
            time.sleep(step_s)
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled between steps")
            progress("step", (i + 1) / steps)
        if hold:
            progress("hold", 0.0)
            deadline = time.monotonic() + HOLD_LIMIT_S
            while not (cancel is not None and cancel.is_set()):
                if time.monotonic() > deadline:
                    raise RuntimeError("a held test job was never cancelled")
                time.sleep(0.005)
            raise Cancelled("cancelled while held")
        progress("alpha", 0.0)
        alpha = np.where(hole, cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (5, 5), 0), 0).astype(np.float32)
        progress("alpha", 1.0)
        progress("fill", 0.0)
        background = cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        progress("fill", 1.0)
        return BackendResult(background=background, alpha=alpha)


BACKEND = GatedBackend
