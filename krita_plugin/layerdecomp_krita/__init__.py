"""layerdecomp for Krita: Layer decomposition of the selected object ("Decompose Selection").

Krita imports this package at start-up; importing it registers the extension.
"""

__version__ = "0.1.0"

from .extension import register  # noqa: E402  (after __version__: the installer reads it as text)

register()
