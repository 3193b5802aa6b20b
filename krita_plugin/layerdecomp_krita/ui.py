"""The window-facing side: progress with Cancel, messages, timers, the settings dialog.

Nothing here blocks: the progress dialog and error boxes are non-modal, and in batch mode (no one to
click anything) no window opens at all; the controller logs every message either way.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import settings as settings_module
from .messages import TITLE
from .protocol import DEFAULT_PORT
from .qt import QtCore, QtGui, QtWidgets, Qt

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

    def show_progress(self, text: str, on_cancel: Callable[[], None]) -> None:
        self.close_progress()
        if self._batch():
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


class SettingsDialog(QtWidgets.QDialog):
    """Server address, token file, backend and its options, automatic start of the local server."""

    BACKENDS = ("", "auto", "classical", "learned", "diffusion")

    def __init__(self, current: settings_module.Settings, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{TITLE} Settings")
        self.setObjectName("layerdecomp-settings")
        form = QtWidgets.QFormLayout()

        self.server_url = QtWidgets.QLineEdit(current.server_url)
        self.server_url.setToolTip(f"The websocket address of `layerdecomp serve`, e.g. ws://127.0.0.1:{DEFAULT_PORT}")
        form.addRow("Server address", self.server_url)

        token_row = QtWidgets.QHBoxLayout()
        self.token_file = QtWidgets.QLineEdit(current.token_file)
        self.token_file.setPlaceholderText(str(settings_module.token_path()))
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse_token)
        token_row.addWidget(self.token_file)
        token_row.addWidget(browse)
        form.addRow("Token file", token_row)

        self.backend = QtWidgets.QComboBox()
        self.backend.setEditable(True)
        for name in self.BACKENDS:
            self.backend.addItem(name or "(server default)", name)
        index = self.backend.findData(current.backend)
        if index >= 0:
            self.backend.setCurrentIndex(index)
        else:
            self.backend.setEditText(current.backend)
        form.addRow("Backend", self.backend)

        self.steps = QtWidgets.QSpinBox()
        self.steps.setRange(0, 200)
        self.steps.setSpecialValueText("backend default")
        self.steps.setValue(max(0, current.steps))
        form.addRow("Steps", self.steps)

        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(current.seed)
        form.addRow("Seed", self.seed)

        self.margin = QtWidgets.QSpinBox()
        self.margin.setRange(-1, 4096)
        self.margin.setSpecialValueText("automatic")
        self.margin.setSuffix(" px")
        self.margin.setValue(current.margin)
        form.addRow("Context around the selection", self.margin)

        self.auto_start = QtWidgets.QCheckBox("Start the local server automatically when it is not running")
        self.auto_start.setChecked(current.auto_start)
        form.addRow(self.auto_start)

        self.server_command = QtWidgets.QLineEdit(current.server_command)
        self.server_command.setToolTip("The command that starts the server; --host, --port and --backend are added.")
        form.addRow("Server command", self.server_command)

        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse_token(self) -> None:
        path, _filter = QtWidgets.QFileDialog.getOpenFileName(self, "Token file", self.token_file.text())
        if path:
            self.token_file.setText(path)

    def values(self) -> settings_module.Settings:
        data = self.backend.currentData()
        text = self.backend.currentText().strip()
        backend = data if data is not None and self.backend.itemText(self.backend.currentIndex()) == text else text
        return settings_module.Settings(
            server_url=self.server_url.text().strip(),
            token_file=self.token_file.text().strip(),
            backend=backend or "",
            steps=self.steps.value(),
            seed=self.seed.value(),
            margin=self.margin.value(),
            auto_start=self.auto_start.isChecked(),
            server_command=self.server_command.text().strip(),
        )
