"""Stage 3: the registry of backends.

A backend turns a crop (RGB uint8), the selection's grey levels over it and the hole into a
:class:`~layerdecomp.types.BackendResult`. Backends are created once per set of options and kept, so a
server that loads a model does so once.
"""

from __future__ import annotations

import abc
import importlib
import threading
from typing import Any, ClassVar, Mapping, Optional

import numpy as np

from ..errors import BackendUnavailable
from ..options import JOB, LOAD, OptionSpec
from ..types import BackendResult, CancelToken, ProgressCallback


class Backend(abc.ABC):
    name: ClassVar[str]
    # For artists: the method's name in a menu, and one plain line about it (the welcome lists both).
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Higher wins when the caller asks for "auto" and several backends can run.
    priority: ClassVar[int] = 0
    supports_occlusion: ClassVar[bool] = False
    # Every option, declared once: those taken when the backend is created (scope LOAD: loading a model,
    # kept per distinct value) and those taken per job (scope JOB: steps, seed, ...). Anything else a
    # caller passes is refused with a clear error (layerdecomp.options).
    option_specs: ClassVar[tuple[OptionSpec, ...]] = ()
    # The names of each scope, derived from ``option_specs``.
    load_options: ClassVar[frozenset[str]] = frozenset()
    run_options: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.load_options = frozenset(s.name for s in cls.option_specs if s.scope == LOAD)
        cls.run_options = frozenset(s.name for s in cls.option_specs if s.scope == JOB)

    @classmethod
    def job_option_specs(cls) -> tuple[OptionSpec, ...]:
        return tuple(s for s in cls.option_specs if s.scope == JOB)

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
        options: Mapping[str, Any],
        *,
        progress: ProgressCallback,
        cancel: Optional[CancelToken],
    ) -> BackendResult:
        """Decompose one crop. ``mask``: the selection's grey levels (uint8); ``hole``: bool, where to fill;
        ``options``: every per-job option, checked against ``option_specs`` and with the defaults filled in."""


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


def registered_names() -> list[str]:
    """Every backend's name, in the order they were registered."""
    return list(_MODULES)


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


def instance(cls: type[Backend], load_options: dict[str, Any]) -> Backend:
    """The ready instance of an already resolved backend, created on first use and kept per load options."""
    options = {k: v for k, v in load_options.items() if k in cls.load_options}
    key = (cls.name, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _lock:
        if key not in _instances:
            _instances[key] = cls(**options)
        return _instances[key]
