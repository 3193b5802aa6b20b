"""What this server offers, and what a job may ask of it: the loaded backend, and its per-job options (by
name: their values are the core's to check, ``layerdecomp.options``).

A client may set a backend's per-job options only (steps, seed, ...); options that load things (weights,
device) are the server's command line's alone. Every refusal is a ``LayerDecompError`` whose code the
client hears (``backend_unavailable``, ``invalid_input``). The ``welcome`` announces the same facts:
``methods`` (every backend, whether this server runs it, and what to do otherwise) and ``schema`` (the
loaded backend's per-job options, with this server's defaults).
"""

from __future__ import annotations

from typing import Any, Optional

from layerdecomp import backends
from layerdecomp.errors import BackendUnavailable
from layerdecomp.options import option_names_error

from .protocol import Decompose, quote_name


class JobRules:
    def __init__(self, backend_class: type[backends.Backend], default_options: Optional[dict[str, Any]] = None) -> None:
        self.backend_class = backend_class
        self.default_options = dict(default_options or {})

    def check(self, message: Decompose) -> None:
        """Refuse a job this server will not run, before its pixels are read."""
        cls = self.backend_class
        if message.backend not in (None, "auto", cls.name):
            name = quote_name(message.backend)
            raise BackendUnavailable(f"this server runs the {cls.name} backend, not {name}; "
                                     f"start it with layerdecomp serve --backend {name}")
        error = option_names_error(cls.name, cls.option_specs, message.options)
        if error is not None:
            raise error

    def schema(self) -> list[dict[str, Any]]:
        """The loaded backend's per-job options as ``welcome.schema`` lists them; a default this server
        was started with (``-O steps=50``) is the one shown."""
        entries = []
        for spec in self.backend_class.job_option_specs():
            entry = spec.to_json()
            entry["default"] = self.default_options.get(spec.name, spec.default)
            entries.append(entry)
        return entries

    def methods(self) -> list[dict[str, Any]]:
        """Every backend this server knows, as ``welcome.methods`` lists them."""
        entries = []
        for name in backends.registered_names():
            try:
                cls = backends.backend_class(name)
            except ImportError as exc:
                entries.append({"name": name, "label": name, "description": "", "available": False,
                                "reason": f"it cannot be imported here ({exc})"})
                continue
            running = cls is self.backend_class
            entries.append({"name": name, "label": cls.label or name, "description": cls.description,
                            "available": running, "reason": "" if running else _how_to_run(cls)})
        return entries


def _how_to_run(cls: type[backends.Backend]) -> str:
    """What to do to get ``cls``, in plain words: what it lacks here, or to restart the server with it."""
    missing = cls.unavailable_reason()
    restart = f"restart the server with this method (layerdecomp serve --backend {cls.name})"
    return f"{missing}; then {restart}" if missing else restart
