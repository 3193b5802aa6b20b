"""The window-facing side: progress with Cancel, messages, timers, the settings dialog.

Nothing here blocks: the progress dialog and error boxes are non-modal, and in batch mode (no one to
click anything) no window opens at all; the controller logs every message either way.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from . import option_widgets
from . import settings as settings_module
from .messages import PARTS_HELP, PARTS_LABEL, TITLE, UserError
from .qt import QtCore, QtGui, QtWidgets, Qt

log = logging.getLogger("layerdecomp_krita")

PROGRESS_OBJECT_NAME = "layerdecomp-progress"
MESSAGE_OBJECT_NAME = "layerdecomp-message"


def _main_window(krita: Any) -> Optional[Any]:
    window = krita.activeWindow()
    return window.qwindow() if window is not None else None


class QtUI:
    def __init__(self, krita: Any, find_panel: Optional[Callable[[], Optional[Any]]] = None) -> None:
        """``find_panel``: the docker to show the progress in (``docker.active_docker``), None for none."""
        self.krita = krita
        self.find_panel = find_panel
        self.progress: Optional[QtWidgets.QProgressDialog] = None
        self._boxes: list = []

    def _batch(self) -> bool:
        return bool(self.krita.batchmode())

    # -- progress -----------------------------------------------------------------------------------

    def _docker(self) -> Optional[Any]:
        return self.find_panel() if self.find_panel is not None else None

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


# (shown, stored): the choices offered whatever the server says, and the methods named until a server has
# listed its own (welcome.methods); a backend the settings name beyond these is listed by its name.
SERVER_CHOICE = (("The server's choice", ""), ("Automatic", "auto"))
METHODS = SERVER_CHOICE + (
    ("Fast (classical)", "classical"),
    ("Learned models", "learned"),
    ("Diffusion model (needs a GPU)", "diffusion"),
)
NO_SCHEMA_YET = "Test the connection to see this method's options."
NOT_RUNNING = "This method's options show once the server runs it."


class SettingsDialog(QtWidgets.QDialog):
    """The plugin's settings in an artist's words: how to reach the server (with a Test connection
    button), the method and only the options it takes (drawn from what the server announced:
    ``option_widgets``), the context around the selection; the server's technical details under Advanced.

    ``check_connection(settings)``: returns ``(sentence saying what answered, what the server announced:
    settings.announced_by(welcome))``, or raises ``UserError``; it runs in a worker thread (see
    ``extension.describe_server``)."""

    def __init__(self, current: settings_module.Settings, parent: Optional[QtWidgets.QWidget] = None,
                 check_connection: Optional[Callable[[settings_module.Settings], tuple]] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{TITLE} Settings")
        self.setObjectName("layerdecomp-settings")
        self._check_connection = check_connection
        self._checking: Optional[Any] = None  # (thread, outcome list) of a connection test under way
        self._announced = dict(current.announced)
        self._options = dict(current.options)  # what the artist set, also for options not shown now
        self.option_form: Optional[option_widgets.OptionForm] = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self._server_box(current))
        layout.addWidget(self._method_box(current))
        layout.addWidget(self._advanced_box(current))
        layout.addWidget(self._buttons())
        self._show_method_options()

    # -- the parts of the dialog, top to bottom -----------------------------------------------------

    def _server_box(self, current: settings_module.Settings) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Decomposition server")
        form = QtWidgets.QFormLayout(box)
        self.auto_start = QtWidgets.QCheckBox("Start the server on this computer when it is not running")
        self.auto_start.setChecked(current.auto_start)
        self.auto_start.setToolTip("The server does the work. With this on, Decompose Selection starts the one "
                                   "installed on this computer when needed, and stops it when Krita quits.")
        form.addRow(self.auto_start)
        self.server_url = QtWidgets.QLineEdit(current.server_url)
        self.server_url.setToolTip("Where the server listens. Keep the default for the server installed on this "
                                   "computer; change it only to use a server on another computer.")
        form.addRow("Server address", self.server_url)
        test_row = QtWidgets.QHBoxLayout()
        self.test_button = QtWidgets.QPushButton("Test connection")
        self.test_button.setObjectName("layerdecomp-test-connection")
        self.test_button.setToolTip("Ask the server at this address what it is, what it runs on and which "
                                    "options its method takes.")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QtWidgets.QLabel("")
        self.test_result.setObjectName("layerdecomp-test-result")
        self.test_result.setWordWrap(True)
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        form.addRow(test_row)
        # The answer gets a row of its own, the dialog's full width, wrapped: beside the button it was cut off.
        self.test_result.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                       QtWidgets.QSizePolicy.Policy.MinimumExpanding)
        form.addRow(self.test_result)
        return box

    def _method_box(self, current: settings_module.Settings) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Method")
        form = QtWidgets.QFormLayout(box)
        self.backend = QtWidgets.QComboBox()
        self.backend.setToolTip("How the object and the background behind it are worked out. Fast works "
                                "everywhere; the diffusion model needs a graphics card and more time. "
                                "“The server's choice” uses what the server was started with.")
        self._fill_methods(current.backend)
        self.backend.currentIndexChanged.connect(self._show_method_options)
        form.addRow("Method", self.backend)
        # The method's options: a form drawn from the server's schema, or a note saying how to get one.
        self.options_area = QtWidgets.QVBoxLayout()
        self.options_note = QtWidgets.QLabel("")
        self.options_note.setObjectName("layerdecomp-options-note")
        self.options_note.setWordWrap(True)
        self.options_area.addWidget(self.options_note)
        form.addRow(self.options_area)
        self._draw_options()

        self.margin = QtWidgets.QSpinBox()
        self.margin.setRange(-1, 4096)
        self.margin.setSpecialValueText("automatic")
        self.margin.setSuffix(" px")
        self.margin.setValue(current.margin)
        self.margin.setToolTip("How much of the picture around the selection is used to paint in the "
                               "background. Automatic: a quarter of the selection's size.")
        form.addRow("Surroundings used", self.margin)
        self.split_parts = QtWidgets.QCheckBox(PARTS_LABEL)
        self.split_parts.setObjectName("layerdecomp-split-parts")
        self.split_parts.setChecked(current.split_parts)
        self.split_parts.setToolTip(PARTS_HELP)
        form.addRow(self.split_parts)
        return box

    def _advanced_box(self, current: settings_module.Settings) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Advanced")
        form = QtWidgets.QFormLayout(box)
        token_row = QtWidgets.QHBoxLayout()
        self.token_file = QtWidgets.QLineEdit(current.token_file)
        self.token_file.setPlaceholderText(str(settings_module.token_path()))
        self.token_file.setToolTip("The file holding the server's access key. Leave empty for the server "
                                   "installed on this computer.")
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse_token)
        token_row.addWidget(self.token_file)
        token_row.addWidget(browse)
        form.addRow("Access key file", token_row)
        self.server_command = QtWidgets.QLineEdit(current.server_command)
        self.server_command.setToolTip("How the server is started on this computer (set by the installer).")
        form.addRow("Server start command", self.server_command)
        return box

    def _buttons(self) -> QtWidgets.QDialogButtonBox:
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        return buttons

    # -- the method and its options ------------------------------------------------------------------

    def _fill_methods(self, chosen: str) -> None:
        """The method menu: the server's own list once it has sent one (with why a method is not running),
        else the usual methods; the stored choice stays chosen."""
        self.backend.blockSignals(True)
        self.backend.clear()
        for label, name in SERVER_CHOICE:
            self.backend.addItem(label, name)
        methods = self._announced.get("methods") or [{"name": n, "label": label} for label, n in METHODS[2:]]
        for method in methods:
            label = method.get("label") or method.get("name")
            if method.get("available") is False:
                label += " (not running)"
            self.backend.addItem(label, method.get("name"))
            tip = " ".join(t for t in (method.get("description"), method.get("reason")) if t)
            self.backend.setItemData(self.backend.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        if self.backend.findData(chosen) < 0:
            self.backend.addItem(chosen, chosen)
        self.backend.setCurrentIndex(self.backend.findData(chosen))
        self.backend.blockSignals(False)

    def _draw_options(self) -> None:
        """(Re)make the option form from the announced schema, keeping what the artist set."""
        if self.option_form is not None:
            self._keep_option_values()
            self.options_area.removeWidget(self.option_form)
            self.option_form.deleteLater()
            self.option_form = None
        schema = self._announced.get("schema") or []
        if schema:
            self.option_form = option_widgets.OptionForm(schema, self._options)
            self.options_area.addWidget(self.option_form)

    def _keep_option_values(self) -> None:
        form = self.option_form
        if form is not None:
            self._options = {k: v for k, v in self._options.items() if k not in form.names()}
            self._options.update(form.values())

    def _show_method_options(self) -> None:
        """The form when the chosen method is the one whose options the server announced, else a note."""
        chosen = self.backend.currentData() or ""
        shown = self.option_form is not None and chosen in ("", "auto", self._announced.get("backend"))
        if self.option_form is not None:
            self.option_form.setVisible(shown)
        self.options_note.setText("" if shown else NOT_RUNNING if self._announced else NO_SCHEMA_YET)
        self.options_note.setVisible(not shown)

    def set_announced(self, announced: dict) -> None:
        """What a server just said about itself: its methods and the options of the one it runs."""
        if not announced or announced == self._announced:
            return
        chosen = self.backend.currentData() or ""
        self._announced = dict(announced)
        self._fill_methods(chosen)
        self._draw_options()
        self._show_method_options()

    def option_visible(self, name: str) -> bool:
        form = self.option_form
        return form is not None and name in form.names() and form.widget(name).isVisibleTo(self)

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
        kind, answer = outcome[0]
        if kind == "ok":
            text, announced = answer
            self.set_announced(announced)
        else:
            text = answer
        self.test_result.setText(("✔ " if kind == "ok" else "✘ ") + text)

    def connection_test_running(self) -> bool:
        return self._checking is not None

    def values(self) -> settings_module.Settings:
        self._keep_option_values()
        return settings_module.Settings(
            server_url=self.server_url.text().strip(),
            token_file=self.token_file.text().strip(),
            backend=self.backend.currentData() or "",
            options=dict(self._options),
            margin=self.margin.value(),
            split_parts=self.split_parts.isChecked(),
            auto_start=self.auto_start.isChecked(),
            server_command=self.server_command.text().strip(),
            announced=dict(self._announced),
        )
