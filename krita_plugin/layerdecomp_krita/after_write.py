"""What follows a result's writing and needs Krita's event loop in between: covering a semi-transparent
source in a group of its own, Krita 5.1's transparency mask, showing a group inserted hidden for it, hiding
the source layer undoably, making the Object the active layer and dropping the selection.

Krita activates a node the scripting API asked for (``setActiveNode``) only after its event loop has run,
and it may still activate the inserted group after that. So these are steps of a small script that a
GUI-thread timer advances (``step()``), each waiting for what Krita shows, never for a fixed time:

0. A semi-transparent source (``Written.cover_in_group``): Krita's "Quick Group" action puts it in a group
   of its own (an undo step; the same picture), then the result group (pass-through, its "erase" hole
   layer at the bottom) is inserted above it there (a second step): it replaces the source exactly inside
   the result's box, so every undo step shows the original picture (no order of hiding the source and
   showing the result can: one of them would show both, or neither).
1. Krita 5.1 only: swap the recovered-hidden-parts layer for a transparency mask (``visibility_mask``),
   inside the group, which was inserted hidden for this (``Written.show_group``); then show the group
   with Krita's own "Toggle layer visibility" action (an undo step).
2. Hide the source layer, where the result does not cover it (``Written.hide_source``), with the same
   action: unlike ``Node.setVisible`` it is an undo step, so Ctrl+Z shows the source again. It comes after
   the insertion on the undo stack, so undoing it first leaves the result over the source, never a blank
   canvas. Without a view of the document (a script, batch mode) the source is hidden without an undo step.
3. Activate the Object layer, until Krita reports it active on three ticks in a row.
4. Drop the selection, so that the move tool carries all of the Object (it reaches a few pixels beyond
   the selection): Krita's own "Deselect" action, the last undo step (the scripting API can neither add
   to the insertion's step nor name it), so the first Ctrl+Z brings the selection back, the next the
   layers. Without a view, ``Document.setSelection(None)`` (no undo step).

``SourceAfterUndo`` then watches the document: when the result group leaves it (the artist's undo),
Krita leaves no layer active; the source layer is made active again, so Decompose Selection can run
again at once.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

from . import canvas

log = logging.getLogger("layerdecomp_krita")

TOGGLE_VISIBILITY = "toggle_layer_visibility"
QUICK_GROUP = "create_quick_group"
DESELECT = "deselect"
MAX_TICKS = 60  # at the controller's 50 ms timer: how long one step waits for Krita (about 3 s)
STABLE_TICKS = 3


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a.uniqueId() == b.uniqueId()


def _has_selection(document: Any) -> bool:
    selection = document.selection()
    return selection is not None and selection.width() > 0 and selection.height() > 0


class SourceAfterUndo:
    """Run on a slow timer after a split (``step()``; True when there is nothing more to watch): each time
    the result group leaves the document while the source layer is still in it (undo), make the source
    the active layer. Ends when the document closes or the source layer goes."""

    def __init__(self, krita: Any, document: Any, source_node: Any, group: Any) -> None:
        self.krita, self.document, self.source_node, self.group = krita, document, source_node, group
        self._group_was_in = True
        self._activating: Optional[Iterator[None]] = None
        self._stepping = False

    def step(self) -> bool:
        if self._stepping:  # (a tick inside Krita's event loop run from one of our calls: see AfterWrite)
            return False
        self._stepping = True
        try:
            return self._step()
        finally:
            self._stepping = False

    def _step(self) -> bool:
        try:
            doc = self.document
            if not any(d == doc for d in self.krita.documents()) or not canvas.contains_node(doc, self.source_node):
                return True
            group_in = canvas.contains_node(doc, self.group)
            if self._group_was_in and not group_in:
                self._activating = _keep_active(doc, self.source_node)
            self._group_was_in = group_in
            if self._activating is not None:
                try:
                    next(self._activating)
                except StopIteration:
                    self._activating = None
            return False
        except Exception:  # the document is going: nothing to watch
            log.exception("watching for the split's undo failed")
            return True


def _keep_active(doc: Any, node: Any) -> Iterator[None]:
    """Make ``node`` active until Krita reports it so on STABLE_TICKS ticks in a row (see the docstring)."""
    stable = 0
    for _tick in range(MAX_TICKS):
        if not canvas.contains_node(doc, node):
            return
        if _same(doc.activeNode(), node):
            stable += 1
            if stable >= STABLE_TICKS:
                return
        else:
            stable = 0
            doc.setActiveNode(node)
        yield
    log.info("Krita did not keep %s active", node.name())


class AfterWrite:
    def __init__(self, krita: Any, document: Any, source_node: Any, written: canvas.Written,
                 mask_upgrade: Optional[Any] = None) -> None:
        self.krita, self.document, self.source_node, self.written = krita, document, source_node, written
        self.mask_upgrade = mask_upgrade
        self.hid_source_undoably: Optional[bool] = None  # None: nothing to hide
        self._script = self._run()
        self._stepping = False

    def step(self) -> bool:
        """One timer tick. True when everything is done (or given up)."""
        if self._stepping:
            # Krita ran its event loop inside one of our calls (its Deselect does in Krita 6; Quick Group's
            # stroke may) and the timer ticked again: that tick waits for the step under way.
            return False
        self._stepping = True
        try:
            next(self._script)
            return False
        except StopIteration:
            return True
        except Exception:  # Krita surprised us: the result stays as written, which is a valid state
            log.exception("the steps after writing the result failed")
            return True
        finally:
            self._stepping = False

    def _run(self) -> Iterator[None]:
        if self.written.cover_in_group:
            covered = yield from self._cover_in_group()
            if not covered:  # as for any source the group does not cover: above it, the source hidden
                log.warning("could not group %s with its result; hiding it instead", self.source_node.name())
                canvas.uncover(self.source_node, self.written)
                canvas.insert_above(self.document, self.source_node, self.written.group)
                hidden = yield from self._toggle(self.source_node, visible=False, other=self.written.group)
                self.hid_source_undoably = hidden
                if not hidden:
                    canvas.set_visible_without_undo(self.source_node, False)
        if self.mask_upgrade is not None:
            while not self.mask_upgrade.step():
                yield
        if self.written.show_group:
            # The group went in hidden so that Krita 5.1's mask could be made without a picture change:
            # showing it is its own undo step, before the source's, so each undo step shows the picture.
            shown = yield from self._toggle(self.written.group, visible=True, other=self.source_node)
            if not shown:
                canvas.set_visible_without_undo(self.written.group, True)
        if self.written.hide_source:
            hidden = yield from self._toggle(self.source_node, visible=False, other=self.written.group)
            self.hid_source_undoably = hidden
            if not hidden:
                canvas.set_visible_without_undo(self.source_node, False)
        yield from self._activate(self.written.obj)
        yield from self._deselect()

    def _deselect(self) -> Iterator[None]:
        doc = self.document
        if not _has_selection(doc) or not canvas.contains_node(doc, self.written.group):
            return
        if self._has_view():
            action = self.krita.action(DESELECT)
            if action is not None:
                action.trigger()
                for _tick in range(MAX_TICKS):  # Krita applies it through its own job queue
                    if not _has_selection(doc):
                        log.info("dropped the selection (one undo step)")
                        return
                    yield
            log.warning("Krita's Deselect action left the selection; dropping it directly")
        doc.setSelection(None)

    def _has_view(self) -> bool:
        return (hasattr(self.krita, "action") and self.krita.activeWindow() is not None
                and self.krita.activeDocument() == self.document)

    def _toggle(self, node: Any, visible: bool, other: Any) -> Iterator[None]:
        """Make ``node`` visible or hidden with Krita's undoable action; returns whether that worked
        (``other``: a node that must not change with it). Nothing is done when it is so already."""
        if not canvas.contains_node(self.document, node) or node.visible() == visible:
            return True
        selected = yield from self._select_only(node)
        if not selected:
            return False
        if node.visible() == visible:
            return True
        action = self.krita.action(TOGGLE_VISIBILITY)
        other_visible = other.visible()
        if action is not None:
            action.trigger()
        if node.visible() == visible and other.visible() == other_visible:
            log.info("%s %s (one undo step)", "showed" if visible else "hid", node.name())
            return True
        log.warning("Krita's visibility action did not change just %s; setting it directly", node.name())
        other.setVisible(other_visible)
        return False

    def _cover_in_group(self) -> Iterator[None]:
        """Put the source in a group of its own with Krita's "Quick Group" (one undo step; the picture is
        the same), then insert the result group above it there (a second step): it replaces the source
        exactly (``canvas``: the hole). Returns whether that was done; False leaves the document as it was."""
        node, group = self.source_node, self.written.group
        before = node.parentNode()
        selected = yield from self._select_only(node)
        if not selected:
            return False
        action = self.krita.action(QUICK_GROUP)
        if action is None:
            return False
        for _tick in range(MAX_TICKS):  # Krita disables its layer actions while a stroke runs
            if getattr(action, "isEnabled", lambda: True)():
                break
            yield
        action.trigger()
        for _tick in range(MAX_TICKS):
            wrapper = node.parentNode()
            if wrapper is not None and not _same(wrapper, before):
                break
            yield
        else:
            return False
        if [c.uniqueId() for c in wrapper.childNodes()] != [node.uniqueId()]:
            # (The same picture still; but the hole would erase those layers too.)
            log.warning("Krita's Quick Group took other layers with %s", node.name())
            return False
        # Krita 5.2+ groups in a stroke and activates a layer when it ends: let that settle first, or it
        # may take the Object's activation away afterwards. (Waiting with waitForDone would run Krita's
        # event loop, and this script's timer, inside this step.)
        yield from self._settle_active()
        name = group.name()
        group.setName(f"{name} – result")
        wrapper.setName(name)
        # (No refreshProjection: adding the group updates its area; a full refresh blocks the GUI.)
        if not wrapper.addChildNode(group, node):
            return False
        log.info("covered %s with its result in a group of its own (two undo steps)", node.name())
        return True

    def _settle_active(self) -> Iterator[None]:
        """Wait until Krita's active layer has stayed the same for a few ticks."""
        last, stable = None, 0
        for _tick in range(MAX_TICKS):
            active = self.document.activeNode()
            stable = stable + 1 if _same(active, last) else 0
            if stable >= STABLE_TICKS:
                return
            last = active
            yield

    def _select_only(self, node: Any) -> Iterator[None]:
        """Make ``node`` the active layer and the layer docker's only selection (Krita's layer actions act on
        that selection, which follows the active node a moment later); returns whether that happened."""
        doc = self.document
        stable = 0  # ticks in a row Krita has reported the node active and alone selected
        for _tick in range(MAX_TICKS):
            if not canvas.contains_node(doc, node) or not hasattr(self.krita, "action"):
                return False
            if self.krita.activeWindow() is None:
                return False  # no window at all: nothing to wait for
            if not self._has_view():
                yield  # another document's view is in front: wait for the artist to come back
                continue
            if not _same(doc.activeNode(), node):
                stable = 0
                doc.setActiveNode(node)
                yield
                continue
            view = self.krita.activeWindow().activeView()
            selected = view.selectedNodes() if view is not None and hasattr(view, "selectedNodes") else [node]
            if [n.uniqueId() for n in selected] != [node.uniqueId()]:
                stable = 0
                yield
                continue
            stable += 1
            if stable >= STABLE_TICKS:
                return True
            yield
        return False

    def _activate(self, obj: Any) -> Iterator[None]:
        yield from _keep_active(self.document, obj)
