"""The Qt binding Krita itself loaded: PyQt5 in Krita 5, PyQt6 in Krita 6.

Importing the other binding would put two Qt versions in one process, which crashes, so the choice is
made from ``sys.modules`` and never by trying imports. Code elsewhere in the plugin uses only scoped
enums (``Qt.WindowModality.NonModal``) and APIs that exist in both Qt 5.15 and Qt 6.
"""

from __future__ import annotations

import importlib
import sys


def _binding() -> str:
    for name in ("PyQt6", "PyQt5"):
        if name in sys.modules:
            return name
    # Outside Krita (tests, tools): whichever is installed, Qt 5 first as in Krita 5.
    for name in ("PyQt5", "PyQt6"):
        try:
            importlib.import_module(name)
            return name
        except ImportError:
            continue
    raise ImportError("the layerdecomp plugin needs PyQt5 or PyQt6 (Krita provides one)")


BINDING = _binding()
QtCore = importlib.import_module(BINDING + ".QtCore")
QtGui = importlib.import_module(BINDING + ".QtGui")
QtWidgets = importlib.import_module(BINDING + ".QtWidgets")
Qt = QtCore.Qt
# QAction moved from QtWidgets (Qt 5) to QtGui (Qt 6).
QAction = getattr(QtGui, "QAction", None) or QtWidgets.QAction
