"""A test-only backend: reports progress, then holds until the job is cancelled (or for ``hold_s``), then
does the classical backend's work. Lets a test cancel, or kill the server, while a job surely runs."""

from __future__ import annotations

import time

from layerdecomp.backends import Backend, backend_class
from layerdecomp.errors import Cancelled


class HeldBackend(Backend):
    name = "test_plugin_held"
    priority = -100  # never chosen by "auto"
    run_options = frozenset({"hold_s"})

    def __init__(self) -> None:
        self._classical = backend_class("classical")()

    def run(self, image, mask, hole, *, progress, cancel, hold_s=30.0):
        progress("hold", 0.0)
        deadline = time.monotonic() + float(hold_s)
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled while held")
            time.sleep(0.005)
        return self._classical.run(image, mask, hole, progress=progress, cancel=cancel)


BACKEND = HeldBackend
