"""The Krita extension: registers the actions, wires them to the controller, stops the local server on quit."""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional

from krita import Extension, Krita

from . import settings as settings_module
from .controller import Controller
from .local_server import LOCAL
from .qt import QtWidgets
from .ui import QtUI, SettingsDialog

ACTION_ID = "layerdecomp_decompose_selection"
SETTINGS_ACTION_ID = "layerdecomp_settings"
# Krita's Select menu (its objectName in Krita's menu definition); Tools › Scripts gets the action too.
EXTRA_MENU = "select"

log = logging.getLogger("layerdecomp_krita")


def _setup_logging() -> None:
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(logging.Formatter("layerdecomp: %(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class LayerDecompExtension(Extension):
    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        _setup_logging()
        self.krita = Krita.instance()
        self.controller = Controller(self.krita, QtUI(self.krita))

    def setup(self) -> None:
        self.krita.notifier().applicationClosing.connect(self._on_closing)

    def _on_closing(self) -> None:
        if self.controller.job is not None:
            self.controller.cancel()
        LOCAL.stop()

    def createActions(self, window: Any) -> None:
        action = window.createAction(ACTION_ID, "Decompose Selection", "tools/scripts")
        action.triggered.connect(self.controller.trigger)
        self._add_to_menu(window, action, EXTRA_MENU)
        settings_action = window.createAction(SETTINGS_ACTION_ID, "Decompose Selection Settings…", "tools/scripts")
        settings_action.triggered.connect(self.edit_settings)

    @staticmethod
    def _add_to_menu(window: Any, action: Any, name: str) -> None:
        menu_bar = window.qwindow().menuBar()
        for candidate in menu_bar.actions():
            menu = candidate.menu()
            if menu is not None and candidate.objectName().lower() == name:
                menu.addSeparator()
                menu.addAction(action)
                return
        log.info("no %r menu found; Decompose Selection is under Tools › Scripts only", name)

    def edit_settings(self) -> None:
        current = settings_module.load(self.krita.readSetting)
        parent: Optional[QtWidgets.QWidget] = None
        if self.krita.activeWindow() is not None:
            parent = self.krita.activeWindow().qwindow()
        dialog = SettingsDialog(current, parent)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            settings_module.save(dialog.values(), self.krita.writeSetting)


EXTENSION: Optional[LayerDecompExtension] = None


def register() -> LayerDecompExtension:
    global EXTENSION
    EXTENSION = LayerDecompExtension(Krita.instance())
    Krita.instance().addExtension(EXTENSION)
    return EXTENSION
