"""layerdecomp: split a selected object out of a picture into an RGBA object layer and a clean background.

The core imports neither Qt nor Krita, and torch only when a model backend is used.
"""

from .api import Decomposer, decompose
from .errors import BackendUnavailable, Cancelled, InvalidInput, LayerDecompError
from .types import Box, Decomposition

__version__ = "0.1.0"
__all__ = [
    "decompose",
    "Decomposer",
    "Decomposition",
    "Box",
    "LayerDecompError",
    "InvalidInput",
    "BackendUnavailable",
    "Cancelled",
    "__version__",
]
