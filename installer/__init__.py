"""layerdecomp's installer: ``python -m installer install|uninstall|status|package``.

Standard library only, so it runs from whatever Python an artist has. (PyPI also has an unrelated package
called ``installer``; see __main__.py for why this one is the one that runs.)
"""

__version__ = "0.1.0"
