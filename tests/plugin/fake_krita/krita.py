"""A small stand-in for Krita's ``krita`` module: enough of the PyKrita API (as in Krita 5.1) for the
plugin's logic to run outside Krita. Pixels are kept in plain bytearrays, B, G, R, A like Krita's
integer RGBA; the selection is one byte a pixel. Real-Krita behaviour is checked by the kritarunner and
GUI tests; this fake only has to be faithful to the calls the plugin makes.
"""

from __future__ import annotations

import itertools
import uuid

_ids = itertools.count(1)


class _Signal:
    def __init__(self):
        self._slots = []

    def connect(self, slot):
        self._slots.append(slot)

    def emit(self, *args):
        for slot in list(self._slots):
            slot(*args)


class Notifier:
    def __init__(self):
        self.applicationClosing = _Signal()
        self.windowCreated = _Signal()


class Extension:
    def __init__(self, parent=None):
        self._parent = parent


class Selection:
    """Sparse: {(x, y): value} of the selected pixels."""

    def __init__(self):
        self._values = {}

    def _bounds(self):
        if not self._values:
            return (0, 0, 0, 0)
        xs = [p[0] for p in self._values]
        ys = [p[1] for p in self._values]
        return (min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1)

    def x(self):
        return self._bounds()[0]

    def y(self):
        return self._bounds()[1]

    def width(self):
        return self._bounds()[2]

    def height(self):
        return self._bounds()[3]

    def select(self, x, y, w, h, value):
        for yy in range(y, y + h):
            for xx in range(x, x + w):
                self._set(xx, yy, value)

    def _set(self, x, y, value):
        if value:
            self._values[(x, y)] = value
        else:
            self._values.pop((x, y), None)

    def setPixelData(self, data, x, y, w, h):
        data = bytes(data)
        for row in range(h):
            for col in range(w):
                self._set(x + col, y + row, data[row * w + col])

    def pixelData(self, x, y, w, h):
        return bytes(self._values.get((x + col, y + row), 0) for row in range(h) for col in range(w))

    def duplicate(self):
        copy = Selection()
        copy._values = dict(self._values)
        return copy


class Node:
    def __init__(self, document, name, kind, model="RGBA", depth="U8", profile="sRGB-elle-V2-srgbtrc.icc"):
        self._doc = document
        self._name = name
        self._type = kind
        self._model, self._depth, self._profile = model, depth, profile
        self._pixels = bytearray(document.width() * document.height() * self._bpp())
        self._children = []
        self._parent = None
        self._visible = True
        self._opacity = 255
        self._blending = "normal"
        self._uid = uuid.uuid4()
        # Tests set this to make addChildNode fail, as Krita's does for impossible moves.
        self.refuse_children = False

    def _bpp(self):
        return {"U8": 1, "U16": 2, "F16": 2, "F32": 4}[self._depth] * (1 if self._type.endswith("mask") else 4)

    # identity and properties
    def name(self):
        return self._name

    def setName(self, name):
        self._name = name

    def type(self):
        return self._type

    def uniqueId(self):
        return self._uid

    def colorModel(self):
        return self._model

    def colorDepth(self):
        return self._depth

    def colorProfile(self):
        return self._profile

    def setColorSpace(self, model, depth, profile):
        self._model, self._depth, self._profile = model, depth, profile
        self._pixels = bytearray(self._doc.width() * self._doc.height() * self._bpp())
        return True

    def visible(self):
        return self._visible

    def setVisible(self, value):
        self._visible = bool(value)

    def opacity(self):
        return self._opacity

    def setOpacity(self, value):
        self._opacity = int(value)

    def blendingMode(self):
        return self._blending

    def setBlendingMode(self, mode):
        self._blending = mode
        self._doc.undo_log.append("Composition Mode Change")  # Krita 5.1 records it, on or off the tree

    def passThroughMode(self):  # (a GroupLayer's; not recorded on the undo stack)
        return getattr(self, "_pass_through", False)

    def setPassThroughMode(self, value):
        self._pass_through = bool(value)

    # pixels
    def pixelData(self, x, y, w, h):
        bpp, width, height = self._bpp(), self._doc.width(), self._doc.height()
        out = bytearray(w * h * bpp)
        for row in range(h):
            yy = y + row
            if not 0 <= yy < height:
                continue
            x0, x1 = max(x, 0), min(x + w, width)
            if x0 >= x1:
                continue
            src = (yy * width + x0) * bpp
            dst = (row * w + x0 - x) * bpp
            out[dst:dst + (x1 - x0) * bpp] = self._pixels[src:src + (x1 - x0) * bpp]
        return bytes(out)

    def setPixelData(self, data, x, y, w, h):
        data = bytes(data)
        bpp, width, height = self._bpp(), self._doc.width(), self._doc.height()
        for row in range(h):
            yy = y + row
            x0, x1 = max(x, 0), min(x + w, width)
            if not 0 <= yy < height or x0 >= x1:
                continue
            dst = (yy * width + x0) * bpp
            src = (row * w + x0 - x) * bpp
            self._pixels[dst:dst + (x1 - x0) * bpp] = data[src:src + (x1 - x0) * bpp]
        return True

    # tree
    def childNodes(self):
        return list(self._children)

    def parentNode(self):
        return self._parent

    def addChildNode(self, child, above):
        if self.refuse_children:
            return False
        if child._parent is not None:
            child._parent._children.remove(child)
        index = 0 if above is None else self._children.index(above) + 1
        if above is None:
            index = len(self._children)  # Krita: None puts the node on top
        self._children.insert(index, child)
        child._parent = self
        self._doc.undo_log.append("Add Layer")  # Krita 5.1 records it even for a parent off the tree
        return True

    def setChildNodes(self, nodes):
        """As Krita 5.1's: replaces the children (bottom first), and records nothing on the undo stack."""
        for child in self._children:
            child._parent = None
        self._children = []
        for child in nodes:
            if child._parent is not None:
                child._parent._children.remove(child)
            self._children.append(child)
            child._parent = self

    def remove(self):
        if self._parent is None:
            return False
        self._parent._children.remove(self)
        self._parent = None
        self._doc.undo_log.append("Remove Layer")
        return True

    def duplicate(self):
        copy = Node(self._doc, self._name, self._type, self._model, self._depth, self._profile)
        copy._pixels = bytearray(self._pixels)
        copy._visible, copy._opacity, copy._blending = self._visible, self._opacity, self._blending
        copy.setChildNodes([child.duplicate() for child in self._children])
        return copy


class Document:
    def __init__(self, width, height, model="RGBA", depth="U8"):
        self._w, self._h = width, height
        # The names of the undo steps Krita would record, oldest first (as in Krita 5.1: adding and removing
        # nodes and blending-mode changes are recorded; visibility, opacity and pixel writes are not).
        self.undo_log = []
        self._root = Node(self, "root", "grouplayer", model, depth)
        self._root.setChildNodes([Node(self, "Background", "paintlayer", model, depth)])
        self._selection = None
        self._active = self._root.childNodes()[0]
        self.closed = False
        self._file_name = ""
        self._title = ""

    def fileName(self):
        return self._file_name

    def setFileName(self, path):
        self._file_name = path

    def name(self):
        return self._title

    def setName(self, title):
        self._title = title

    def width(self):
        return self._w

    def height(self):
        return self._h

    def rootNode(self):
        return self._root

    def createNode(self, name, kind):
        return Node(self, name, kind, self._root.colorModel(), self._root.colorDepth())

    def activeNode(self):
        return self._active

    def setActiveNode(self, node):
        self._active = node

    def selection(self):
        return self._selection.duplicate() if self._selection is not None else None

    def setSelection(self, selection):
        self._selection = selection.duplicate() if selection is not None else None

    def refreshProjection(self):
        pass

    def waitForDone(self):
        pass

    def close(self):
        self.closed = True
        Krita.instance()._documents.remove(self)
        return True


class Krita:
    _instance = None

    def __init__(self):
        self._settings = {}
        self._documents = []
        self._active_document = None
        self._batch = True
        self._notifier = Notifier()
        self.extensions = []

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = Krita()
        return cls._instance

    def readSetting(self, group, key, default):
        return self._settings.get((group, key), default)

    def writeSetting(self, group, key, value):
        self._settings[(group, key)] = value

    def batchmode(self):
        return self._batch

    def setBatchmode(self, value):
        self._batch = bool(value)

    def notifier(self):
        return self._notifier

    def addExtension(self, extension):
        self.extensions.append(extension)

    def activeWindow(self):
        return None

    def documents(self):
        return list(self._documents)

    def activeDocument(self):
        return self._active_document

    def createDocument(self, width, height, name="", model="RGBA", depth="U8", profile="", resolution=72.0):
        doc = Document(width, height, model, depth)
        self._documents.append(doc)
        self._active_document = doc
        return doc


class DockWidgetFactoryBase:
    DockRight = "right"


class DockWidgetFactory:
    def __init__(self, name, position, klass):
        self.name, self.position, self.klass = name, position, klass


def _add_dock_widget_factory(self, factory):
    self.dock_factories = getattr(self, "dock_factories", []) + [factory]


Krita.addDockWidgetFactory = _add_dock_widget_factory


def __getattr__(name):
    """``DockWidget``: Krita's is a QDockWidget; made from the binding already loaded, else the one the
    plugin's chooser picks (Qt is imported only when this is asked for: the rest of the fake needs none)."""
    if name == "DockWidget":
        from layerdecomp_krita.qt import QtWidgets

        class DockWidget(QtWidgets.QDockWidget):
            def canvasChanged(self, canvas):
                pass

        globals()["DockWidget"] = DockWidget
        return DockWidget
    raise AttributeError(name)
