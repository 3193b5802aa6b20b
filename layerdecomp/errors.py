"""Errors a caller can act on. Each carries a short machine-readable ``code`` (the server sends it as is)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .types import CancelToken


class LayerDecompError(Exception):
    code = "error"


class InvalidInput(LayerDecompError, ValueError):
    """The picture or the mask cannot be decomposed as given (sizes, formats, empty selection, ...)."""

    code = "invalid_input"


class OutputError(LayerDecompError, OSError):
    """The results cannot be written where asked (a missing or read-only folder, a full disk, ...)."""

    code = "output_error"


class BackendUnavailable(LayerDecompError, RuntimeError):
    """The requested backend cannot run here (missing weights, missing packages, no GPU, ...)."""

    code = "backend_unavailable"


class Cancelled(LayerDecompError):
    """The caller asked to stop; raised between stages (and between diffusion steps)."""

    code = "cancelled"


def raise_if_cancelled(cancel: Optional[CancelToken]) -> None:
    """The check every stage boundary makes: raise :class:`Cancelled` once ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("the decomposition was cancelled")
