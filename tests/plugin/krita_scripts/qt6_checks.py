"""Run by test_qt6.py in its own process (never beside PyQt5): the plugin's Qt-facing modules under
PyQt6, as Krita 6 would load them, against the fake krita module. Exits non-zero on any failure."""

import sys

fake_krita, plugin_dir = sys.argv[1], sys.argv[2]
sys.path[:0] = [fake_krita, plugin_dir]

from PyQt6 import QtCore, QtGui, QtWidgets  # noqa: E402  (what Krita 6 has loaded before any plugin)

app = QtWidgets.QApplication([])

import krita  # noqa: E402  (the fake)

import layerdecomp_krita  # noqa: E402, F401  (registers the extension, as at Krita's start-up)
from layerdecomp_krita import extension, qt, settings, ui  # noqa: E402
from layerdecomp_krita import messages as krita_messages  # noqa: E402

assert qt.BINDING == "PyQt6", qt.BINDING
assert "PyQt5" not in sys.modules, "the plugin imported PyQt5 next to PyQt6"
assert qt.QAction is QtGui.QAction

k = krita.Krita.instance()
k.setBatchmode(False)
assert k.extensions == [extension.EXTENSION]

# Progress dialog: Cancel reaches the controller's callback; closing it programmatically does not.
calls = []
face = ui.QtUI(k)
face.show_progress("Working…", lambda: calls.append("cancel"))
face.update_progress("Painting the background…", 0.5)
assert face.progress.value() == 50 and face.progress.isVisible()
face.update_progress("Connecting…", None)
assert face.progress.maximum() == 0
face.progress.findChild(QtWidgets.QPushButton).click()  # the Cancel button
assert calls == ["cancel"], calls
face.close_progress()
# Esc and the window's close button cancel too (Esc used to hide the dialog and let the job go on).
for how in ("escape", "close"):
    face.show_progress("Working…", lambda how=how: calls.append(how))
    app.processEvents()
    if how == "escape":
        QtWidgets.QApplication.sendEvent(face.progress, QtGui.QKeyEvent(
            QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Escape, QtCore.Qt.KeyboardModifier.NoModifier))
    else:
        face.progress.close()
    app.processEvents()
    face.close_progress()
assert calls == ["cancel", "escape", "close"], calls
face.show_progress("Again", lambda: calls.append("late"))
face.close_progress()
app.processEvents()
assert calls == ["cancel", "escape", "close"], calls

# Messages: non-modal boxes.
face.notify("error", "Could not reach the server.")
boxes = [w for w in app.topLevelWidgets() if w.objectName() == ui.MESSAGE_OBJECT_NAME and w.isVisible()]
assert len(boxes) == 1 and boxes[0].windowModality() == QtCore.Qt.WindowModality.NonModal
boxes[0].close()

# Timers pump.
ticks = []
stop = face.start_timer(lambda: ticks.append(1), 5)
deadline = QtCore.QDeadlineTimer(2000)
while len(ticks) < 3 and not deadline.hasExpired():
    app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
stop()
assert len(ticks) >= 3

# Settings dialog: values round trip.
custom = settings.Settings(server_url="ws://127.0.0.1:9000", token_file="/t", backend="classical", steps=12,
                           seed=3, margin=20, auto_start=False, server_command="x serve")
dialog = ui.SettingsDialog(custom)
assert dialog.values() == custom, dialog.values()
assert ui.SettingsDialog(settings.Settings()).values() == settings.Settings()
# Options only for the method that takes them; every input explains itself.
dialog.show()
assert not dialog.option_visible("steps") and not dialog.option_visible("seed")
dialog.backend.setCurrentIndex(dialog.backend.findData("diffusion"))
assert dialog.option_visible("steps") and dialog.option_visible("seed")
assert dialog.values().backend == "diffusion"
inputs = (QtWidgets.QLineEdit, QtWidgets.QSpinBox, QtWidgets.QComboBox, QtWidgets.QCheckBox)
untold = [w.objectName() or type(w).__name__ for w in dialog.findChildren(QtWidgets.QWidget)
          if isinstance(w, inputs) and w.parent() is not None and not isinstance(w.parent(), QtWidgets.QSpinBox)
          and not isinstance(w.parent(), QtWidgets.QComboBox) and not w.toolTip()]
assert untold == [], untold
# Test connection runs in a worker thread and says what it found, or why not.
answers = iter([lambda s: "Connected to layerdecomp 1.0: method “classical”, running on the processor (CPU).",
                lambda s: (_ for _ in ()).throw(krita_messages.UserError("unreachable", "No server answers."))])
tester = ui.SettingsDialog(custom, check_connection=lambda s: next(answers)(s))
for expected in ("✔ Connected to layerdecomp 1.0", "✘ No server answers."):
    tester.test_connection()
    deadline = QtCore.QDeadlineTimer(3000)
    while tester.connection_test_running() and not deadline.hasExpired():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
    assert tester.test_result.text().startswith(expected), tester.test_result.text()
    # All of the answer shows: the label is as tall as its wrapped text needs at its width.
    tester.show()
    for _ in range(5):
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
    label = tester.test_result
    assert label.height() >= label.heightForWidth(label.width()), (label.height(), label.heightForWidth(label.width()))
dialog.close()
tester.close()


# Actions: Tools › Scripts via createAction, plus Krita's Select menu.
class FakeWindow:
    def __init__(self):
        self.main = QtWidgets.QMainWindow()
        select = self.main.menuBar().addMenu("Select")
        select.menuAction().setObjectName("Select")  # as in Krita's menu definition
        self.select = select
        self.actions = {}

    def qwindow(self):
        return self.main

    def createAction(self, name, text, location):
        action = QtGui.QAction(text, self.main)
        action.setObjectName(name)
        self.actions[name] = (action, location)
        return action


window = FakeWindow()
extension.EXTENSION.createActions(window)
action, location = window.actions[extension.ACTION_ID]
assert location == "tools/scripts" and action.text() == "Decompose Selection"
deadline = QtCore.QDeadlineTimer(2000)
while action not in window.select.actions() and not deadline.hasExpired():
    app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
assert action in window.select.actions()

# The settings action opens the dialog; accepting it stores the values.
QtCore.QTimer.singleShot(50, lambda: QtWidgets.QApplication.activeModalWidget().accept())
extension.EXTENSION.edit_settings()
assert settings.load(k.readSetting) == settings.Settings()

# Triggering with nothing open says so (batch mode off: a message box), without touching anything.
action.trigger()
assert extension.EXTENSION.controller.messages[-1][1] == "no_document"
print("qt6 ok")

# The docker under PyQt6: registered with Krita; its progress and Cancel; the methods the server runs
# enabled, the others greyed with the reason.
from layerdecomp_krita import docker  # noqa: E402
from layerdecomp_krita.protocol import Welcome  # noqa: E402

assert [f.name for f in k.dock_factories] == [docker.DOCKER_ID]
panel = docker.LayerDecompDocker()
assert docker.active_docker() is panel
face = ui.QtUI(k)
calls.clear()
face.show_progress("Working…", lambda: calls.append("docker cancel"))
face.update_progress("Painting the background…", 0.25)
assert panel.progress_bar.value() == 25 and not panel.decompose_button.isEnabled()
panel.cancel_button.click()
assert calls == ["docker cancel"], calls
face.close_progress()
assert panel.decompose_button.isEnabled() and not panel.progress_box.isVisibleTo(panel)
panel._fill_methods(Welcome(server="layerdecomp", backend="classical", backends=["classical"]), "classical")
model = panel.method.model()
enabled = {panel.method.itemData(i): model.item(i).isEnabled() for i in range(panel.method.count())}
assert enabled == {"": True, "classical": True, "learned": False, "diffusion": False}, enabled
assert panel.method.currentData() == "classical"
assert not panel.options_box.isVisibleTo(panel)  # the classical method takes no steps nor seed
panel._fill_methods(Welcome(server="layerdecomp", backend="diffusion", backends=["diffusion"],
                            options=["steps", "seed"]), "diffusion")
assert panel.options_box.isVisibleTo(panel) and panel.steps.isVisibleTo(panel)
panel.steps.setValue(30)
assert settings.load(k.readSetting).steps == 30
panel.show_server_state("not_found", "No server answers at this address.")
assert panel.server_state.text().startswith("Not found.")
print("docker ok")
