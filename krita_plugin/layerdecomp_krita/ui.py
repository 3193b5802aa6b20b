"""The window-facing side: progress with Cancel, messages, timers, the settings dialog.

Nothing here blocks: the progress dialog and error boxes are non-modal, and in batch mode (no one to
click anything) no window opens at all; the controller logs every message either way.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from . import settings as settings_module
from .messages import TITLE, UserError
from .qt import QtCore, QtGui, QtWidgets, Qt

log = logging.getLogger("layerdecomp_krita")

PROGRESS_OBJECT_NAME = "layerdecomp-progress"
MESSAGE_OBJECT_NAME = "layerdecomp-message"


def _main_window(krita: Any) -> Optional[Any]:
    window = krita.activeWindow()
    return window.qwindow() if window is not None else None


class QtUI:
    def __init__(self, krita: Any) -> None:
        self.krita = krita
        self.progress: Optional[QtWidgets.QProgressDialog] = None
        self._boxes: list = []

    def _batch(self) -> bool:
        return bool(self.krita.batchmode())

    # -- progress -----------------------------------------------------------------------------------

    def _docker(self) -> Optional[Any]:
        try:
            from . import docker
        except ImportError:  # a Krita without dockers for scripts: the progress window instead
            return None
        return docker.active_docker()

    def show_progress(self, text: str, on_cancel: Callable[[], None]) -> None:
        self.close_progress()
        if self._batch():
            return
        # In the Layer Decomposition docker where there is one (it is shown if the artist closed it).
        panel = self._docker()
        if panel is not None:
            panel.show_progress(text, on_cancel)
            self.progress = panel
            return
        dialog = QtWidgets.QProgressDialog(text, "Cancel", 0, 0, _main_window(self.krita))
        dialog.setObjectName(PROGRESS_OBJECT_NAME)
        dialog.setWindowTitle(TITLE)
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(0)
        # The Cancel button emits canceled; Esc and the window's close button reject the dialog: all cancel.
        dialog.canceled.connect(on_cancel)
        dialog.rejected.connect(on_cancel)
        dialog.show()
        self.progress = dialog

    def update_progress(self, text: str, fraction: Optional[float]) -> None:
        dialog = self.progress
        if dialog is None:
            return
        if not isinstance(dialog, QtWidgets.QProgressDialog):
            dialog.update_progress(text, fraction)
            return
        dialog.setLabelText(text)
        if fraction is None:
            dialog.setRange(0, 0)  # busy indicator until the server reports a fraction
        else:
            dialog.setRange(0, 100)
            dialog.setValue(int(round(100 * min(1.0, max(0.0, fraction)))))

    def close_progress(self) -> None:
        dialog, self.progress = self.progress, None
        if dialog is None:
            return
        if not isinstance(dialog, QtWidgets.QProgressDialog):
            dialog.close_progress()
            return
        # Closing a QProgressDialog emits canceled() and rejected(); the job is over, so nobody must hear it.
        dialog.canceled.disconnect()
        dialog.rejected.disconnect()
        dialog.close()
        dialog.deleteLater()

    # -- messages -----------------------------------------------------------------------------------

    def notify(self, level: str, text: str) -> None:
        if self._batch():
            return
        if level == "info":
            view = self.krita.activeWindow().activeView() if self.krita.activeWindow() else None
            if view is not None:
                view.showFloatingMessage(text, QtGui.QIcon(), 6000, 1)
                return
        icon = QtWidgets.QMessageBox.Icon.Warning if level != "info" else QtWidgets.QMessageBox.Icon.Information
        box = QtWidgets.QMessageBox(icon, TITLE, text, QtWidgets.QMessageBox.StandardButton.Ok,
                                    _main_window(self.krita))
        box.setObjectName(MESSAGE_OBJECT_NAME)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result, box=box: self._boxes.remove(box) if box in self._boxes else None)
        self._boxes.append(box)
        box.show()

    # -- timers -------------------------------------------------------------------------------------

    def start_timer(self, callback: Callable[[], None], interval_ms: int) -> Callable[[], None]:
        timer = QtCore.QTimer()
        timer.setInterval(interval_ms)
        timer.timeout.connect(callback)
        timer.start()
        return timer.stop


# (shown, stored) for the method choice; a backend the server offers beyond these is listed by its name.
METHODS = (
    ("The server's choice", ""),
    ("Automatic", "auto"),
    ("Fast (classical)", "classical"),
    ("Learned models", "learned"),
    ("Diffusion model (needs a GPU)", "diffusion"),
)
# Which options each method takes (the others are hidden).
METHOD_OPTIONS = {"diffusion": ("steps", "seed")}


class SettingsDialog(QtWidgets.QDialog):
    """The plugin's settings in an artist's words: how to reach the server (with a Test connection
    button), the method and only the options it takes, the context around the selection; the server's
    technical details under Advanced.

    ``check_connection(settings)``: returns a sentence saying what answered, or raises ``UserError``; it
    runs in a worker thread (see ``extension.check_connection``)."""

    def __init__(self, current: settings_module.Settings, parent: Optional[QtWidgets.QWidget] = None,
                 check_connection: Optional[Callable[[settings_module.Settings], str]] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{TITLE} Settings")
        self.setObjectName("layerdecomp-settings")
        self._check_connection = check_connection
        self._checking: Optional[Any] = None  # (thread, outcome list) of a connection test under way
        layout = QtWidgets.QVBoxLayout(self)

        # -- the server ---------------------------------------------------------------------------
        server_box = QtWidgets.QGroupBox("Decomposition server")
        server = QtWidgets.QFormLayout(server_box)
        self.auto_start = QtWidgets.QCheckBox("Start the server on this computer when it is not running")
        self.auto_start.setChecked(current.auto_start)
        self.auto_start.setToolTip("The server does the work. With this on, Decompose Selection starts the one "
                                   "installed on this computer when needed, and stops it when Krita quits.")
        server.addRow(self.auto_start)
        self.server_url = QtWidgets.QLineEdit(current.server_url)
        self.server_url.setToolTip("Where the server listens. Keep the default for the server installed on this "
                                   "computer; change it only to use a server on another computer.")
        server.addRow("Server address", self.server_url)
        test_row = QtWidgets.QHBoxLayout()
        self.test_button = QtWidgets.QPushButton("Test connection")
        self.test_button.setObjectName("layerdecomp-test-connection")
        self.test_button.setToolTip("Ask the server at this address what it is and what it runs on.")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QtWidgets.QLabel("")
        self.test_result.setObjectName("layerdecomp-test-result")
        self.test_result.setWordWrap(True)
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        server.addRow(test_row)
        # The answer gets a row of its own, the dialog's full width, wrapped: beside the button it was cut off.
        self.test_result.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                       QtWidgets.QSizePolicy.Policy.MinimumExpanding)
        server.addRow(self.test_result)
        layout.addWidget(server_box)

        # -- the method and its options -----------------------------------------------------------
        method_box = QtWidgets.QGroupBox("Method")
        method = QtWidgets.QFormLayout(method_box)
        self.backend = QtWidgets.QComboBox()
        for label, name in METHODS:
            self.backend.addItem(label, name)
        if self.backend.findData(current.backend) < 0:
            self.backend.addItem(current.backend, current.backend)
        self.backend.setCurrentIndex(self.backend.findData(current.backend))
        self.backend.setToolTip("How the object and the background behind it are worked out. Fast works "
                                "everywhere; the diffusion model needs a graphics card and more time. "
                                "“The server's choice” uses what the server was started with.")
        self.backend.currentIndexChanged.connect(self._show_method_options)
        method.addRow("Method", self.backend)

        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(0, 200)
        self.steps.setSpecialValueText("the model's default")
        self.steps.setValue(max(0, current.steps))
        self.steps.setToolTip("More steps: a more careful background, slower. Leave at the default unless the "
                              "painted-in background looks rough.")
        self.steps_label = QtWidgets.QLabel("Quality steps")
        method.addRow(self.steps_label, self.steps)

        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("different each time")
        self.seed.setValue(current.seed)
        self.seed.setToolTip("The same number gives the same result for the same picture; choose another "
                             "number for another try.")
        self.seed_label = QtWidgets.QLabel("Variation")
        method.addRow(self.seed_label, self.seed)

        self.margin = QtWidgets.QSpinBox()
        self.margin.setRange(-1, 4096)
        self.margin.setSpecialValueText("automatic")
        self.margin.setSuffix(" px")
        self.margin.setValue(current.margin)
        self.margin.setToolTip("How much of the picture around the selection is used to paint in the "
                               "background. Automatic: a quarter of the selection's size.")
        method.addRow("Surroundings used", self.margin)
        layout.addWidget(method_box)

        # -- advanced -----------------------------------------------------------------------------
        advanced_box = QtWidgets.QGroupBox("Advanced")
        advanced = QtWidgets.QFormLayout(advanced_box)
        token_row = QtWidgets.QHBoxLayout()
        self.token_file = QtWidgets.QLineEdit(current.token_file)
        self.token_file.setPlaceholderText(str(settings_module.token_path()))
        self.token_file.setToolTip("The file holding the server's access key. Leave empty for the server "
                                   "installed on this computer.")
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse_token)
        token_row.addWidget(self.token_file)
        token_row.addWidget(browse)
        advanced.addRow("Access key file", token_row)
        self.server_command = QtWidgets.QLineEdit(current.server_command)
        self.server_command.setToolTip("How the server is started on this computer (set by the installer).")
        advanced.addRow("Server start command", self.server_command)
        layout.addWidget(advanced_box)

        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._show_method_options()

    def _show_method_options(self) -> None:
        takes = METHOD_OPTIONS.get(self.backend.currentData() or "", ())
        for name, label, field in (("steps", self.steps_label, self.steps), ("seed", self.seed_label, self.seed)):
            label.setVisible(name in takes)
            field.setVisible(name in takes)

    def option_visible(self, name: str) -> bool:
        return {"steps": self.steps, "seed": self.seed}[name].isVisibleTo(self)

    def _browse_token(self) -> None:
        path, _filter = QtWidgets.QFileDialog.getOpenFileName(self, "Access key file", self.token_file.text())
        if path:
            self.token_file.setText(path)

    # -- Test connection: in a worker thread, polled by a timer, so the dialog stays responsive -------

    def test_connection(self) -> None:
        if self._check_connection is None or self._checking is not None:
            return
        import threading

        outcome: list = []
        values = self.values()

        def work() -> None:
            try:
                outcome.append(("ok", self._check_connection(values)))
            except UserError as error:
                outcome.append(("error", error.message))
            except Exception as exc:  # a bug: say something, keep the details for the log
                log.exception("the connection test failed")
                outcome.append(("error", f"The test failed unexpectedly ({exc.__class__.__name__}); see the log."))

        thread = threading.Thread(target=work, name="layerdecomp-test-connection", daemon=True)
        self._checking = (thread, outcome)
        self.test_button.setEnabled(False)
        self.test_result.setText("Asking the server…")
        thread.start()
        self._poll_timer = QtCore.QTimer(self)
        self._poll_timer.timeout.connect(self._poll_connection_test)
        self._poll_timer.start(50)

    def _poll_connection_test(self) -> None:
        thread, outcome = self._checking
        if not outcome:
            return
        self._poll_timer.stop()
        self._checking = None
        self.test_button.setEnabled(True)
        kind, text = outcome[0]
        self.test_result.setText(("✔ " if kind == "ok" else "✘ ") + text)

    def connection_test_running(self) -> bool:
        return self._checking is not None

    def values(self) -> settings_module.Settings:
        return settings_module.Settings(
            server_url=self.server_url.text().strip(),
            token_file=self.token_file.text().strip(),
            backend=self.backend.currentData() or "",
            steps=self.steps.value(),
            seed=self.seed.value(),
            margin=self.margin.value(),
            auto_start=self.auto_start.isChecked(),
            server_command=self.server_command.text().strip(),
        )
