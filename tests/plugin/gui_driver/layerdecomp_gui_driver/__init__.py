"""Test-only Krita plugin: drives "Decompose Selection" through Krita's real GUI, then quits Krita.

Enabled only in the throwaway profile test_krita_gui.py builds. Its configuration (files, ports, the
pid of the server to kill) comes from the JSON file named by $LAYERDECOMP_GUI_DRIVER_CONFIG; what it
sees goes to result.json and raw pixel files in the configured folder. The script is a generator
pumped by a QTimer: each ``yield`` hands back a condition to wait for, so Krita's event loop keeps
running (the plugin's own timers, dialogs and worker thread) while the driver waits.
"""

import hashlib
import json
import os
import signal
import time
import traceback

from krita import Extension, Krita, Selection

# The binding Krita loaded (PyQt5 in Krita 5, PyQt6 in Krita 6), through the plugin's own chooser: trying
# `import PyQt5` first would succeed where both are installed and crash Krita 6 (two Qt versions).
from layerdecomp_krita.qt import QtCore, QtWidgets

ACTION_ID = "layerdecomp_decompose_selection"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(bytes(data))


def _walk(node):
    for child in node.childNodes():
        yield child
        yield from _walk(child)


def _state(doc):
    """Everything a failure must leave alone: the layer tree, each layer's pixels, the active layer."""
    w, h = doc.width(), doc.height()
    nodes = []
    for node in _walk(doc.rootNode()):
        digest = hashlib.sha256(node.pixelData(0, 0, w, h).data()).hexdigest() if node.type() == "paintlayer" else ""
        nodes.append([node.name(), node.type(), node.visible(), node.opacity(), digest])
    active = doc.activeNode()
    return {"nodes": nodes, "active": active.name() if active else None}


class Driver(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self.config = json.loads(_read(os.environ["LAYERDECOMP_GUI_DRIVER_CONFIG"]))
        self.out = self.config["out"]
        self.result = {"phases": {}, "errors": []}
        self.timer = None
        self.script = None
        self.waiting = None

    def setup(self):
        Krita.instance().notifier().windowCreated.connect(self.start)

    def createActions(self, window):
        pass

    # -- the pump -------------------------------------------------------------------------------------

    def start(self):
        if self.timer is not None:
            return
        self.script = self.run()
        self.waiting = (lambda: True, time.monotonic() + 5, "start")
        self.timer = QtCore.QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(50)

    def tick(self):
        condition, deadline, what = self.waiting
        try:
            if not condition():
                if time.monotonic() < deadline:
                    return
                raise TimeoutError(f"timed out waiting for: {what}")
            self.waiting = next(self.script)
        except StopIteration:
            self.finish()
        except Exception:
            self.result["errors"].append(traceback.format_exc())
            self.finish()

    def finish(self):
        self.timer.stop()
        # Anything else on screen is a surprise: Krita shows Python exceptions from plugins in a dialog.
        self.result["stray_dialogs"] = [
            f"{w.metaObject().className()}: {w.windowTitle()}" for w in QtWidgets.QApplication.topLevelWidgets()
            if isinstance(w, QtWidgets.QDialog) and w.isVisible()
            and w.objectName() not in ("layerdecomp-message", "layerdecomp-progress")]
        with open(os.path.join(self.out, "result.json"), "w") as f:
            json.dump(self.result, f, indent=1)
        k = Krita.instance()
        self.close_message_boxes()
        for doc in k.documents():
            doc.setModified(False)
            doc.close()
        # QApplication.quit() crashes Krita 5.1 on exit; the File > Quit action does not. Should something
        # hold the quit up (a dialog), try again, and keep a picture of the screen for the test's report.
        self.quit_tries = 0
        self.quit_timer = QtCore.QTimer()
        self.quit_timer.timeout.connect(self.quit)
        self.quit_timer.start(3000)
        QtCore.QTimer.singleShot(200, lambda: k.action("file_quit").trigger())

    def quit(self):
        self.quit_tries += 1
        screen = QtWidgets.QApplication.primaryScreen()
        if screen is not None:
            screen.grabWindow(0).save(os.path.join(self.out, f"quit_{self.quit_tries}.png"))
        modal = QtWidgets.QApplication.activeModalWidget()
        print(f"gui driver: quit try {self.quit_tries}; modal: {modal.windowTitle() if modal else None}",
              flush=True)
        if modal is not None:
            modal.close()
        for doc in Krita.instance().documents():
            doc.setModified(False)
            doc.close()
        Krita.instance().action("file_quit").trigger()

    @staticmethod
    def wait(condition, seconds, what):
        return (condition, time.monotonic() + seconds, what)

    # -- helpers ----------------------------------------------------------------------------------------

    def settings(self, **values):
        k = Krita.instance()
        for key, value in values.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            k.writeSetting("layerdecomp", key, str(value))

    def message_boxes(self):
        return [w for w in QtWidgets.QApplication.topLevelWidgets()
                if w.objectName() == "layerdecomp-message" and w.isVisible()]

    def close_message_boxes(self):
        texts = [w.text() for w in self.message_boxes()]
        for w in self.message_boxes():
            w.close()
        return texts

    def open(self, path, mask_path):
        k = Krita.instance()
        doc = k.openDocument(path)
        k.activeWindow().addView(doc)
        node = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
        doc.setActiveNode(node)
        self.select(doc, mask_path)
        return doc, node

    @staticmethod
    def select(doc, mask_path):
        selection = Selection()
        selection.setPixelData(_read(mask_path), 0, 0, doc.width(), doc.height())
        doc.setSelection(selection)

    def trigger(self, phase, doc, controller):
        """Trigger the action as a user would (shortcut or menu) and record what it led to."""
        self.close_message_boxes()
        before = _state(doc)
        count = len(controller.messages)
        Krita.instance().action(ACTION_ID).trigger()
        record = {"before": before, "count": count, "started": controller.job is not None}
        self.result["phases"][phase] = record
        return record

    def conclude(self, phase, doc, controller):
        record = self.result["phases"][phase]
        record["messages"] = controller.messages[record["count"]:]
        record["shown"] = self.close_message_boxes()
        record["after"] = _state(doc)
        record["unchanged"] = record["after"] == record["before"]
        record["progress_open"] = any(w.objectName() == "layerdecomp-progress" and w.isVisible()
                                      for w in QtWidgets.QApplication.allWidgets())

    # -- the script -------------------------------------------------------------------------------------

    def run(self):
        import layerdecomp_krita.extension as plugin

        k = Krita.instance()
        cfg = self.config
        controller = plugin.EXTENSION.controller
        window = k.activeWindow()
        yield self.wait(lambda: window.qwindow().isVisible(), 30, "the main window")
        self.result["krita_version"] = k.version()
        if cfg.get("script") in ("undo", "undo cases only", "big"):
            from .undo_script import UndoScript

            yield from UndoScript(self, controller).run()
            return
        if cfg.get("script") == "tools":
            from .tools_script import ToolsScript

            yield from ToolsScript(self, controller).run()
            return

        def in_select_menu():
            return any(top.objectName() == "Select" and k.action(ACTION_ID) in top.menu().actions()
                       for top in window.qwindow().menuBar().actions() if top.menu() is not None)

        give_up = time.monotonic() + 10
        yield self.wait(lambda: in_select_menu() or time.monotonic() > give_up, 15, "the Select menu")

        # Where the action is: Tools > Scripts and the Select menu; its shortcut from the .action file.
        menus = {}
        for top in window.qwindow().menuBar().actions():
            if top.menu() is None:
                continue
            items = []
            for item in top.menu().actions():
                items.append(item.objectName())
                if item.menu() is not None:
                    items += [f"{item.objectName()}/{sub.objectName()}" for sub in item.menu().actions()]
            menus[top.objectName()] = items
        self.result["menus"] = menus
        self.result["shortcut"] = k.action(ACTION_ID).shortcut().toString()
        self.result["batchmode"] = k.batchmode()

        doc, node = self.open(cfg["photo"], cfg["mask"])
        yield self.wait(lambda: k.activeDocument() is not None, 30, "the photo's view")
        self.result["size"] = [doc.width(), doc.height()]
        def done():
            phase = list(self.result["phases"].values())[-1]
            return controller.job is None and len(controller.messages) > phase["count"]


        # 1. Server down, automatic start off.
        self.settings(server_url=f"ws://127.0.0.1:{cfg['unused_port']}", auto_start=False, backend="",
                      token_file="")
        self.trigger("down", doc, controller)
        yield self.wait(done, 30, "the 'down' job")
        self.conclude("down", doc, controller)

        # 2. Success; the plugin starts the local server itself. A fixed seed, so the test can ask the library
        # for the same result ("random" draws a new one each job).
        self.settings(server_url=f"ws://127.0.0.1:{cfg['auto_port']}", auto_start=True, backend="classical",
                      server_command=cfg["server_command"], options='{"seed": 7}')
        doc.refreshProjection()
        yield self.wait(lambda: True, 1, "")
        composite_before = doc.pixelData(0, 0, doc.width(), doc.height()).data()
        self.trigger("success", doc, controller)
        yield self.wait(done, 120, "the decomposition")
        yield self.wait(lambda: controller.after_write is None, 10, "the steps after writing")
        self.conclude("success", doc, controller)
        w, h = doc.width(), doc.height()
        record = self.result["phases"]["success"]
        record["tree"] = [[n.name(), n.type(), n.visible(), [[c.name(), c.type(), c.visible()]
                                                           for c in n.childNodes()]]
                          for n in doc.rootNode().childNodes()]
        record["source_visible"] = node.visible()
        record["active"] = doc.activeNode().name() if doc.activeNode() else None
        written = controller.last_written
        if written is not None:
            _write(self.out, "success_object.raw", written.obj.pixelData(0, 0, w, h).data())
            _write(self.out, "success_background.raw", written.background.pixelData(0, 0, w, h).data())
        _write(self.out, "success_source.raw", node.pixelData(0, 0, w, h).data())
        _write(self.out, "composite_before.raw", composite_before)
        # The projection updates asynchronously: read it until two reads a moment apart agree.
        doc.refreshProjection()
        reads = []

        def settled():
            reads.append(doc.pixelData(0, 0, w, h).data())
            return len(reads) >= 3 and reads[-1] == reads[-2]

        yield self.wait(settled, 30, "the projection")
        _write(self.out, "composite_after.raw", reads[-1])

        # 3. An error reply from the server (it runs the classical backend, not this one). The success dropped
        # the selection: select the object again.
        self.select(doc, cfg["mask"])
        doc.setActiveNode(node)
        self.settings(backend="diffusion")
        self.trigger("error_reply", doc, controller)
        yield self.wait(done, 30, "the error reply")
        self.conclude("error_reply", doc, controller)

        # 4. Cancel, on a big picture so that the job surely runs when Cancel is pressed.
        big, big_node = self.open(cfg["big_photo"], cfg["big_mask"])
        yield self.wait(lambda: k.activeDocument() is not None, 30, "the big photo's view")
        self.settings(backend="classical")
        self.trigger("cancel", big, controller)
        job = controller.job
        yield self.wait(lambda: job is None or job.state == "working" or controller.job is None, 60,
                        "the job to run")
        # The docker's Cancel button (the progress is in the docker, not in a window over the canvas).
        dialogs = [w for w in QtWidgets.QApplication.allWidgets()
                   if w.objectName() == "layerdecomp-cancel" and w.isVisible()]
        self.result["phases"]["cancel"]["dialog_seen"] = bool(dialogs)
        if dialogs:
            dialogs[0].click()
        yield self.wait(done, 10, "the cancel")
        self.conclude("cancel", big, controller)
        # The worker tells the server and winds down by itself.
        yield self.wait(lambda: not job.thread.is_alive(), 30, "the cancelled worker")

        # 5. The server is killed while it works.
        self.settings(server_url=f"ws://127.0.0.1:{cfg['kill_port']}", auto_start=False)
        self.trigger("killed", big, controller)
        job = controller.job
        yield self.wait(lambda: job is None or job.state == "working" or controller.job is None, 60,
                        "the job to run on the server to kill")
        self.result["phases"]["killed"]["killed_while"] = job.state if controller.job is job else "over"
        os.kill(cfg["kill_pid"], signal.SIGKILL)
        yield self.wait(done, 30, "the killed job")
        self.conclude("killed", big, controller)

        # 6. A result with recovered hidden parts: on Krita 5.1 the Object gets a transparency mask made
        # through Krita's own action.
        yield from self.hidden_parts(controller, done)

        # 7. The docker, asked about the server the plugin started in phase 2.
        yield from self.docker_state()

        # The plugin started a server in phase 2; it stops it when Krita quits (checked by the test).
        from layerdecomp_krita.local_server import LOCAL

        self.result["local_server_pid"] = LOCAL.process.pid if LOCAL.process else None

    def docker_state(self):
        self.settings(server_url=f"ws://127.0.0.1:{self.config['auto_port']}", backend="classical")
        from layerdecomp_krita import docker

        dockers = [panel for panel in docker.DOCKERS if panel.window() is Krita.instance().activeWindow().qwindow()]
        record = {"dockers": len(dockers)}
        self.result["docker"] = record
        if not dockers:
            return
        panel = dockers[0]
        panel.refresh()
        yield self.wait(lambda: panel.server_state.property("state") in ("running", "not_found"), 30,
                        "the docker's answer from the server")
        model = panel.method.model()
        record["state"] = panel.server_state.property("state")
        record["state_text"] = panel.server_state.text()
        record["methods"] = [[panel.method.itemText(i), panel.method.itemData(i), model.item(i).isEnabled(),
                              model.item(i).toolTip()] for i in range(panel.method.count())]
        record["visible"] = panel.isVisible()

    def hidden_parts(self, controller, done):
        """Decompose Selection on a small picture, with the job's network part replaced by a synthetic
        result (the server's backends recover no hidden parts); the rest is the plugin's real path."""
        from layerdecomp_krita import canvas
        from layerdecomp_krita.client import JobResult

        k = Krita.instance()
        cfg = self.config["hidden"]
        w, h = cfg["size"]
        doc = k.createDocument(w, h, "hidden parts", "RGBA", "U8", "", 72.0)
        k.activeWindow().addView(doc)
        yield self.wait(lambda: k.activeDocument() == doc, 30, "the hidden-parts document's view")
        layer = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
        layer.setPixelData(_read(cfg["photo"]), 0, 0, w, h)
        doc.setActiveNode(layer)
        selection = Selection()
        selection.setPixelData(_read(cfg["selection"]), 0, 0, w, h)
        doc.setSelection(selection)
        doc.refreshProjection()
        reads = []

        def settled():
            reads.append(doc.pixelData(0, 0, w, h).data())
            return len(reads) >= 3 and reads[-1] == reads[-2]

        yield self.wait(settled, 30, "the hidden-parts projection")
        yield self.wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == layer.name(), 10,
                        "the hidden-parts layer to be active")
        _write(self.out, "hidden_composite_before.raw", reads[-1])

        c = canvas.read_source(doc, layer).crop  # the crop the plugin reads when triggered

        def crop(data, bpp):
            return b"".join(data[((c.y + r) * w + c.x) * bpp:((c.y + r) * w + c.x + c.w) * bpp] for r in range(c.h))

        result = JobResult((0, 0, c.w, c.h), crop(_read(cfg["foreground"]), 4), crop(_read(cfg["photo"]), 4),
                           crop(_read(cfg["visibility"]), 1), {})
        real_run_job = controller.run_job
        controller.run_job = lambda settings, request, cancel, emit: result
        try:
            started = time.monotonic()
            self.trigger("hidden_parts", doc, controller)
            yield self.wait(done, 30, "the hidden-parts job")
            yield self.wait(lambda: controller.after_write is None, 10, "the transparency mask")
            finished = time.monotonic() - started
        finally:
            controller.run_job = real_run_job
        self.conclude("hidden_parts", doc, controller)
        group = controller.last_group
        record = self.result["phases"]["hidden_parts"]
        record.update({
            "seconds": finished,
            "tree": [[n.name(), n.type(), n.visible(), [[m.name(), m.type(), m.visible()] for m in n.childNodes()]]
                     for n in group.childNodes()],
            "selection_left": doc.selection() is not None and doc.selection().width() > 0,
            "group": group.name(),
            "active": doc.activeNode().name() if doc.activeNode() else None})
        obj = controller.last_written.obj
        _write(self.out, "hidden_object.raw", obj.pixelData(0, 0, w, h).data())
        for mask in obj.childNodes():
            _write(self.out, f"hidden_object_{mask.type()}.raw", mask.pixelData(0, 0, w, h).data())
        doc.refreshProjection()
        reads.clear()
        yield self.wait(settled, 30, "the hidden-parts projection after writing")
        _write(self.out, "hidden_composite_after.raw", reads[-1])
        before = _read(cfg["photo"])
        # Undo step by step until the result is gone: every step must show the picture as it was.
        steps = []
        for _ in range(8):
            if not any(n.type() == "grouplayer" for n in doc.rootNode().childNodes()) and layer.visible():
                break
            k.action("edit_undo").trigger()
            doc.refreshProjection()
            reads.clear()
            yield self.wait(settled, 30, "the projection after an undo step")
            steps.append({"same_picture": reads[-1] == before, "undo": k.action("edit_undo").text(),
                          "groups": len([n for n in doc.rootNode().childNodes() if n.type() == "grouplayer"]),
                          "source_visible": layer.visible()})
        record["undo_steps"] = steps

Krita.instance().addExtension(Driver(Krita.instance()))
