"""Run by test_qt6.py in its own process (never beside PyQt5): the plugin's Qt-facing modules under
PyQt6, as Krita 6 would load them, against the fake krita module. Exits non-zero on any failure."""

import sys

fake_krita, plugin_dir = sys.argv[1], sys.argv[2]
sys.path[:0] = [fake_krita, plugin_dir]

from PyQt6 import QtCore, QtGui, QtWidgets  # noqa: E402  (what Krita 6 has loaded before any plugin)

app = QtWidgets.QApplication([])

import krita  # noqa: E402  (the fake)

import layerdecomp_krita  # noqa: E402, F401  (registers the extension, as at Krita's start-up)
from layerdecomp_krita import extension, option_widgets, qt, settings, ui  # noqa: E402
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
SCHEMA = [{"name": "steps", "type": "int", "default": 28, "label": "Quality steps", "help": "More steps: slower.",
           "min": 1, "max": 200},
          {"name": "seed", "type": "seed", "default": 0, "label": "Variation", "help": "Another try.", "min": 0,
           "max": 4294967295},
          {"name": "guidance", "type": "float", "default": 30.0, "label": "Guidance", "help": "g", "min": 0.0,
           "max": 100.0},
          {"name": "fast", "type": "bool", "default": False, "label": "Fast", "help": "f"},
          {"name": "mode", "type": "choice", "default": "auto", "label": "Mode", "help": "m",
           "choices": [{"value": "auto", "label": "As loaded"}, {"value": "zero-shot", "label": "Zero-shot"}]},
          {"name": "future", "type": "colour", "default": "red", "label": "Colour", "help": "c"}]
ANNOUNCED = {"backend": "diffusion", "schema": SCHEMA,
             "methods": [{"name": "classical", "label": "Fast", "description": "d", "available": False,
                          "reason": "restart the server with this method"},
                         {"name": "diffusion", "label": "Diffusion", "description": "d", "available": True,
                          "reason": ""}]}
custom = settings.Settings(server_url="ws://127.0.0.1:9000", token_file="/t", backend="classical",
                           options={"steps": 12, "seed": 3}, margin=20, auto_start=False, server_command="x serve",
                           announced=ANNOUNCED)
dialog = ui.SettingsDialog(custom)
assert dialog.values() == custom, dialog.values()
assert ui.SettingsDialog(settings.Settings()).values() == settings.Settings()
# The form is drawn from the schema: a widget of the right kind for each type this plugin knows, starting at
# the artist's values (else the defaults), labelled and explained in the backend's words.
form = dialog.option_form
assert form.names() == ["steps", "seed", "guidance", "fast", "mode"]  # an unknown type is left out
assert isinstance(form.widget("steps"), QtWidgets.QSpinBox) and form.widget("steps").value() == 12
assert (form.widget("steps").minimum(), form.widget("steps").maximum()) == (1, 200)
assert isinstance(form.widget("guidance"), QtWidgets.QDoubleSpinBox)
assert isinstance(form.widget("fast"), QtWidgets.QCheckBox) and isinstance(form.widget("mode"), QtWidgets.QComboBox)
assert form.widget("mode").itemText(1) == "Zero-shot" and form.widget("steps").toolTip() == "More steps: slower."
assert form.values() == {"steps": 12, "seed": 3}  # what the artist set; the rest is the server's default
form.widget("seed").setValue(form.widget("seed").minimum())  # "different each time"
form.widget("mode").setCurrentIndex(1)
form.widget("fast").setChecked(True)
assert form.values() == {"steps": 12, "fast": True, "mode": "zero-shot"}
assert dialog.values().options == {"steps": 12, "fast": True, "mode": "zero-shot"}
unset = option_widgets.OptionForm(SCHEMA)
assert unset.widget("seed").text() == option_widgets.RANDOM_SEED_TEXT and unset.values() == {}
# The menu is the server's list; options only for the method the server runs; every input explains itself.
dialog.show()
assert dialog.backend.itemText(dialog.backend.findData("classical")) == "Fast (not running)"
assert not dialog.option_visible("steps") and not dialog.option_visible("seed")
assert dialog.options_note.text() == ui.NOT_RUNNING
dialog.backend.setCurrentIndex(dialog.backend.findData("diffusion"))
assert dialog.option_visible("steps") and not dialog.options_note.isVisible()
assert dialog.values().backend == "diffusion"
fresh = ui.SettingsDialog(settings.Settings())
fresh.show()
assert fresh.option_form is None and fresh.options_note.text() == ui.NO_SCHEMA_YET
fresh.set_announced(ANNOUNCED)  # what a Test connection brings
fresh.backend.setCurrentIndex(fresh.backend.findData("diffusion"))
assert fresh.option_visible("mode") and fresh.values().announced == ANNOUNCED
fresh.close()
inputs = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox, QtWidgets.QCheckBox)
untold = [w.objectName() or type(w).__name__ for w in dialog.findChildren(QtWidgets.QWidget)
          if isinstance(w, inputs) and w.parent() is not None
          and not isinstance(w.parent(), QtWidgets.QAbstractSpinBox)
          and not isinstance(w.parent(), QtWidgets.QComboBox) and not w.toolTip()]
assert untold == [], untold
# Test connection runs in a worker thread and says what it found, or why not.
answers = iter([lambda s: ("Connected to layerdecomp 1.0: method “classical”, running on the processor (CPU).",
                           ANNOUNCED),
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

assert [f.name for f in k.dock_factories] == [docker.DOCKER_ID]
panel = docker.LayerDecompDocker()
assert docker.active_docker() is panel
face = ui.QtUI(k, find_panel=docker.active_docker)
calls.clear()
face.show_progress("Working…", lambda: calls.append("docker cancel"))
face.update_progress("Painting the background…", 0.25)
assert panel.progress_bar.value() == 25 and not panel.decompose_button.isEnabled()
panel.cancel_button.click()
assert calls == ["docker cancel"], calls
face.close_progress()
assert not panel.progress_box.isVisibleTo(panel)
# Esc cancels while the progress shows (an application-wide filter, for the job's length only).
face.show_progress("Working…", lambda: calls.append("docker escape"))
for kind in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
    QtWidgets.QApplication.sendEvent(panel.cancel_button, QtGui.QKeyEvent(
        kind, QtCore.Qt.Key.Key_Escape, QtCore.Qt.KeyboardModifier.NoModifier))
assert calls == ["docker cancel", "docker escape"], calls
face.close_progress()
QtWidgets.QApplication.sendEvent(panel.cancel_button, QtGui.QKeyEvent(
    QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Escape, QtCore.Qt.KeyboardModifier.NoModifier))
assert calls == ["docker cancel", "docker escape"], calls  # no job: Esc is Krita's again
# Greyed with nothing selected (no document here), with the reason; enabled once something is.
assert not panel.decompose_button.isEnabled(), "the Decompose button is enabled with nothing selected"
assert panel.decompose_button.toolTip() == docker.NOTHING_SELECTED_TIP
selected_doc = k.createDocument(20, 10, "selected")  # (the active document)
chosen = krita.Selection()
chosen.select(2, 2, 5, 5, 255)
selected_doc.setSelection(chosen)
panel._update_decompose_button()
assert panel.decompose_button.isEnabled() and panel.decompose_button.toolTip() == docker.DECOMPOSE_TIP
announced = {"backend": "classical", "methods": [
    {"name": "classical", "label": "Fast", "description": "Works everywhere.", "available": True, "reason": ""},
    {"name": "diffusion", "label": "Diffusion", "description": "Paints the background.", "available": False,
     "reason": "Needs a graphics card."}],
    "schema": [{"name": "seed", "type": "seed", "default": None, "label": "Variation",
                "help": "Same number, same result."},
               {"name": "detail", "type": "int", "default": 3, "label": "Detail", "help": "More: finer.", "min": 1,
                "max": 9}]}
panel._fill_methods(announced, "classical")
model = panel.method.model()
enabled = {panel.method.itemData(i): model.item(i).isEnabled() for i in range(panel.method.count())}
assert enabled == {"": True, "auto": True, "classical": True, "diffusion": False}, enabled
tip = model.item(panel.method.findData("diffusion")).toolTip()
assert "Needs a graphics card." in tip, tip
assert panel.method.currentData() == "classical" and panel.method_help.text() == "Works everywhere."
# The running method's options, drawn from the schema; a value set there goes to the settings.
assert panel.option_form is not None and panel.option_form.names() == ["seed", "detail"]
detail = panel.option_form.widget("detail")
detail.setValue(7)
detail.editingFinished.emit()
assert settings.load(k.readSetting).options == {"detail": 7}, settings.load(k.readSetting).options
# Another method chosen: no options shown (the server announced those of the method it runs).
panel.method.setCurrentIndex(panel.method.findData(""))
panel._show_method(announced)
assert panel.option_form is not None  # the server's choice runs the announced method
panel.show_server_state("not_found", "No server answers at this address.")
assert panel.server_state.text().startswith("Not found.")
print("docker ok")
