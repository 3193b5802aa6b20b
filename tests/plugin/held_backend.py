"""A test-only backend: reports progress, then holds until the job is cancelled (or for ``hold_s``), then
does the classical backend's work. Lets a test cancel, or kill the server, while a job surely runs."""

from __future__ import annotations

import time

from layerdecomp.backends import Backend, backend_class
from layerdecomp.errors import Cancelled
from layerdecomp.options import OptionSpec, job_options


class HeldBackend(Backend):
    name = "test_plugin_held"
    priority = -100  # never chosen by "auto"
    option_specs = (OptionSpec("hold_s", "float", 30.0, "Hold", "Seconds to hold before working.", min=0.0),)

    def __init__(self) -> None:
        self._classical = backend_class("classical")()

    def run(self, image, mask, hole, options, *, progress, cancel):
        progress("hold", 0.0)
        deadline = time.monotonic() + options["hold_s"]
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled while held")
            time.sleep(0.005)
        classical = self._classical
        return classical.run(image, mask, hole, job_options(classical.name, classical.option_specs, {}),
                             progress=progress, cancel=cancel)


BACKEND = HeldBackend
