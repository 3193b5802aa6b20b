"""A transparency mask that hides an Object layer's recovered hidden parts, made on Krita 5.1.

Krita 5.1's scripting cannot fill a transparency mask made with ``createNode`` (it has no pixel data).
Krita's own "Add Transparency Mask" action can: it initialises the new mask from the global selection,
on the active node of the active view. Krita activates a node just inserted only after its event loop
has run (``setActiveNode`` is ignored until then), so this is a follow-up step: the result is written
first with the recovered parts on a hidden layer (the same picture), then ``MaskUpgrade.step`` (called
from a timer) waits for the Object to be active, and swaps that layer for a mask:

1. with the visibility as the selection, trigger the action (synchronous: the mask exists when
   ``trigger()`` returns), check the mask's pixels, put the artist's selection back;
2. give the Object its hidden parts back (the mask hides them) and remove the hidden-parts layer.

The picture is the same after every step. Anything unexpected leaves the hidden-layer layout as it is.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Optional

log = logging.getLogger("layerdecomp_krita")

ACTION_ID = "add_new_transparency_mask"
MAX_TICKS = 40  # at the controller's 50 ms pump: about 2 s for Krita to activate the Object


def _bytes(data: Any) -> bytes:
    return data.data() if hasattr(data, "data") else bytes(data)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _masks(layer: Any) -> dict:
    return {c.uniqueId(): c for c in layer.childNodes() if c.type() == "transparencymask"}


def _in_document(document: Any, node: Any) -> bool:
    uid = node.uniqueId()
    stack = list(document.rootNode().childNodes())
    while stack:
        current = stack.pop()
        if current.uniqueId() == uid:
            return True
        stack.extend(current.childNodes())
    return False


def add_by_action(krita: Any, document: Any, layer: Any, visibility: bytes, x: int, y: int, w: int, h: int,
                  name: str) -> Optional[Any]:
    """Add a transparency mask to ``layer`` (the active node of the active view's ``document``) equal to
    ``visibility`` (A8, w*h bytes at x, y; 0 elsewhere). Returns the mask, or None (then nothing is left
    behind). The document's selection is the same afterwards."""
    action = krita.action(ACTION_ID) if hasattr(krita, "action") else None
    active = document.activeNode()
    # The action acts on the active view's active node: never let it touch anything else.
    if action is None or krita.activeDocument() != document or active is None \
            or active.uniqueId() != layer.uniqueId():
        return None
    from krita import Selection

    saved = document.selection()
    saved = saved.duplicate() if saved is not None else None
    before = _masks(layer)
    mask = None
    try:
        wanted = Selection()
        wanted.setPixelData(visibility, x, y, w, h)
        document.setSelection(wanted)
        action.trigger()
        made = [m for uid, m in _masks(layer).items() if uid not in before]
        if len(made) != 1:
            log.info("no transparency mask: Krita's action made %d masks on the Object", len(made))
            # Krita activates the mask it made: one made elsewhere (the active node changed under us) goes too.
            stray = document.activeNode()
            if stray is not None and stray.type() == "transparencymask" \
                    and stray.parentNode().uniqueId() != layer.uniqueId():
                made.append(stray)
            for extra in made:
                extra.remove()
            return None
        mask = made[0]
        if _bytes(mask.pixelData(x, y, w, h)) != visibility:
            log.warning("the transparency mask Krita made does not match the visibility; not using it")
            mask.remove()
            return None
        mask.setName(name)
        return mask
    except Exception:
        log.exception("adding the transparency mask failed")
        if mask is not None:
            mask.remove()
        return None
    finally:
        document.setSelection(saved)


class MaskUpgrade:
    """Swap the hidden-parts layer of a freshly written result for a transparency mask on the Object."""

    def __init__(self, krita: Any, document: Any, obj: Any, hidden_layer: Any, foreground: bytes,
                 visibility: bytes, x: int, y: int, w: int, h: int, name: str) -> None:
        self.krita, self.document, self.obj, self.hidden_layer = krita, document, obj, hidden_layer
        self.foreground, self.visibility = foreground, visibility
        self.x, self.y, self.w, self.h = x, y, w, h
        self.name = name
        self.seen = _digest(_bytes(obj.pixelData(x, y, w, h)))
        self.ticks = 0
        self.mask: Any = None  # set once made

    def step(self) -> bool:
        """One try (timer callback). True when finished, with the mask or without it."""
        self.ticks += 1
        if not hasattr(self.krita, "action"):
            return True
        if self.ticks > MAX_TICKS:
            log.info("no transparency mask: Krita did not activate the Object layer in time; the hidden parts "
                     "stay on their own hidden layer")
            return True
        doc = self.document
        if self.krita.activeDocument() != doc:
            return False  # another view is active: wait for the artist to come back (until MAX_TICKS)
        if not (_in_document(doc, self.obj) and _in_document(doc, self.hidden_layer)) \
                or _digest(_bytes(self.obj.pixelData(self.x, self.y, self.w, self.h))) != self.seen:
            log.info("no transparency mask: the result's layers changed meanwhile")
            return True
        active = doc.activeNode()
        if active is None or active.uniqueId() != self.obj.uniqueId():
            doc.setActiveNode(self.obj)
            return False
        mask = add_by_action(self.krita, doc, self.obj, self.visibility, self.x, self.y, self.w, self.h,
                             self.name)
        if mask is None:
            return True
        try:
            self.obj.setPixelData(self.foreground, self.x, self.y, self.w, self.h)
            self.hidden_layer.remove()
        except Exception:
            log.exception("moving the hidden parts under the transparency mask failed")
        doc.setActiveNode(self.obj)
        doc.refreshProjection()
        self.mask = mask
        return True
