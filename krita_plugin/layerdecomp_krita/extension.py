"""The Krita extension: registers the actions, wires them to the controller, stops the local server on quit."""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional

from krita import Extension, Krita

from . import client, config, docker, messages
from . import settings as settings_module
from .controller import Controller
from .local_server import LOCAL
from .qt import QtCore, QtWidgets
from .ui import QtUI, SettingsDialog

ACTION_ID = "layerdecomp_decompose_selection"
SETTINGS_ACTION_ID = "layerdecomp_settings"
# Krita's Select menu (its objectName in Krita's menu definition); Tools › Scripts gets the action too.
EXTRA_MENU = "select"

log = logging.getLogger("layerdecomp_krita")


PLUGIN_LOG = "plugin.log"


def _setup_logging() -> None:
    """The plugin's log: Krita's terminal, and ``plugin.log`` in the user's log folder (size-capped and
    rotated: config.log_file_handler), where a message's technical detail ends up."""
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(logging.Formatter("layerdecomp: %(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        log.addHandler(config.log_file_handler(config.log_dir() / PLUGIN_LOG))
    except OSError as exc:  # a read-only home: the terminal still has it
        log.warning("no log file (%s)", exc)


class LayerDecompExtension(Extension):
    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        _setup_logging()
        self.krita = Krita.instance()
        self.controller = Controller(self.krita, QtUI(self.krita, find_panel=docker.active_docker))
        self._pending: list = []  # (main window, action) still to add to the Select menu
        self._greyed_menus: set = set()  # the menus that grey the action as they open

    def setup(self) -> None:
        notifier = self.krita.notifier()
        notifier.applicationClosing.connect(self._on_closing)
        # Krita fills its menu bar after createActions: the Select menu gets the action once the
        # window is complete.
        notifier.windowCreated.connect(self._place_pending)

    def _on_closing(self) -> None:
        if self.controller.job is not None:
            self.controller.cancel()
        LOCAL.stop()

    def createActions(self, window: Any) -> None:
        action = window.createAction(ACTION_ID, "Decompose Selection", "tools/scripts")
        action.triggered.connect(self.controller.trigger)
        # Keep the QMainWindow, not the scripting Window object: Krita deletes that one after this call.
        self._pending.append((window.qwindow(), action))
        QtCore.QTimer.singleShot(0, self._place_pending)
        settings_action = window.createAction(SETTINGS_ACTION_ID, "Decompose Selection Settings…", "tools/scripts")
        settings_action.triggered.connect(self.edit_settings)

    def _place_pending(self) -> None:
        still = []
        for main_window, action in self._pending:
            try:
                if not self._add_to_menu(main_window, action, EXTRA_MENU):
                    still.append((main_window, action))
                self._grey_in_menus(main_window, action)
            except RuntimeError:  # the window is gone
                continue
        self._pending = still

    def _grey_in_menus(self, main_window: Any, action: Any) -> None:
        """Every menu holding the action greys it while it is open with nothing selected. (Krita's script
        actions ignore their activation flags.) Only while open: a disabled action's shortcut would do
        nothing, and the shortcut with nothing selected should still say what to do."""
        menus = [a.menu() for a in main_window.menuBar().actions() if a.menu() is not None]
        while menus:
            menu = menus.pop()
            menus += [a.menu() for a in menu.actions() if a.menu() is not None]
            if action not in menu.actions() or id(menu) in self._greyed_menus:
                continue
            self._greyed_menus.add(id(menu))
            menu.aboutToShow.connect(lambda: action.setEnabled(self._can_start()))
            menu.aboutToHide.connect(lambda: action.setEnabled(True))

    def _can_start(self) -> bool:
        return self.controller.job is None and docker.something_selected(self.krita)

    @staticmethod
    def _add_to_menu(main_window: Any, action: Any, name: str) -> bool:
        for candidate in main_window.menuBar().actions():
            menu = candidate.menu()
            if menu is not None and candidate.objectName().lower() == name:
                if action not in menu.actions():
                    menu.addSeparator()
                    menu.addAction(action)
                return True
        return False

    def edit_settings(self) -> None:
        current = settings_module.load(self.krita.readSetting)
        parent: Optional[QtWidgets.QWidget] = None
        if self.krita.activeWindow() is not None:
            parent = self.krita.activeWindow().qwindow()
        dialog = SettingsDialog(current, parent, check_connection=describe_server)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            settings_module.save(dialog.values(), self.krita.writeSetting)


def describe_server(settings: settings_module.Settings) -> tuple:
    """Test connection (runs in the dialog's worker thread): what answered, in a sentence, and what it
    announced (its methods and its method's options, for the settings to draw)."""
    welcome = client.check_connection(settings)
    log.info("connection test: %s, backend %s (offers %s), device %s, protocol %s", welcome.server,
             welcome.backend, welcome.backends, welcome.device, welcome.protocol)
    return (messages.connected(welcome.server, welcome.backend, welcome.device),
            settings_module.announced_by(welcome))


EXTENSION: Optional[LayerDecompExtension] = None


def register() -> LayerDecompExtension:
    global EXTENSION
    EXTENSION = LayerDecompExtension(Krita.instance())
    Krita.instance().addExtension(EXTENSION)
    docker.register(Krita.instance())
    return EXTENSION
