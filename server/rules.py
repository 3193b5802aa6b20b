"""What a job may ask of the loaded backend: its name, and per-job options of the right names and types.

A client may set a backend's per-job options only (steps, seed, ...); options that load things (weights,
device) are the server's command line's alone. Every refusal is a ``LayerDecompError`` whose code the
client hears (``backend_unavailable``, ``invalid_input``).
"""

from __future__ import annotations

from layerdecomp import backends
from layerdecomp.errors import BackendUnavailable, InvalidInput

from .protocol import Decompose, quote_name


class JobRules:
    def __init__(self, backend_class: type[backends.Backend]) -> None:
        self.backend_class = backend_class

    def check(self, message: Decompose) -> None:
        cls = self.backend_class
        if message.backend not in (None, "auto", cls.name):
            name = quote_name(message.backend)
            raise BackendUnavailable(f"this server runs the {cls.name} backend, not {name}; "
                                     f"start it with layerdecomp serve --backend {name}")
        load_only = sorted(set(message.options) & cls.load_options)
        if load_only:
            raise InvalidInput(f"{', '.join(load_only)} can only be set when the server starts "
                               f"(layerdecomp serve -O {load_only[0]}=...), not per job")
        unknown = sorted(quote_name(name) for name in set(message.options) - cls.run_options)
        if unknown:
            known = ", ".join(sorted(cls.run_options)) or "none"
            raise InvalidInput(f"the {cls.name} backend has no option {', '.join(unknown[:5])} "
                               f"(per job it takes: {known})")
        backends.check_run_options(cls, message.options)


