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
# Before the big canvas's trigger: the GUI is quiet once no heartbeat gap over QUIET_S of CPU came for
# QUIET_FOR_S (at most SETTLE_MAX_S of waiting).
QUIET_S, QUIET_FOR_S, SETTLE_MAX_S = 0.04, 1.0, 10


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _digest(data):
    return hashlib.sha256(bytes(data)).hexdigest()


def _tree(node):
    """The layers (the global selection, a "selectionmask" node, is reported apart)."""
    return [[c.name(), c.type(), c.visible(), _tree(c)] for c in node.childNodes() if c.type() != "selectionmask"]


def held_job(ended):
    """A stand-in for the network job that waits to be cancelled (30 s at most) and then ends as cancelled;
    ``ended`` is set once the worker has left it."""
    from layerdecomp_krita import messages

    def held(settings, request, cancel, emit):
        try:
            if not cancel.wait(30):
                raise messages.UserError("test", "the job was never cancelled")
            raise messages.cancelled()
        finally:
            ended.set()

    return held


def phase_blocks(beats):
    """The longest GUI-thread CPU time between two heartbeats in each phase of a split, in seconds: "trigger"
    (reading the pixels and the selection, starting the job: no job before, a job after), "wait" (the job
    in the worker), "write" (the controller writing the result, Krita's event loop run inside its calls
    included, to the end of that turn), "follow-up" (its steps after writing) and "idle" (before or after).
    ``beats``: (wall, GUI CPU, job in hand, follow-up running, result being written)."""
    out = {}
    for a, b in zip(beats, beats[1:]):
        if a[4] or b[4] or (a[2] and not b[2]):  # (Krita runs its event loop inside some of the write's calls)
            phase = "write"
        elif a[2] and b[2]:
            phase = "wait"
        elif b[2]:
            phase = "trigger"
        else:
            phase = "follow-up" if (a[3] or b[3]) else "idle"
        out[phase] = max(out.get(phase, 0.0), b[1] - a[1])
    return out


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
        """A document for ``spec``: "photo" (a file) or layers given as raw BGRA files (over "paper", an
        opaque bottom layer, where given); the selection."""
        k = self.k
        w, h = spec["size"]
        if "file" in spec:
            doc = k.openDocument(spec["file"])
        else:
            doc = k.createDocument(w, h, name, "RGBA", "U8", "", 72.0)
        k.activeWindow().addView(doc)
        yield self.wait(lambda: k.activeDocument() == doc, 30, f"the view of {name}")
        layer = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
        if "paper" in spec:  # the bottom layer: opaque paper of this BGR colour
            layer.setPixelData(bytes(list(spec["paper"]) + [255]) * (w * h), 0, 0, w, h)
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

        if "objects" in spec:
            return self.fake_objects_job(spec, doc, layer)
        if "fg" not in spec:
            return None
        w = doc.width()
        c = canvas.read_source(doc, layer).crop

        def crop(data, bpp):
            return b"".join(data[((c.y + r) * w + c.x) * bpp:((c.y + r) * w + c.x + c.w) * bpp] for r in range(c.h))

        result = JobResult((0, 0, c.w, c.h), crop(_read(spec["fg"]), 4), crop(_read(spec["bg"]), 4),
                           crop(_read(spec["vis"]), 1), {})
        return lambda settings, request, cancel, emit: result

    def fake_objects_job(self, spec, doc, layer):
        """The library's several-object result (``split_parts``): each object's pixels over its own box, the
        plate over the result's box (canvas coordinates), as the client makes them from the server's frames."""
        from layerdecomp_krita import canvas
        from layerdecomp_krita.client import ObjectResult, with_objects

        w = doc.width()
        c = canvas.read_source(doc, layer).crop
        bx, by, bw, bh = spec["box"]
        plate = _read(spec["bg"])
        plate = b"".join(plate[((by + r) * w + bx) * 4:((by + r) * w + bx + bw) * 4] for r in range(bh))
        objects = [ObjectResult((o["box"][0] - c.x, o["box"][1] - c.y, o["box"][2], o["box"][3]), _read(o["fg"]),
                                _read(o["vis"])) for o in spec["objects"]]
        result = with_objects((bx - c.x, by - c.y, bw, bh), plate, objects)
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
        selection = doc.selection()
        self.last_state = {
            "composite": into[0], "tree": _tree(doc.rootNode()), "source_visible": layer.visible(),
            "active": active.name() if active is not None else None,
            "selection": selection is not None and selection.width() > 0,
            "undo": self.k.action("edit_undo").text(), "redo": self.k.action("edit_redo").text()}

    # -- the script ------------------------------------------------------------------------------------

    def run(self):
        for name, spec in self.cfg["undo_cases"].items():
            yield from self.undo_case(name, spec)
        if self.cfg.get("script") == "undo cases only":
            return
        if self.cfg.get("script") == "big":  # bench/krita_gui_block.py: the big canvas alone, a few times
            for run in range(self.cfg.get("repeats", 1)):
                yield from self.big_canvas(f"big {run + 1}")
            return
        yield from self.split_twice(self.cfg["undo_cases"]["opaque"])
        yield from self.big_canvas()
        yield from self.cancel_keys()
        yield from self.twenty_runs()

    def history_step(self, name, doc):
        """Trigger ``edit_undo`` or ``edit_redo`` and wait until Krita has taken the step: Krita 5.2+ runs it
        a moment later, some (Quick Group's) as strokes, so the projection alone cannot tell; the layer
        tree, the selection or the undo and redo actions' texts change when it has."""
        def seen():
            selection = doc.selection()
            return (_tree(doc.rootNode()), selection is not None and selection.width() > 0,
                    self.k.action("edit_undo").text(), self.k.action("edit_redo").text())

        before = seen()
        for _try in range(2):  # (a trigger while Krita is still busy with the last step can be dropped)
            # Krita disables undo and redo while a stroke (an earlier step's) still runs.
            yield self.wait(lambda: self.k.action(name).isEnabled(), 10, f"{name} to be enabled")
            self.k.action(name).trigger()
            until = time.monotonic() + 5
            yield self.wait(lambda: seen() != before or time.monotonic() > until, 10,
                            f"{name} to be taken ({doc.name()})")
            if seen() != before:
                return

    def undo_all(self, doc, layer, original, start):
        """Undo step by step until the layer tree and the source's visibility are as at ``start``; the
        picture, the selection and the active layer after each step."""
        steps = []
        for _ in range(8):
            yield from self.history_step("edit_undo", doc)
            yield from self.state(doc, layer)
            now = self.last_state
            steps.append({"same_picture": now["composite"] == original, "tree": now["tree"],
                          "source_visible": now["source_visible"], "active": now["active"], "undo": now["undo"],
                          "selection": now["selection"],
                          "max_diff": max(abs(a - b) for a, b in zip(now["composite"], original))})
            if now["tree"] == start["tree"] and now["source_visible"] == start["source_visible"]:
                break
        # Krita activates a layer after an undo on its own schedule: the active layer a moment later.
        until = time.monotonic() + 1.0
        yield self.wait(lambda: time.monotonic() > until, 3, "a moment")
        active = doc.activeNode()
        steps[-1]["active_after_a_moment"] = active.name() if active is not None else None
        return steps

    def split_twice(self, spec):
        """A photo's layer "Background", split twice (the second time on the same selection): distinct
        names, the Object active and no selection after each (so the move tool carries all of the Object);
        undo back to the start, the picture the original at every step and the source active at the end."""
        yield from self.open_case("twice", spec)
        doc, layer = self.doc, self.layer
        record = {"source": layer.name(), "splits": []}
        self.result["cases"]["twice"] = record
        yield from self.state(doc, layer)
        start = self.last_state
        original = start["composite"]
        record["start_tree"] = start["tree"]
        selection = doc.selection().pixelData(0, 0, doc.width(), doc.height())
        for turn in range(2):
            if turn:
                undo_text = self.k.action("edit_undo").text()
                again = Selection()
                again.setPixelData(selection, 0, 0, doc.width(), doc.height())
                doc.setSelection(again)
                doc.setActiveNode(layer)
                yield self.wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == layer.name(),
                                10, "the source to be active again")
                # (Krita 5.3 and 6 record a script's setSelection as an undo step of its own, unnamed)
                record["reselect_undo_step"] = self.k.action("edit_undo").text() != undo_text
            split = {}
            yield from self.decompose(split, self.fake_job(spec, doc, layer))
            yield from self.state(doc, layer)
            split.update(tree=self.last_state["tree"], active=self.last_state["active"],
                         selection=self.last_state["selection"], undo=self.last_state["undo"],
                         same_picture=self.last_state["composite"] == original)
            record["splits"].append(split)
        # The move tool moves all of the active layer when nothing is selected: the Object active and no
        # selection left are what it needs (a drag cannot be sent to Krita's tools here: docs/krita-versions.md).
        record["undo_steps"] = yield from self.undo_all(doc, layer, original, start)
        doc.setModified(False)

    def big_canvas(self, case="big", alpha=lambda x: 255):
        """A small selection on a 6000x4000 photo (``alpha``: its alpha by column; a transparent layer where
        not 255): the document's pixel data (every layer's and group's extent) before and after, and the
        longest the GUI thread was blocked from the trigger until the result was written and followed up (a
        10 ms heartbeat timer; the trigger comes once the GUI is quiet after this set-up)."""
        from layerdecomp_krita.client import JobResult
        from layerdecomp_krita.qt import QtCore

        k = self.k
        w, h = 6000, 4000
        doc = k.createDocument(w, h, case, "RGBA", "U8", "", 72.0)
        k.activeWindow().addView(doc)
        yield self.wait(lambda: k.activeDocument() == doc, 60, "the big document's view")
        layer = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
        row = b"".join(bytes([(x * 7) % 256, 90, (x * 3) % 256, alpha(x)]) for x in range(w))
        layer.setPixelData(row * h, 0, 0, w, h)
        selection = Selection()
        selection.select(2000, 1500, 128, 290, 255)
        doc.setSelection(selection)
        doc.setActiveNode(layer)
        yield self.wait(lambda: doc.activeNode() is not None and doc.activeNode().name() == layer.name(), 10,
                        "the big layer to be active")
        doc.refreshProjection()
        doc.waitForDone()
        record = {"size_before": self.pixel_bytes(doc)}
        self.result["cases"][case] = record

        def run_job(settings, request, cancel, emit):
            image = bytes(request.image)
            fg = bytearray(image)
            fg[3::4] = bytes(request.mask)
            return JobResult((0, 0, request.width, request.height), bytes(fg), image,
                             bytes(request.mask).translate(bytes([0] + [255] * 255)), {})

        controller = self.controller
        # (wall time, the GUI thread's CPU time, the job still in hand, the follow-up still running, the result
        # being written: Krita runs its event loop inside the insertion, so beats come then too). The beat
        # runs on the GUI thread: between two beats, its CPU time is what blocked it (wall time also counts
        # waiting for a processor, which on a loaded machine says little about the plugin).
        beats = []

        writing = [False]

        def write(job, result):  # (the controller's own, marked: beats inside it count for the write)
            writing[0] = True
            try:
                return type(controller)._write(controller, job, result)
            finally:
                writing[0] = False

        def beat():
            beats.append((time.monotonic(), time.thread_time(), controller.job is not None,
                          controller.after_write is not None, writing[0]))

        timing = None
        if self.cfg.get("timing"):  # where the GUI thread's time went (timing.py), for bench/krita_gui_block.py
            from .timing import Timing

            timing = Timing().install()
        heartbeat = QtCore.QTimer()
        heartbeat.timeout.connect(beat)
        heartbeat.start(10)
        beat()
        # The set-up above (a 6000x4000 layer written, the projection refreshed) makes Krita re-upload its whole
        # canvas texture once the event loop runs: 60-140 ms of the GUI thread under software OpenGL (Xvfb),
        # which is not the split's doing. Counted from the trigger, it was (docs/krita-versions.md). So the
        # trigger waits until the GUI has been quiet for a moment (no block over QUIET_S for QUIET_FOR_S).
        settle_until = time.monotonic() + SETTLE_MAX_S

        def quiet():
            now = time.monotonic()
            recent = [b[1] - a[1] for a, b in zip(beats, beats[1:]) if b[0] > now - QUIET_FOR_S]
            return (now > settle_until or (beats[-1][0] - beats[0][0] > QUIET_FOR_S
                                           and len(recent) >= 3 and max(recent) < QUIET_S))

        if not self.cfg.get("trigger_at_once"):  # (the bench's --at-once: as measured before, for comparison)
            yield self.wait(quiet, SETTLE_MAX_S + 5, "the GUI to be quiet before the trigger")
        settled = len(beats)
        record["setup_block_s"] = max((b[1] - a[1] for a, b in zip(beats, beats[1:])), default=0.0)
        record["settled_in_s"] = beats[-1][0] - beats[0][0]
        beat()
        controller._write = write
        try:
            yield from self.decompose(record, run_job)
        finally:
            del controller._write
            if timing is not None:
                timing.uninstall()
        heartbeat.stop()
        beat()
        beats = beats[settled:]  # from the trigger on
        record["phase_blocks"] = phase_blocks(beats)
        # (CPU s, from, to: CLOCK_MONOTONIC s) of the longest blocks, to look them up in a profiler's record
        record["longest_at"] = [(g[0], a[0], b[0]) for g, a, b in sorted(
            ((b[1] - a[1],), a, b) for a, b in zip(beats, beats[1:]))[-3:]]
        if timing is not None:
            gaps = sorted(zip(beats, beats[1:]), key=lambda ab: ab[1][1] - ab[0][1], reverse=True)[:3]
            record["blame"] = [[round((b[1] - a[1]) * 1000, 1), list(a[2:]), list(b[2:]), timing.blame(a[1], b[1])]
                               for a, b in gaps]
            record["timing_totals"] = timing.totals()
        gaps = sorted(((b[1] - a[1], b[0] - a[0], a[2:], b[2:]) for a, b in zip(beats, beats[1:])), reverse=True)
        record["longest_block_s"] = gaps[0][0]
        record["longest_blocks"] = gaps[:3]  # (CPU s, wall s, (job, follow-up, writing) before, after)
        record["longest_wall_gap_s"] = max(b[0] - a[0] for a, b in zip(beats, beats[1:]))
        doc.waitForDone()
        record["size_after"] = self.pixel_bytes(doc)
        record["full_layer"] = w * h * 4
        record["nodes"] = self.node_bounds(doc)
        doc.setModified(False)
        doc.close()

    @staticmethod
    def pixel_bytes(doc):
        """The document's pixel data: every layer's and group's extent, 4 bytes a pixel (RGBA 8-bit)."""
        def walk(node):
            for child in node.childNodes():
                yield child
                yield from walk(child)

        total = 0
        for node in walk(doc.rootNode()):
            if node.type() in ("paintlayer", "grouplayer"):
                bounds = node.bounds()
                total += bounds.width() * bounds.height() * 4
        return total

    @staticmethod
    def node_bounds(doc):
        """[name, type, width, height, pass-through] of every layer and mask: where the pixel data is."""
        def walk(node):
            for child in node.childNodes():
                yield child
                yield from walk(child)

        return [[n.name(), n.type(), n.bounds().width(), n.bounds().height(),
                 n.passThroughMode() if hasattr(n, "passThroughMode") else None] for n in walk(doc.rootNode())]

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
        steps = yield from self.undo_all(doc, layer, original, start)
        record["undo_steps"] = steps
        redo = []
        for _ in range(len(steps)):
            yield from self.history_step("edit_redo", doc)
            yield from self.state(doc, layer)
            now = self.last_state
            redo.append({"tree": now["tree"], "source_visible": now["source_visible"],
                         "same_as_result": now["composite"] == done["composite"]})
        record["redo_steps"] = redo
        doc.setModified(False)

    def cancel_keys(self):
        """The docker's Cancel button cancels the job; so do Esc and the window's close button on the
        progress window shown where there is no docker (the docker list emptied for those two)."""
        from layerdecomp_krita.qt import QtCore, QtGui, QtWidgets

        from layerdecomp_krita import docker

        spec = self.cfg["undo_cases"]["opaque"]
        yield from self.open_case("cancel keys", spec)
        doc = self.doc
        controller = self.controller
        for how in ("docker", "escape", "close"):
            record = {"before": _tree(doc.rootNode())}
            self.result["cases"][how] = record
            ended = threading.Event()
            real = controller.run_job
            controller.run_job = held_job(ended)
            count = len(controller.messages)
            dockers = docker.DOCKERS[:]
            if how != "docker":
                docker.DOCKERS.clear()
            try:
                self.k.action(ACTION_ID).trigger()
                dialogs = []

                def dialog_shown():
                    dialogs[:] = [w for w in QtWidgets.QApplication.allWidgets()
                                  if w.objectName() == ("layerdecomp-cancel" if how == "docker" else
                                                        "layerdecomp-progress") and w.isVisible()]
                    return bool(dialogs)

                yield self.wait(dialog_shown, 10, "the progress")
                record["in_docker"] = dialogs[0].parentWidget() is not None
                if how == "docker":
                    dialogs[0].click()
                elif how == "escape":
                    dialogs[0].activateWindow()
                    QtWidgets.QApplication.sendEvent(dialogs[0], QtGui.QKeyEvent(
                        QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Escape, QtCore.Qt.KeyboardModifier.NoModifier))
                else:
                    dialogs[0].close()  # what the window's close button does
                yield self.wait(lambda: controller.job is None, 10, "the job to end")
                yield self.wait(ended.is_set, 10, "the worker to stop")
            finally:
                controller.run_job = real
                docker.DOCKERS[:] = dockers
            record["messages"] = controller.messages[count:]
            record["after"] = _tree(doc.rootNode())
            record["progress_open"] = any(w.objectName() == "layerdecomp-progress" and w.isVisible()
                                          for w in QtWidgets.QApplication.allWidgets())
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
            # Two undo steps: the selection back, then the layers.
            yield from self.history_step("edit_undo", doc)
            yield self.wait(lambda: doc.selection() is not None, 10, "the selection's undo")
            record["selection_back"] = True
            yield from self.history_step("edit_undo", doc)
            yield self.wait(lambda: not any(n.type() == "grouplayer" for n in doc.rootNode().childNodes()), 10,
                            "the undo")
            runs.append(record)
        doc.setModified(False)
