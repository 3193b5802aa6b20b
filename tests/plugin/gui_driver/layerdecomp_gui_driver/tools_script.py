"""The driver's third script: what an artist does right after a split, with Krita's own input paths.

- The move tool, dragged with the mouse over the canvas after a split: the whole Object moves (no rim
  left behind, nothing clipped), the clean plate and the source stay as they were.
- The menu item and the docker's button greyed with nothing selected; the shortcut then says what to do.
- Esc cancels a job whose progress is in the docker.
- A small selection on a 6000x4000 transparent layer: the document's size and the GUI's longest block.

Mouse and keys go through Qt's window-system entry points (``QTest`` on the main window's ``QWindow``: the
path a real X event takes after xcb), so Krita's input manager, shortcut map and tools see them as an
artist's. The network job is replaced by the library's result, as in ``undo_script``.
"""

import importlib
import threading
import time

from .undo_script import ACTION_ID, UndoScript, _tree, held_job

MOVE_TOOL = "KritaTransform/KisToolMove"
OTHER_TOOL = "KritaSelected/KisToolColorSampler"  # any other tool: switching ends the move tool's stroke
MARGIN = 64  # read the Object this far beyond the canvas too: a move may carry pixels past its edge


def _qt():
    from layerdecomp_krita.qt import BINDING, QtCore, QtGui, QtWidgets

    return QtCore, QtGui, QtWidgets, importlib.import_module(BINDING + ".QtTest")


def _canvas_widget(main_window):
    """The view's canvas: Krita's OpenGL canvas or its QPainter one, whichever this Krita uses."""
    _, _, QtWidgets, _ = _qt()
    found = [w for w in QtWidgets.QApplication.allWidgets()
             if w.metaObject().className() in ("KisOpenGLCanvas2", "KisQPainterCanvas") and w.isVisible()
             and w.window() is main_window]
    return found[0] if found else None


def _shifted(data, w, h, dx, dy, bpp=4):
    """``data`` (w x h, ``bpp`` bytes a pixel) moved by (dx, dy), transparent where nothing comes in."""
    out = bytearray(len(data))
    for row in range(h):
        src_row = row - dy
        if not 0 <= src_row < h:
            continue
        x0, x1 = max(0, dx), min(w, w + dx)
        if x0 >= x1:
            continue
        src = (src_row * w - dx) * bpp
        out[(row * w + x0) * bpp:(row * w + x1) * bpp] = data[src + x0 * bpp:src + x1 * bpp]
    return bytes(out)


class ToolsScript(UndoScript):
    def run(self):
        spec = self.cfg["undo_cases"]["opaque"]
        yield from self.move_tool(spec)
        yield from self.greyed(spec)
        yield from self.escape_in_docker(spec)
        # A transparent layer: soft alpha everywhere (so the result cannot simply cover it).
        yield from self.big_canvas("big transparent", alpha=lambda x: 60 + (x * 13) % 180)

    def close(self, doc):
        doc.setModified(False)
        doc.close()
        yield self.wait(lambda: True, 1, "")

    # -- the move tool -------------------------------------------------------------------------------

    def move_tool(self, spec):
        QtCore, QtGui, QtWidgets, QtTest = _qt()
        Qt = QtCore.Qt
        k = self.k
        yield from self.open_case("move", spec)
        doc, layer = self.doc, self.layer
        record = {}
        self.result["cases"]["move"] = record
        yield from self.decompose(record, self.fake_job(spec, doc, layer))
        written = self.controller.last_written
        obj, plate = written.obj, written.background
        w, h = doc.width(), doc.height()
        W, H = w + 2 * MARGIN, h + 2 * MARGIN

        def read(node):
            return bytes(node.pixelData(-MARGIN, -MARGIN, W, H).data())

        before = {"object": read(obj), "plate": read(plate), "source": read(layer)}
        record["active"] = doc.activeNode().name() if doc.activeNode() else None
        record["selection"] = doc.selection() is not None and doc.selection().width() > 0
        record["object_bounds_before"] = list(obj.bounds().getRect())

        main = k.activeWindow().qwindow()
        main.activateWindow()
        k.action(MOVE_TOOL).trigger()
        yield self.wait(lambda: True, 1, "the move tool")
        canvas = _canvas_widget(main)
        record["canvas"] = canvas.metaObject().className() if canvas is not None else None
        if canvas is None:
            return
        canvas.setFocus()
        # Where the Object is on screen: the view's transforms (image pixels -> document -> canvas widget).
        view = k.activeWindow().activeView()
        bx, by, bw, bh = record["object_bounds_before"]
        centre = QtCore.QPointF(bx + bw / 2, by + bh / 2)
        to_canvas = None
        if hasattr(view, "flakeToImageTransform") and hasattr(view, "flakeToCanvasTransform"):
            image_to_flake, _ok = view.flakeToImageTransform().inverted()
            to_canvas = lambda p: view.flakeToCanvasTransform().map(image_to_flake.map(p))  # noqa: E731
        start = to_canvas(centre).toPoint() if to_canvas else canvas.rect().center()
        record["press_at"] = [start.x(), start.y()]
        window = main.windowHandle()
        drag = QtCore.QPoint(60, 36)  # on screen; the Object moves by this over the zoom
        path = [start + QtCore.QPoint(round(drag.x() * i / 6), round(drag.y() * i / 6)) for i in range(7)]
        left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        record["zoom"] = view.canvas().zoomLevel() if hasattr(view.canvas(), "zoomLevel") else None

        # The window-system path, as an X event arrives (positions in the window's coordinates).
        QtTest.QTest.mouseMove(window, canvas.mapTo(main, path[0]))
        yield self.wait(lambda: True, 1, "")
        QtTest.QTest.mousePress(window, left, none, canvas.mapTo(main, path[0]))
        for point in path[1:]:
            yield self.wait(lambda: True, 1, "")
            QtTest.QTest.mouseMove(window, canvas.mapTo(main, point))
        yield self.wait(lambda: True, 1, "")
        QtTest.QTest.mouseRelease(window, left, none, canvas.mapTo(main, path[-1]))

        def moved():
            return list(obj.bounds().getRect()) != record["object_bounds_before"]

        until = time.monotonic() + 5
        yield self.wait(lambda: moved() or time.monotonic() > until, 10, "the Object to move")
        # The move tool keeps its stroke open for more nudges; another tool ends it (as an artist's next step).
        k.action(OTHER_TOOL).trigger()
        doc.waitForDone()
        until = time.monotonic() + 2
        yield self.wait(lambda: time.monotonic() > until, 5, "the move to settle")
        after = {"object": read(obj), "plate": read(plate), "source": read(layer)}
        record["object_bounds_after"] = list(obj.bounds().getRect())
        dx = record["object_bounds_after"][0] - record["object_bounds_before"][0]
        dy = record["object_bounds_after"][1] - record["object_bounds_before"][1]
        record["moved_by"] = [dx, dy]
        record["object_moved_whole"] = after["object"] == _shifted(before["object"], W, H, dx, dy)
        record["object_alpha_sum"] = [sum(before["object"][3::4]), sum(after["object"][3::4])]
        record["plate_unchanged"] = after["plate"] == before["plate"]
        record["source_unchanged"] = after["source"] == before["source"]
        record["undo_text"] = k.action("edit_undo").text()
        yield from self.close(doc)

    # -- greyed with nothing selected -----------------------------------------------------------------

    def greyed(self, spec):
        QtCore, QtGui, QtWidgets, QtTest = _qt()
        Qt = QtCore.Qt
        from layerdecomp_krita import docker

        k = self.k
        yield from self.open_case("greyed", spec)
        doc = self.doc
        record = {}
        self.result["cases"]["greyed"] = record
        main = k.activeWindow().qwindow()
        action = k.action(ACTION_ID)
        menus = [a.menu() for a in main.menuBar().actions() if a.menu() is not None and a.objectName() == "Select"]
        panels = [p for p in docker.DOCKERS if p.window() is main]
        record["menu_found"], record["docker_found"] = bool(menus), bool(panels)

        def look(label):
            state = {}
            if menus:
                menus[0].popup(QtCore.QPoint(20, 20))
                state["in_menu"] = action.isEnabled()
                menus[0].hide()
                state["after_menu"] = action.isEnabled()
            if panels:
                state["button"] = panels[0].decompose_button.isEnabled()
                state["button_tip"] = panels[0].decompose_button.toolTip()
            record[label] = state

        until = time.monotonic() + 1
        yield self.wait(lambda: time.monotonic() > until, 3, "the docker's look")
        look("selected")
        doc.setSelection(None)
        until = time.monotonic() + 1
        yield self.wait(lambda: time.monotonic() > until, 3, "the docker's look")
        look("nothing_selected")
        # The shortcut, with nothing selected: the plain message (the action is never left disabled).
        count = len(self.controller.messages)
        main.activateWindow()
        canvas = _canvas_widget(main)
        target = canvas if canvas is not None else main
        target.setFocus()
        QtTest.QTest.keyClick(main.windowHandle(), Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier
                              | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier)
        until = time.monotonic() + 3
        yield self.wait(lambda: len(self.controller.messages) > count or time.monotonic() > until, 5, "the message")
        record["shortcut_messages"] = self.controller.messages[count:]
        self.driver.close_message_boxes()
        yield from self.close(doc)

    # -- Esc in the docker --------------------------------------------------------------------------------

    def escape_in_docker(self, spec):
        QtCore, QtGui, QtWidgets, QtTest = _qt()
        Qt = QtCore.Qt

        k = self.k
        yield from self.open_case("escape", spec)
        doc = self.doc
        controller = self.controller
        record = {"before": self.tree(doc)}
        self.result["cases"]["escape in docker"] = record
        ended = threading.Event()
        real = controller.run_job
        controller.run_job = held_job(ended)
        count = len(controller.messages)
        try:
            k.action(ACTION_ID).trigger()
            shown = []

            def cancel_shown():
                shown[:] = [w for w in QtWidgets.QApplication.allWidgets()
                            if w.objectName() == "layerdecomp-cancel" and w.isVisible()]
                return bool(shown)

            yield self.wait(cancel_shown, 10, "the progress in the docker")
            record["in_docker"] = shown[0].parentWidget() is not None
            main = k.activeWindow().qwindow()
            main.activateWindow()
            canvas = _canvas_widget(main)
            (canvas if canvas is not None else main).setFocus()
            QtTest.QTest.keyClick(main.windowHandle(), Qt.Key.Key_Escape)
            until = time.monotonic() + 3
            yield self.wait(lambda: controller.job is None or time.monotonic() > until, 5, "the job to end")
            record["job_ended"] = controller.job is None
            yield self.wait(lambda: ended.is_set() or controller.job is not None, 10, "the worker to stop")
            if controller.job is not None:  # Esc did nothing: end it for the next case
                controller.cancel()
        finally:
            controller.run_job = real
        record["messages"] = controller.messages[count:]
        record["after"] = self.tree(doc)
        record["worker_stopped"] = ended.is_set()
        self.driver.close_message_boxes()
        yield from self.close(doc)

    @staticmethod
    def tree(doc):
        return _tree(doc.rootNode())

