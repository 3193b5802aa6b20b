"""The driver's second script: undo and redo step by step, Esc and the close button, a transparent layer,
a hidden layer, and the active layer after 20 runs in one session.

The network job is replaced by the library's result for the picture (computed by the test and passed as
files), cropped to what the plugin sends; everything else is the plugin's real path through Krita's GUI.
After every ``edit_undo`` / ``edit_redo`` the driver reads the document's projection (once it has
settled) and the layer tree.
"""

import hashlib
import threading
import time

from krita import Krita, Selection

ACTION_ID = "layerdecomp_decompose_selection"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _digest(data):
    return hashlib.sha256(bytes(data)).hexdigest()


def _tree(node):
    return [[c.name(), c.type(), c.visible(), _tree(c)] for c in node.childNodes()]


class UndoScript:
    def __init__(self, driver, controller):
        self.driver = driver
        self.controller = controller
        self.k = Krita.instance()
        self.cfg = driver.config
        self.result = driver.result
        self.result["cases"] = {}

    # -- helpers ---------------------------------------------------------------------------------------

    def wait(self, condition, seconds, what):
        return self.driver.wait(condition, seconds, what)

    def settled(self, doc, into):
        """Yields until two reads of the projection a tick apart agree; leaves the bytes in ``into[0]``."""
        doc.refreshProjection()
        reads = []

        def check():
            reads.append(doc.pixelData(0, 0, doc.width(), doc.height()).data())
            return len(reads) >= 3 and reads[-1] == reads[-2]

        yield self.wait(check, 30, "the projection to settle")
        into[:] = [reads[-1]]

    def open_case(self, name, spec):
        """A document for ``spec``: "photo" (a file) or layers given as raw BGRA files; the selection."""
        k = self.k
        w, h = spec["size"]
        if "file" in spec:
            doc = k.openDocument(spec["file"])
        else:
            doc = k.createDocument(w, h, name, "RGBA", "U8", "", 72.0)
        k.activeWindow().addView(doc)
        yield self.wait(lambda: k.activeDocument() == doc, 30, f"the view of {name}")
        layer = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
        if "layer" in spec:
            new = doc.createNode(spec.get("layer_name", "Flower"), "paintlayer")
            new.setPixelData(_read(spec["layer"]), 0, 0, w, h)
            doc.rootNode().addChildNode(new, layer)
            layer = new
        if spec.get("hidden"):
            layer.setVisible(False)
        selection = Selection()
        selection.setPixelData(_read(spec["mask"]), 0, 0, w, h)
        doc.setSelection(selection)
        doc.setActiveNode(layer)
        yield self.wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == layer.name(), 10,
                        "the source layer to be active")
        self.doc, self.layer = doc, layer

    def fake_job(self, spec, doc, layer):
        """The library's result for this picture, cropped to what the plugin will send."""
        from layerdecomp_krita import canvas
        from layerdecomp_krita.client import JobResult

        if "fg" not in spec:
            return None
        w = doc.width()
        c = canvas.read_source(doc, layer).crop

        def crop(data, bpp):
            return b"".join(data[((c.y + r) * w + c.x) * bpp:((c.y + r) * w + c.x + c.w) * bpp] for r in range(c.h))

        result = JobResult((0, 0, c.w, c.h), crop(_read(spec["fg"]), 4), crop(_read(spec["bg"]), 4),
                           crop(_read(spec["vis"]), 1), {})
        return lambda settings, request, cancel, emit: result

    def decompose(self, record, run_job):
        """Trigger the action with ``run_job`` in place of the network; wait for the job and its follow-up."""
        controller = self.controller
        real = controller.run_job
        if run_job is not None:
            controller.run_job = run_job
        count = len(controller.messages)
        try:
            self.k.action(ACTION_ID).trigger()
            yield self.wait(lambda: controller.job is None and len(controller.messages) > count, 30, "the job")
            yield self.wait(lambda: controller.after_write is None, 10, "the steps after writing")
        finally:
            controller.run_job = real
        record["messages"] = controller.messages[count:]
        self.driver.close_message_boxes()

    def state(self, doc, layer):
        into = []
        yield from self.settled(doc, into)
        active = doc.activeNode()
        self.last_state = {
            "composite": into[0], "tree": _tree(doc.rootNode()), "source_visible": layer.visible(),
            "active": active.name() if active is not None else None,
            "undo": self.k.action("edit_undo").text(), "redo": self.k.action("edit_redo").text()}

    # -- the script ------------------------------------------------------------------------------------

    def run(self):
        for name, spec in self.cfg["undo_cases"].items():
            yield from self.undo_case(name, spec)
        yield from self.cancel_keys()
        yield from self.twenty_runs()

    def undo_case(self, name, spec):
        """Decompose, then undo step by step back to where we started (comparing the picture after every
        step with the original), then redo step by step back to the result."""
        yield from self.open_case(name, spec)
        doc, layer = self.doc, self.layer
        record = {}
        self.result["cases"][name] = record
        yield from self.state(doc, layer)
        start = self.last_state
        original = start["composite"]
        record["start"] = {k: v for k, v in start.items() if k != "composite"}
        yield from self.decompose(record, self.fake_job(spec, doc, layer))
        yield from self.state(doc, layer)
        done = self.last_state
        record["done"] = {k: v for k, v in done.items() if k != "composite"}
        record["done_same_picture"] = done["composite"] == original
        record["done_max_diff"] = max((abs(a - b) for a, b in zip(done["composite"], original)), default=0)
        if done["tree"] == start["tree"]:  # nothing was added (a refusal): nothing to undo
            return
        steps = []
        for _ in range(8):
            self.k.action("edit_undo").trigger()
            yield from self.state(doc, layer)
            now = self.last_state
            steps.append({"same_picture": now["composite"] == original, "tree": now["tree"],
                          "source_visible": now["source_visible"], "undo": now["undo"],
                          "max_diff": max(abs(a - b) for a, b in zip(now["composite"], original))})
            if now["tree"] == start["tree"] and now["source_visible"] == start["source_visible"]:
                break
        record["undo_steps"] = steps
        redo = []
        for _ in range(len(steps)):
            self.k.action("edit_redo").trigger()
            yield from self.state(doc, layer)
            now = self.last_state
            redo.append({"tree": now["tree"], "source_visible": now["source_visible"],
                         "same_as_result": now["composite"] == done["composite"]})
        record["redo_steps"] = redo
        doc.setModified(False)

    def cancel_keys(self):
        """Esc and the window's close button on the progress dialog cancel the job like Cancel does."""
        from layerdecomp_krita.qt import QtCore, QtGui, QtWidgets

        from layerdecomp_krita import messages

        spec = self.cfg["undo_cases"]["opaque"]
        yield from self.open_case("cancel keys", spec)
        doc = self.doc
        controller = self.controller
        for how in ("escape", "close"):
            record = {"before": _tree(doc.rootNode())}
            self.result["cases"][how] = record
            ended = threading.Event()

            def held(settings, request, cancel, emit):
                try:
                    if not cancel.wait(30):
                        raise messages.UserError("test", "the job was never cancelled")
                    raise messages.cancelled()
                finally:
                    ended.set()

            real = controller.run_job
            controller.run_job = held
            count = len(controller.messages)
            try:
                self.k.action(ACTION_ID).trigger()
                dialogs = []

                def dialog_shown():
                    dialogs[:] = [w for w in QtWidgets.QApplication.topLevelWidgets()
                                  if w.objectName() == "layerdecomp-progress" and w.isVisible()]
                    return bool(dialogs)

                yield self.wait(dialog_shown, 10, "the progress dialog")
                if how == "escape":
                    dialogs[0].activateWindow()
                    QtWidgets.QApplication.sendEvent(dialogs[0], QtGui.QKeyEvent(
                        QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Escape, QtCore.Qt.KeyboardModifier.NoModifier))
                else:
                    dialogs[0].close()  # what the window's close button does
                yield self.wait(lambda: controller.job is None, 10, "the job to end")
                yield self.wait(ended.is_set, 10, "the worker to stop")
            finally:
                controller.run_job = real
            record["messages"] = controller.messages[count:]
            record["after"] = _tree(doc.rootNode())
            record["progress_open"] = any(w.objectName() == "layerdecomp-progress" and w.isVisible()
                                          for w in QtWidgets.QApplication.topLevelWidgets())
            record["worker_stopped"] = ended.is_set()
            self.driver.close_message_boxes()
        doc.setModified(False)

    def twenty_runs(self):
        """The Object is the active layer after every success (20 runs in one session), each undone."""
        spec = self.cfg["undo_cases"]["opaque"]
        yield from self.open_case("twenty", spec)
        doc, layer = self.doc, self.layer
        runs = []
        self.result["cases"]["twenty"] = runs
        for _ in range(20):
            record = {}
            doc.setActiveNode(layer)
            yield self.wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == layer.name(), 10,
                            "the source to be active again")
            yield from self.decompose(record, self.fake_job(spec, doc, layer))
            # Krita activates nodes on its own schedule: look again a moment later, as an artist would.
            until = time.monotonic() + 0.5
            yield self.wait(lambda: time.monotonic() > until, 2, "a moment")
            active = doc.activeNode()
            record["active"] = active.name() if active is not None else None
            record["groups"] = len([n for n in doc.rootNode().childNodes() if n.type() == "grouplayer"])
            self.k.action("edit_undo").trigger()
            yield self.wait(lambda: not any(n.type() == "grouplayer" for n in doc.rootNode().childNodes()), 10,
                            "the undo")
            runs.append(record)
        doc.setModified(False)
