"""The "Layer Decomposition" docker: the Decompose button, the method, the progress with Cancel, the
server's state, the settings and the log files, in one panel beside the canvas.

What the docker offers comes from the server: the methods it can run (its ``welcome``'s ``backends``);
the ones it cannot are listed greyed, with the reason. The server is asked in a worker thread (the
settings' Test connection path, which never starts a server), so the docker never waits on the network.
The controller shows its progress here (``ui.QtUI`` routes it) instead of a window over the canvas.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List, Optional

from krita import DockWidget, Krita

from . import config, local_server, messages
from . import settings as settings_module
from .messages import UserError
from .qt import QtCore, QtGui, QtWidgets

log = logging.getLogger("layerdecomp_krita")

DOCKER_ID = "layerdecomp_docker"
TITLE = "Layer Decomposition"

# (stored name, label, a plain one-line description) of the methods this plugin knows how to describe.
# Which of them can run comes from the server; a method the server offers beyond these is listed by name.
METHODS = (
    ("", "The server's choice", "Whatever the server was started with."),
    ("classical", "Fast (classical)", "Works on any computer, in seconds; good for clear edges."),
    ("learned", "Learned models", "Neural networks trained for edges and backgrounds; needs their download."),
    ("diffusion", "Diffusion model", "Paints the hidden background most convincingly; needs a graphics card."),
)
GROWTH_HELP = ("The object layer reaches a few pixels beyond your selection, so that soft edges (hair, fur, "
               "blur) come along; the clean plate is painted in from the picture around the selection "
               "(“Surroundings used” in Settings).")

# Every docker this plugin made (one a main window); the controller's progress goes to a visible one.
DOCKERS: List["LayerDecompDocker"] = []


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


def describe(name: str) -> tuple:
    for stored, label, description in METHODS:
        if stored == name:
            return label, description
    return name, "Offered by the server."


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
        self.decompose_button.setToolTip("Split the selected object out of the active paint layer "
                                         "(also in the Select menu; Ctrl+Alt+Shift+D).")
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
        # The method's own settings: only those the server's method takes (its welcome's ``options``).
        self.options_box = QtWidgets.QWidget()
        self.options_box.setObjectName("layerdecomp-method-options")
        options = QtWidgets.QFormLayout(self.options_box)
        options.setContentsMargins(0, 0, 0, 0)
        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(0, 200)
        self.steps.setSpecialValueText("the model's default")
        self.steps.setToolTip("More steps: a more careful background, slower.")
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("different each time")
        self.seed.setToolTip("The same number gives the same result for the same picture.")
        self.option_fields = {"steps": ("Quality steps", self.steps), "seed": ("Variation", self.seed)}
        for label, field in self.option_fields.values():
            options.addRow(label, field)
            field.valueChanged.connect(self._option_changed)
        self.options_box.setVisible(False)
        layout.addWidget(self.options_box)

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
        self._fill_methods(None, "")
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._poll_answer)
        DOCKERS.append(self)
        QtCore.QTimer.singleShot(0, lambda: self.refresh())

    def canvasChanged(self, canvas: Any) -> None:  # Krita's DockWidget hook: nothing depends on the canvas
        pass

    # -- actions ------------------------------------------------------------------------------------

    def _decompose(self) -> None:
        action = Krita.instance().action("layerdecomp_decompose_selection")
        if action is not None:
            action.trigger()

    def _cancel(self) -> None:
        if self._on_cancel is not None:
            self._on_cancel()

    def _settings(self) -> None:
        action = Krita.instance().action("layerdecomp_settings")
        if action is not None:
            action.trigger()
        self.refresh()

    def _method_chosen(self, index: int) -> None:
        name = self.method.itemData(index)
        if name is None:
            return
        current = settings_module.load(Krita.instance().readSetting)
        current.backend = name
        settings_module.save(current, Krita.instance().writeSetting)
        self.method_help.setText(describe(name)[1])

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
            self._fill_methods(payload, current.backend)
            self.show_server_state("running", f"Running: {payload.server}, on {_device(payload.device)}.")
        else:
            self._fill_methods(None, current.backend)
            self.show_server_state("not_found", payload)

    def show_server_state(self, state: str, text: str) -> None:
        """``state``: running, starting, asking or not_found (``text`` says what to do)."""
        shown = {"starting": "Starting the server…", "asking": "Asking the server…"}.get(state, text)
        if state == "not_found":
            shown = f"Not found. {text}"
        self.server_state.setText(shown)
        self.server_state.setProperty("state", state)

    def _option_changed(self) -> None:
        current = settings_module.load(Krita.instance().readSetting)
        current.steps, current.seed = self.steps.value(), self.seed.value()
        settings_module.save(current, Krita.instance().writeSetting)

    def _show_options(self, takes: list) -> None:
        """The settings of the method the server runs, those it takes (and this docker knows) only."""
        current = settings_module.load(Krita.instance().readSetting)
        self.steps.blockSignals(True)
        self.seed.blockSignals(True)
        self.steps.setValue(max(0, current.steps))
        self.seed.setValue(current.seed)
        self.steps.blockSignals(False)
        self.seed.blockSignals(False)
        form = self.options_box.layout()
        for name, (_label, field) in self.option_fields.items():
            form.labelForField(field).setVisible(name in takes)
            field.setVisible(name in takes)
        self.options_box.setVisible(any(name in takes for name in self.option_fields))

    def _fill_methods(self, welcome: Any, chosen: str) -> None:
        """The methods: those the server runs enabled, the others greyed with the reason."""
        self._show_options(list(getattr(welcome, "options", None) or []))
        offered = None if welcome is None else set(welcome.backends or [welcome.backend])
        names = [name for name, _label, _text in METHODS]
        if offered:
            names += sorted(offered - set(names))
        self.method.clear()
        model = self.method.model()
        for name in names:
            label, description = describe(name)
            self.method.addItem(label, name)
            item = model.item(self.method.count() - 1)
            runnable = offered is None or name == "" or name in offered
            if not runnable:
                item.setEnabled(False)
                item.setToolTip("Not installed with this server: run the installer with this method to add it.")
            else:
                item.setToolTip(description)
        index = self.method.findData(chosen)
        self.method.setCurrentIndex(index if index >= 0 else 0)
        self.method_help.setText(describe(self.method.currentData() or "")[1])

    # -- progress (called by ui.QtUI) ---------------------------------------------------------------

    def show_progress(self, text: str, on_cancel: Callable[[], None]) -> None:
        self._on_cancel = on_cancel
        self.progress_label.setText(text)
        self.progress_bar.setRange(0, 0)
        self.progress_box.setVisible(True)
        self.decompose_button.setEnabled(False)
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
        self.progress_box.setVisible(False)
        self.decompose_button.setEnabled(True)
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
