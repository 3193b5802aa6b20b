"""Stage 3: the registry of backends.

A backend turns a crop (RGB uint8), the selection's grey levels over it and the hole into a
:class:`~layerdecomp.types.BackendResult`. Backends are created once per set of options and kept, so a
server that loads a model does so once.
"""

from __future__ import annotations

import abc
import importlib
import inspect
import threading
from typing import Any, ClassVar, Optional

import numpy as np

from ..errors import BackendUnavailable, InvalidInput
from ..types import BackendResult, CancelToken, ProgressCallback


class Backend(abc.ABC):
    name: ClassVar[str]
    # Higher wins when the caller asks for "auto" and several backends can run.
    priority: ClassVar[int] = 0
    supports_occlusion: ClassVar[bool] = False
    # Options taken when the backend is created (loading a model: kept per distinct value) and options
    # taken per call (steps, seed, ...). Anything else a caller passes is refused with a clear error.
    load_options: ClassVar[frozenset[str]] = frozenset()
    run_options: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def unavailable_reason(cls, **options: Any) -> Optional[str]:
        """None when the backend can run with these options, else a sentence saying what is missing."""
        return None

    @abc.abstractmethod
    def run(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        hole: np.ndarray,
        *,
        progress: ProgressCallback,
        cancel: Optional[CancelToken],
        **options: Any,
    ) -> BackendResult:
        """Decompose one crop. ``mask``: the selection's grey levels (uint8); ``hole``: bool, where to fill."""


# name -> module that defines it; imported lazily so that importing the core never pulls in torch.
_MODULES = {
    "classical": "layerdecomp.backends.classical",
    "learned": "layerdecomp.backends.learned",
    "diffusion": "layerdecomp.backends.diffusion",
}
_instances: dict[tuple, Backend] = {}
_lock = threading.Lock()


def missing_packages(packages: tuple[str, ...], extra: str) -> Optional[str]:
    """An ``unavailable_reason`` naming the packages of ``packages`` that are not installed (and the extra
    that brings them), or None when all are there. Looks them up without importing them."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        return f"it needs {', '.join(missing)} (pip install 'layerdecomp[{extra}]')"
    return None


def register_module(name: str, module: str) -> None:
    _MODULES[name] = module


def backend_class(name: str) -> type[Backend]:
    if name not in _MODULES:
        raise BackendUnavailable(f"unknown backend {name!r}; choose one of: {', '.join(available_names())}")
    module = importlib.import_module(_MODULES[name])
    return module.BACKEND


def available_names() -> list[str]:
    return ["auto", *_MODULES]


def resolve(name: str, **options: Any) -> type[Backend]:
    """The backend class for ``name``; ``auto`` takes the highest-priority one that can run."""
    if name != "auto":
        cls = backend_class(name)
        reason = cls.unavailable_reason(**options)
        if reason:
            raise BackendUnavailable(f"the {name} backend cannot run: {reason}")
        return cls
    candidates = []
    for candidate in _MODULES:
        try:
            cls = backend_class(candidate)
        except ImportError:
            continue
        if cls.unavailable_reason(**options) is None:
            candidates.append(cls)
    if not candidates:
        raise BackendUnavailable("no backend can run here")
    return max(candidates, key=lambda c: c.priority)


def split_options(cls: type[Backend], options: dict[str, Any]) -> tuple[dict, dict]:
    """(load options, run options) for ``cls``; an option it does not know is an error."""
    unknown = set(options) - cls.load_options - cls.run_options
    if unknown:
        known = ", ".join(sorted(cls.load_options | cls.run_options)) or "none"
        raise InvalidInput(f"the {cls.name} backend has no option {', '.join(sorted(unknown))} (it takes: {known})")
    load = {k: v for k, v in options.items() if k in cls.load_options}
    run = {k: v for k, v in options.items() if k in cls.run_options}
    return load, run


def run_option_defaults(cls: type[Backend]) -> dict[str, Any]:
    """The defaults of ``cls.run``'s options (what a run uses when the caller gives none)."""
    return {name: p.default for name, p in inspect.signature(cls.run).parameters.items()
            if p.default is not inspect.Parameter.empty}


def check_run_options(cls: type[Backend], options: dict[str, Any]) -> None:
    """Refuse a per-job option whose value is not of the kind its default in ``cls.run`` is (``seed="abc"``
    is an InvalidInput here, not a ValueError deep inside a job)."""
    defaults = run_option_defaults(cls)
    for name, value in options.items():
        default = defaults.get(name)
        if default is None or value is None:
            continue
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "text"
        else:
            continue
        if not ok:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            raise InvalidInput(f"the {cls.name} backend's option {name} must be {kind}, not {shown}")


def instance(cls: type[Backend], load_options: dict[str, Any]) -> Backend:
    """The ready instance of an already resolved backend, created on first use and kept per load options."""
    options = {k: v for k, v in load_options.items() if k in cls.load_options}
    key = (cls.name, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _lock:
        if key not in _instances:
            _instances[key] = cls(**options)
        return _instances[key]
