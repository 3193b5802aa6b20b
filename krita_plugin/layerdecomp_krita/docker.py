"""The "Layer Decomposition" docker: the Decompose button, the method, the progress with Cancel, the
server's state, the settings and the log files, in one panel beside the canvas.

What the docker offers comes from the server: its ``welcome`` announces every method it knows, with a
plain description and, for one it cannot run, the reason (greyed here), and the options of the method it
runs (drawn by ``option_widgets.OptionForm``). The server is asked in a worker thread (the settings' Test
connection path, which never starts a server), so the docker never waits on the network; the last
announcement is kept in the settings (``Settings.announced``) for when no server answers.
The controller shows its progress here (``ui.QtUI`` routes it) instead of a window over the canvas.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List, Optional

from krita import DockWidget, Krita

from . import config, local_server, messages, option_widgets
from . import settings as settings_module
from .messages import UserError
from .ui import METHODS, SERVER_CHOICE
from .qt import QtCore, QtGui, QtWidgets, Qt

log = logging.getLogger("layerdecomp_krita")

DOCKER_ID = "layerdecomp_docker"
TITLE = "Layer Decomposition"

GROWTH_HELP = ("The object layer reaches a few pixels beyond your selection, so that soft edges (hair, fur, "
               "blur) come along; the clean plate is painted in from the picture around the selection "
               "(“Surroundings used” in Settings).")

DECOMPOSE_TIP = ("Split the selected object out of the active paint layer (also in the Select menu; "
                 "Ctrl+Alt+Shift+D).")
NOTHING_SELECTED_TIP = "Select the object first (for example with the Freehand Selection tool)."

# Every docker this plugin made (one a main window); the controller's progress goes to a visible one.
DOCKERS: List["LayerDecompDocker"] = []


def something_selected(krita: Any) -> bool:
    """Whether the active document has a selection (what Decompose Selection needs; cheap: Krita keeps the
    selection's bounds). A surprise says yes: the action then explains itself."""
    try:
        document = krita.activeDocument()
        selection = document.selection() if document is not None else None
        return selection is not None and selection.width() > 0 and selection.height() > 0
    except Exception:
        return True


class EscapeCancels(QtCore.QObject):
    """While a job runs, Esc in Krita's window (or the docker) cancels it, as it did in the old progress
    window. Installed on the application only for the job's length; a dialog in front keeps its own Esc."""

    def __init__(self, panel: "LayerDecompDocker") -> None:
        super().__init__(panel)
        self.panel = panel

    def eventFilter(self, watched: Any, event: Any) -> bool:
        kind = event.type()
        if kind not in (QtCore.QEvent.Type.KeyPress, QtCore.QEvent.Type.ShortcutOverride):
            return False
        if event.key() != Qt.Key.Key_Escape or event.modifiers() != Qt.KeyboardModifier.NoModifier:
            return False
        if not isinstance(watched, QtWidgets.QWidget) or QtWidgets.QApplication.activeModalWidget() is not None:
            return False
        if watched.window() not in (self.panel.window(), self.panel):
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()  # ours: no Esc shortcut of Krita's fires, and the key press comes here next
            return True
        self.panel._cancel()
        return True


def active_docker() -> Optional["LayerDecompDocker"]:
    """The docker of the window in front (shown if the artist had closed it); None without one."""
    alive = []
    for docker in DOCKERS:
        try:
            docker.isVisible()
            alive.append(docker)
        except RuntimeError:  # deleted with its window
            continue
    DOCKERS[:] = alive
    window = Krita.instance().activeWindow()
    main = window.qwindow() if window is not None else None
    for docker in alive:
        if main is None or docker.window() is main:
            return docker
    return alive[0] if alive else None


class LayerDecompDocker(DockWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        self._on_cancel: Optional[Callable[[], None]] = None
        self._asking: Optional[threading.Thread] = None
        self._answer: list = []
        body = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(body)

        self.decompose_button = QtWidgets.QPushButton("Decompose Selection")
        self.decompose_button.setObjectName("layerdecomp-decompose")
        self.decompose_button.setToolTip(DECOMPOSE_TIP)
        self.decompose_button.clicked.connect(self._decompose)
        layout.addWidget(self.decompose_button)

        method_row = QtWidgets.QFormLayout()
        self.method = QtWidgets.QComboBox()
        self.method.setObjectName("layerdecomp-method")
        self.method.activated.connect(self._method_chosen)
        method_row.addRow("Method", self.method)
        layout.addLayout(method_row)
        self.method_help = _wrapped("")
        layout.addWidget(self.method_help)
        # The method's own settings: a form drawn from the options the server's method takes.
        self.options_area = QtWidgets.QVBoxLayout()
        self.option_form: Optional[option_widgets.OptionForm] = None
        layout.addLayout(self.options_area)
        layout.addWidget(self._parts_checkbox())

        # The job's progress: shown while a job runs, in place of a window over the canvas.
        self.progress_box = QtWidgets.QWidget()
        self.progress_box.setObjectName("layerdecomp-progress")
        progress = QtWidgets.QVBoxLayout(self.progress_box)
        progress.setContentsMargins(0, 0, 0, 0)
        self.progress_label = _wrapped("")
        self.progress_bar = QtWidgets.QProgressBar()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("layerdecomp-cancel")
        self.cancel_button.clicked.connect(self._cancel)
        progress.addWidget(self.progress_label)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.progress_bar, 1)
        row.addWidget(self.cancel_button)
        progress.addLayout(row)
        self.progress_box.setVisible(False)
        layout.addWidget(self.progress_box)

        server_box = QtWidgets.QGroupBox("Server")
        server = QtWidgets.QVBoxLayout(server_box)
        self.server_state = _wrapped("Asking the server…")
        self.server_state.setObjectName("layerdecomp-server-state")
        server.addWidget(self.server_state)
        buttons = QtWidgets.QHBoxLayout()
        self.check_button = QtWidgets.QPushButton("Check again")
        self.check_button.clicked.connect(self.refresh)
        self.settings_button = QtWidgets.QPushButton("Settings…")
        self.settings_button.clicked.connect(self._settings)
        self.logs_button = QtWidgets.QPushButton("Show log files")
        self.logs_button.setObjectName("layerdecomp-show-logs")
        self.logs_button.setToolTip(str(config.log_dir()))
        self.logs_button.clicked.connect(show_log_files)
        for button in (self.check_button, self.settings_button, self.logs_button):
            buttons.addWidget(button)
        server.addLayout(buttons)
        layout.addWidget(server_box)

        growth = _wrapped(GROWTH_HELP)
        growth.setObjectName("layerdecomp-growth-help")
        layout.addWidget(growth)
        layout.addStretch(1)
        self.setWidget(body)
        stored = settings_module.load(Krita.instance().readSetting)
        self._fill_methods(stored.announced, stored.backend)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._poll_answer)
        self._escape: Optional[EscapeCancels] = None
        # Greyed with nothing selected (Krita's script actions ignore activation flags): a cheap look at the
        # active document a few times a second.
        self._ready_timer = QtCore.QTimer(self)
        self._ready_timer.timeout.connect(self._update_decompose_button)
        self._ready_timer.start(300)
        DOCKERS.append(self)
        QtCore.QTimer.singleShot(0, lambda: self.refresh())

    def canvasChanged(self, canvas: Any) -> None:  # Krita's DockWidget hook: nothing depends on the canvas
        pass

    # -- actions ------------------------------------------------------------------------------------

    def _decompose(self) -> None:
        self._save_options()  # (a spin box still being edited has not said so yet)
        action = Krita.instance().action("layerdecomp_decompose_selection")
        if action is not None:
            action.trigger()

    def _cancel(self) -> None:
        if self._on_cancel is not None:
            self._on_cancel()

    def _update_decompose_button(self) -> None:
        if self._on_cancel is not None:
            return  # a job runs: the button stays off until it ends
        ready = something_selected(Krita.instance())
        tip = DECOMPOSE_TIP if ready else NOTHING_SELECTED_TIP
        if ready != self.decompose_button.isEnabled():
            self.decompose_button.setEnabled(ready)
        if self.decompose_button.toolTip() != tip:
            self.decompose_button.setToolTip(tip)

    def _settings(self) -> None:
        action = Krita.instance().action("layerdecomp_settings")
        if action is not None:
            action.trigger()
        self.split_parts.setChecked(settings_module.load(Krita.instance().readSetting).split_parts)
        self.refresh()

    def _method_chosen(self, index: int) -> None:
        name = self.method.itemData(index)
        if name is None:
            return
        current = settings_module.load(Krita.instance().readSetting)
        current.backend = name
        settings_module.save(current, Krita.instance().writeSetting)
        self._show_method(current.announced)

    # -- the server's state -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Ask the server (in a worker thread) what it is and which methods it runs."""
        if self._asking is not None:
            return
        from . import client

        current = settings_module.load(Krita.instance().readSetting)
        self._answer = []
        answer = self._answer

        def ask() -> None:
            try:
                answer.append(("running", client.check_connection(current)))
            except UserError as error:
                answer.append(("not_found", error.message))
            except Exception as exc:  # a bug: the docker still says something
                log.exception("asking the server for the docker failed")
                answer.append(("not_found", f"The server could not be asked ({exc.__class__.__name__})."))

        self._asking = threading.Thread(target=ask, name="layerdecomp-docker-ask", daemon=True)
        self._asking.start()
        self.show_server_state("starting" if local_server.LOCAL.running() else "asking", "")
        self._timer.start(100)

    def _poll_answer(self) -> None:
        if not self._answer:
            return
        self._timer.stop()
        self._asking = None
        state, payload = self._answer[0]
        current = settings_module.load(Krita.instance().readSetting)
        if state == "running":
            current.announced = settings_module.announced_by(payload)
            settings_module.save(current, Krita.instance().writeSetting)
            self.show_server_state("running", f"Running: {payload.server}, on {_device(payload.device)}.")
        else:
            self.show_server_state("not_found", payload)
        self._fill_methods(current.announced, current.backend)

    def show_server_state(self, state: str, text: str) -> None:
        """``state``: running, starting, asking or not_found (``text`` says what to do)."""
        shown = {"starting": "Starting the server…", "asking": "Asking the server…"}.get(state, text)
        if state == "not_found":
            shown = f"Not found. {text}"
        self.server_state.setText(shown)
        self.server_state.setProperty("state", state)

    def _fill_methods(self, announced: dict, chosen: str) -> None:
        """The methods the server announced, with their descriptions: those it cannot run greyed, with the
        reason; the usual names until a server has announced its own."""
        self.method.blockSignals(True)
        self.method.clear()
        for label, name in SERVER_CHOICE:
            self.method.addItem(label, name)
        methods = announced.get("methods") or [{"name": n, "label": label} for label, n in METHODS[len(SERVER_CHOICE):]]
        model = self.method.model()
        for method in methods:
            self.method.addItem(method.get("label") or method.get("name"), method.get("name"))
            item = model.item(self.method.count() - 1)
            item.setToolTip(method.get("description") or "")
            item.setData(method.get("description") or "", Qt.ItemDataRole.UserRole + 1)
            if method.get("available") is False:
                item.setEnabled(False)
                item.setToolTip(" ".join(t for t in (method.get("description"), method.get("reason")) if t))
        index = self.method.findData(chosen)
        self.method.setCurrentIndex(index if index >= 0 else 0)
        self.method.blockSignals(False)
        self._show_method(announced)

    def _show_method(self, announced: dict) -> None:
        """The chosen method's description, and its options where the server runs it."""
        item = self.method.model().item(self.method.currentIndex())
        running = announced.get("backend")
        chosen = self.method.currentData() or ""
        text = item.data(Qt.ItemDataRole.UserRole + 1) if item is not None else ""
        if chosen in ("", "auto"):
            text = f"Whatever the server runs{f' (now: {running})' if running else ''}."
        self.method_help.setText(text or "")
        if self.option_form is not None:
            self.options_area.removeWidget(self.option_form)
            self.option_form.deleteLater()
            self.option_form = None
        schema = announced.get("schema") or []
        if schema and chosen in ("", "auto", running):
            current = settings_module.load(Krita.instance().readSetting)
            self.option_form = option_widgets.OptionForm(schema, current.options)
            for box in self.option_form.findChildren(QtWidgets.QAbstractSpinBox):
                box.editingFinished.connect(self._save_options)
            for box in self.option_form.findChildren(QtWidgets.QCheckBox):
                box.toggled.connect(self._save_options)
            for box in self.option_form.findChildren(QtWidgets.QComboBox):
                box.currentIndexChanged.connect(self._save_options)
            self.options_area.addWidget(self.option_form)

    def _parts_checkbox(self) -> QtWidgets.QCheckBox:
        """The setting "One layer per separate part", kept in the settings as soon as it is toggled."""
        box = QtWidgets.QCheckBox(messages.PARTS_LABEL)
        box.setObjectName("layerdecomp-split-parts")
        box.setToolTip(messages.PARTS_HELP)
        box.setChecked(settings_module.load(Krita.instance().readSetting).split_parts)

        def toggled(on: bool) -> None:
            current = settings_module.load(Krita.instance().readSetting)
            current.split_parts = bool(on)
            settings_module.save(current, Krita.instance().writeSetting)

        box.toggled.connect(toggled)
        self.split_parts = box
        return box

    def _save_options(self) -> None:
        """The form's values into the settings (the options it does not show are kept)."""
        form = self.option_form
        if form is None:
            return
        current = settings_module.load(Krita.instance().readSetting)
        kept = {k: v for k, v in current.options.items() if k not in form.names()}
        current.options = dict(kept, **form.values())
        settings_module.save(current, Krita.instance().writeSetting)

    # -- progress (called by ui.QtUI) ---------------------------------------------------------------

    def show_progress(self, text: str, on_cancel: Callable[[], None]) -> None:
        self._on_cancel = on_cancel
        self.progress_label.setText(text)
        self.progress_bar.setRange(0, 0)
        self.progress_box.setVisible(True)
        self.decompose_button.setEnabled(False)
        if self._escape is None:
            self._escape = EscapeCancels(self)
            QtWidgets.QApplication.instance().installEventFilter(self._escape)
        if not self.isVisible():
            self.show()
        self.raise_()

    def update_progress(self, text: str, fraction: Optional[float]) -> None:
        self.progress_label.setText(text)
        if text == messages.STARTING_SERVER:
            self.show_server_state("starting", "")
        elif text == messages.WORKING or fraction is not None:
            if self.server_state.property("state") != "running":
                self.show_server_state("running", "Running.")
        if fraction is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(int(round(100 * min(1.0, max(0.0, fraction)))))

    def close_progress(self) -> None:
        self._on_cancel = None
        if self._escape is not None:
            QtWidgets.QApplication.instance().removeEventFilter(self._escape)
            self._escape.deleteLater()
            self._escape = None
        self.progress_box.setVisible(False)
        self._update_decompose_button()
        QtCore.QTimer.singleShot(0, lambda: self.refresh())  # the server's state after the job


def _wrapped(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setWordWrap(True)
    return label


def _device(device: str) -> str:
    kind = device.split(":")[0].lower()
    return {"cpu": "the processor", "cuda": "the graphics card", "mps": "the graphics chip"}.get(kind, device)


def show_log_files() -> None:
    """Open the log folder in the system's file manager."""
    folder = config.log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(folder)))


def register(krita: Any) -> None:
    from krita import DockWidgetFactory, DockWidgetFactoryBase

    # Krita 5's bindings name the position DockRight, Krita 6's (scoped enums) DockPosition.DockRight.
    right = getattr(DockWidgetFactoryBase, "DockRight", None) or DockWidgetFactoryBase.DockPosition.DockRight
    krita.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, right, LayerDecompDocker))
