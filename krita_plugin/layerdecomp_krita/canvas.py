"""Reading the source pixels from Krita and writing the result layers back.

The document is only read until a complete result is in hand; then ``write_result`` adds one group
above the source layer ("Flower (split)": "Flower – clean plate" = the picture with the object removed,
"Flower – object" = the object; for a selection of separate parts split one layer per part, "Flower –
object 1" (bottom) ... "Flower – object n" (top) over the plate) in ONE undoable step: the group is
assembled off the layer tree (with ``setChildNodes``, which Krita does not record) and inserted with one
``addChildNode``. So the artist's first Ctrl+Z removes it and shows the picture exactly as before.

Small results stay small. Where the result covers the source exactly inside the result's box (the source
is opaque or empty there, normal blending, full opacity: a photo), the source stays visible underneath and
the clean plate holds only that box: a small selection on a big canvas adds a small layer, not a copy of
the canvas (nor a group projection the canvas's size). Otherwise (soft edges or semi-transparent paint
in the box, opacity, blending, masks) the source must be hidden or replaced, so the clean plate is a
duplicate of the whole layer with the box replaced (a painted layer's extent is only what was painted),
except where the source is covered in a group of its own (below): there the clean plate is the box too.

The source layer is not hidden here: ``Node.setVisible`` is not undoable in Krita 5.1, and a source hidden
that way would stay hidden after the undo (a blank canvas). Where the result covers the source exactly
(above: a small clean plate) it needs no hiding: it stays visible underneath. A semi-transparent source
(normal blending, full opacity) in a document with a view is covered too: the follow-up (``after_write``)
puts it in a group of its own with Krita's undoable "Quick Group" and inserts the result group above it
there (``Written.cover_in_group``). That result group is pass-through, and its bottom layer, "<name> –
hole", is opaque over the result's box with the "erase" blending: inside the source's own group it erases
the source there, exactly (alpha times 0), and nothing outside the box or below that group; the clean plate
(the box alone) and the Object then composite over the hole. Otherwise ``Written.hide_source`` tells the
follow-up to hide it through Krita's own undoable "Toggle layer visibility" action.

Integer RGBA pixel data from Krita is B, G, R, A; it travels to the server as is (``BGRA8``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Optional

from . import messages, visibility_mask
from .region import GROW, Rect, all_selected, plan_crop, tight_bounds

log = logging.getLogger("layerdecomp_krita")

VISIBLE_MASK_NAME = "Visible part"
# Krita's "Erase" blending: the layer removes what is below it (in its group) where it is opaque. Unlike
# "Copy" (which replaces everything below, box or not, hence needed a copy of the whole layer), it acts
# only where the layer has pixels.
HOLE_BLENDING = "erase"


def _bytes(data: Any) -> bytes:
    """A QByteArray (or bytes) as bytes."""
    return data.data() if hasattr(data, "data") else bytes(data)


@dataclass(frozen=True)
class Names:
    """The result's layer names: the source's label first (the layers docker cuts long names at the end),
    then the role."""

    group: str
    object: str
    background: str
    hidden_parts: str
    hole: str = ""


# Every opened photo's single layer is called this: the names then come from the document instead.
GENERIC_LAYER_NAMES = ("background", "")


def source_label(document: Any, node: Any, x: int, y: int) -> str:
    """What the result is named after: the layer's name; for a layer called "Background", the document's
    file name (or title); failing that the object's position on the canvas."""
    name = node.name().strip()
    if name.lower() not in GENERIC_LAYER_NAMES:
        return name
    file_name = document.fileName() if hasattr(document, "fileName") else ""
    title = PurePath(file_name).stem if file_name else ""
    if title.lower() in GENERIC_LAYER_NAMES and hasattr(document, "name"):
        title = document.name().strip()
    if title.lower() not in GENERIC_LAYER_NAMES:
        return title
    return f"Object at {x}, {y}"


def names_for(document: Any, node: Any, x: int, y: int) -> Names:
    """The result's names; a second split of the same source is numbered ("coffee 2 (split)")."""
    label = source_label(document, node, x, y)
    taken = {n.name() for n in _walk(document.rootNode())}
    base, number = label, 1
    while f"{base} (split)" in taken:
        number += 1
        base = f"{label} {number}"
    return Names(f"{base} (split)", f"{base} – object", f"{base} – clean plate", f"{base} – hidden parts",
                 f"{base} – hole")


@dataclass
class Written:
    """What ``write_result`` added. ``background``: the clean plate layer. ``hide_source``: the source layer
    must still be hidden (undoably, by the follow-up); False where the result covers it exactly or it was
    hidden already. ``plate_only_box``: the clean plate holds only the result's box (the source covered)."""

    group: Any
    obj: Any
    background: Any
    hidden_layer: Optional[Any]
    hide_source: bool
    # The group was inserted hidden, for the follow-up to show (undoably) once Krita 5.1's mask is made.
    show_group: bool = False
    plate_only_box: bool = False
    # Not inserted yet: a semi-transparent source is put in a group of its own by the follow-up (Krita's
    # undoable "Quick Group", which leaves the picture as it is), and this group (pass-through, a hole at its
    # bottom) goes in above it there: it replaces the source exactly, so no undo step shows another picture.
    cover_in_group: bool = False
    # With cover_in_group: the opaque "erase" layer at the bottom of the (pass-through) group, and the box
    # (canvas x, y, w, h) it and the clean plate hold.
    hole: Optional[Any] = None
    box: Optional[tuple] = None


@dataclass
class Source:
    """What was read for one job, and enough to check at the end that it still applies."""

    document: Any
    node: Any
    crop: Rect  # canvas coordinates
    margin: int
    grow: int
    image: bytes  # BGRA8 over the crop
    mask: bytes  # A8 over the crop
    digest: bytes  # of ``image``: the layer must not have changed when the result is written


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def check_layer(node: Any) -> None:
    if node is None:
        raise messages.no_layer()
    if node.type() != "paintlayer":
        raise messages.not_paint_layer(node.type())
    if node.colorModel() != "RGBA" or node.colorDepth() != "U8":
        raise messages.unsupported_color(node.colorModel(), node.colorDepth())


def selection_bounds(document: Any) -> Rect:
    """The tight bounds of the document's selection inside the canvas; raises when there is no usable
    selection (none, empty, or the whole picture)."""
    selection = document.selection()
    if selection is None:
        raise messages.no_selection()
    canvas = Rect(0, 0, document.width(), document.height())
    rect = Rect(selection.x(), selection.y(), selection.width(), selection.height()).intersect(canvas)
    if rect.empty:
        raise messages.empty_selection()
    data = _bytes(selection.pixelData(rect.x, rect.y, rect.w, rect.h))
    bounds = tight_bounds(data, rect)
    if bounds is None:
        raise messages.empty_selection()
    if bounds == canvas and all_selected(data):
        raise messages.whole_image()
    return bounds


def read_source(document: Any, node: Any, margin: Optional[int] = None, grow: int = GROW) -> Source:
    """The layer's pixels and the selection's grey levels over the selection's bounds plus context."""
    if document is None:
        raise messages.no_document()
    check_layer(node)
    bounds = selection_bounds(document)
    crop, margin = plan_crop(bounds, Rect(0, 0, document.width(), document.height()), margin, grow)
    mask = _bytes(document.selection().pixelData(crop.x, crop.y, crop.w, crop.h))
    image = _bytes(node.pixelData(crop.x, crop.y, crop.w, crop.h))
    if len(image) != crop.w * crop.h * 4 or len(mask) != crop.w * crop.h:
        raise messages.UserError("read_failed", "Krita returned pixel data of an unexpected size; try again.")
    if not _any_both(mask, image[3::4]):
        raise messages.nothing_to_decompose(node.name())
    return Source(document, node, crop, margin, grow, image, mask, _digest(image))


def _walk(node: Any):
    for child in node.childNodes():
        yield child
        yield from _walk(child)


def contains_node(document: Any, node: Any) -> bool:
    uid = node.uniqueId()
    return any(n.uniqueId() == uid for n in _walk(document.rootNode()))


_NONZERO = bytes([0] + [1] * 255)
_ZERO = bytes([1] + [0] * 255)
_FULL = bytes([0] * 255 + [1])


def _any_both(a: bytes, b: bytes) -> bool:
    """True when some position is non-zero in both byte strings (big-integer AND: fast without numpy)."""
    return (int.from_bytes(a.translate(_NONZERO), "little") & int.from_bytes(b.translate(_NONZERO), "little")) != 0


def covers_source(source: "Source", result: Any) -> bool:
    """True when the result group, put above the source layer, hides the source exactly where it holds
    pixels (the result's box; outside it the group is empty and the source shows as before), so the source
    needs no hiding: full opacity, normal blending, no masks, and inside the box the source is opaque or
    empty (no soft alpha) and the new layers are opaque wherever it is opaque."""
    node = source.node
    if node.opacity() != 255 or node.blendingMode() != "normal" or node.childNodes():
        return False  # (masks or filters on the layer change how it looks beyond its pixels)
    bx, by, bw, bh = result.box
    x, y = source.crop.x + bx, source.crop.y + by
    inside = _bytes(node.pixelData(x, y, bw, bh))[3::4]
    if inside.translate(None, b"\x00\xff"):
        return False  # soft edges or semi-transparent paint: the result over the layer would differ there
    opaque_result = (int.from_bytes(result.background[3::4].translate(_FULL), "little")
                     | int.from_bytes(result.foreground[3::4].translate(_FULL), "little"))
    return int.from_bytes(inside.translate(_FULL), "little") & ~opaque_result == 0


def has_hidden_parts(foreground: bytes, visibility: bytes) -> bool:
    """True when the object has opaque pixels where it is not visible in the picture (recovered parts
    behind occluders). Big-integer AND of two 0/1 byte strings: fast without numpy."""
    nonzero = bytes([0] + [1] * 255)
    hidden = bytes([1] + [0] * 255)
    opaque = foreground[3::4].translate(nonzero)
    unseen = visibility.translate(hidden)
    return (int.from_bytes(opaque, "little") & int.from_bytes(unseen, "little")) != 0


def split_by_visibility(foreground: bytes, visibility: bytes) -> tuple:
    """``(seen, unseen)``: the BGRA8 ``foreground`` where visibility > 0, and where it is 0 (the other
    pixels fully transparent). Whole-buffer big-integer masking, no per-pixel Python loop."""
    keep = visibility.translate(bytes([0] + [255] * 255))
    keep4 = bytearray(len(foreground))
    for channel in range(4):
        keep4[channel::4] = keep
    n = len(foreground)
    data = int.from_bytes(foreground, "little")
    mask = int.from_bytes(keep4, "little")
    everything = (1 << (8 * n)) - 1
    return (data & mask).to_bytes(n, "little"), (data & (everything ^ mask)).to_bytes(n, "little")


def check_still_applies(source: Source, documents: list) -> None:
    """Raise when the document was closed, the layer deleted, or its pixels changed since reading."""
    if not any(d == source.document for d in documents):
        raise messages.document_gone()
    if not contains_node(source.document, source.node):
        raise messages.layer_gone()
    c = source.crop
    if _digest(_bytes(source.node.pixelData(c.x, c.y, c.w, c.h))) != source.digest:
        raise messages.layer_changed()


def write_result(source: Source, result: Any, defer_show: bool = False) -> Written:
    """Insert the result group above the source layer, in one undoable step (see the module's docstring).

    ``result``: a ``client.JobResult`` whose box lies inside ``source.crop``. ``defer_show``: a view shows
    the document, so where Krita 5.1's transparency mask is still to be made (recovered hidden parts), the
    group goes in hidden and ``Written.show_group`` asks the follow-up to show it afterwards: then no undo
    step ever shows the Object without its mask. A view also lets a semi-transparent source be covered
    exactly: the group is then left for the follow-up to insert (``Written.cover_in_group``).
    """
    doc, node = source.document, source.node
    bx, by, bw, bh = result.box
    x, y = source.crop.x + bx, source.crop.y + by
    if not (0 <= bx and 0 <= by and bx + bw <= source.crop.w and by + bh <= source.crop.h):
        raise messages.server_confused(f"the result box {result.box} lies outside the picture sent")
    names = names_for(doc, node, x, y)
    covered = covers_source(source, result)
    plain = node.opacity() == 255 and node.blendingMode() == "normal"  # so a group of its own looks the same
    # (not where Krita 5.1 needs a hidden-parts layer and the group inserted hidden: see show_group)
    mask_later = has_hidden_parts(result.foreground, result.visibility) and not hasattr(doc, "createTransparencyMask")
    cover_in_group = defer_show and not covered and node.visible() and plain and not mask_later

    # Built off the tree, then inserted at once: the document is untouched until the last step.
    background = _clean_plate(source, result, names.background, covered or cover_in_group, x, y)

    objects = getattr(result, "objects", None)
    if objects:
        # One Object layer per separate part, bottom to top; the topmost is the one made active.
        layers, top = _object_layers(source, objects, names)
        return _insert_group(source, names, layers, background, top, None, covered, defer_show, cover_in_group,
                             (x, y, bw, bh))
    obj, hidden_layer = _object_layer(doc, node, names.object, names.hidden_parts, result.foreground,
                                      result.visibility, (x, y, bw, bh))
    layers = [obj] + ([hidden_layer] if hidden_layer is not None else [])
    return _insert_group(source, names, layers, background, obj, hidden_layer, covered, defer_show, cover_in_group,
                         (x, y, bw, bh))


def _insert_group(source: Source, names: Names, layers: list, background: Any, obj: Any,
                  hidden_layer: Optional[Any], covered: bool, defer_show: bool, cover_in_group: bool,
                  box: tuple) -> Written:
    """The result group (the clean plate, then ``layers`` bottom to top) assembled off the tree and inserted
    above the source in one step, or left for the follow-up to insert (see ``write_result``). ``box``:
    (x, y, w, h) of the result on the canvas."""
    doc, node = source.document, source.node
    x, y, bw, bh = box
    # (a GroupLayer, which has the pass-through switch; createNode's is a plain Node in Krita 5.1)
    group = doc.createGroupLayer(names.group) if hasattr(doc, "createGroupLayer") else doc.createNode(names.group,
                                                                                                    "grouplayer")
    # setChildNodes, unlike addChildNode, leaves no entry on Krita's undo stack: the artist's undo
    # history gets exactly one step for the whole result (bottom to top).
    hole = _hole(doc, node, names.hole, x, y, bw, bh) if cover_in_group else None
    # (Once only: a second setChildNodes on the same group takes out just its first child.)
    group.setChildNodes(([hole] if hole is not None else []) + [background] + layers)
    # The group takes the source layer's place in the stack, so it takes its opacity and blending too
    # (setBlendingMode is recorded by Krita even off the tree: only when it changes something).
    group.setOpacity(node.opacity())
    if node.blendingMode() != group.blendingMode():
        group.setBlendingMode(node.blendingMode())
    source_visible = node.visible()
    if not source_visible:
        group.setVisible(False)  # a hidden layer's result is hidden too: the picture stays the same
    hide_source = source_visible and not covered
    show_group = defer_show and source_visible and hidden_layer is not None
    if show_group:
        group.setVisible(False)
    if cover_in_group:
        _set_pass_through(group, True)
        return Written(group, obj, background, None, hide_source=False, cover_in_group=True, hole=hole,
                       box=(x, y, bw, bh))
    insert_above(doc, node, group)
    return Written(group, obj, background, hidden_layer, hide_source, show_group, plate_only_box=covered)


def _object_layer(doc: Any, node: Any, name: str, hidden_name: str, foreground: bytes, visibility: bytes,
                  box: tuple) -> tuple:
    """An Object layer off the tree holding ``foreground`` over ``box`` (canvas x, y, w, h), and the layer of
    its recovered hidden parts or None. Recovered parts behind occluders stay hidden until the artist moves
    the object: behind a transparency mask (Krita 5.2+ / 6), or, as Krita 5.1's scripting cannot fill a
    mask, on a hidden layer of their own above the Object (same picture; show it to see them), which
    ``mask_upgrade`` swaps for a mask made through Krita's own action where the document has a view."""
    x, y, w, h = box
    obj = _new_layer_like(doc, node, name)
    if not has_hidden_parts(foreground, visibility):
        obj.setPixelData(foreground, x, y, w, h)
        return obj, None
    if hasattr(doc, "createTransparencyMask"):
        obj.setPixelData(foreground, x, y, w, h)
        from krita import Selection

        mask = doc.createTransparencyMask(VISIBLE_MASK_NAME)
        visible = Selection()
        visible.setPixelData(visibility, x, y, w, h)
        mask.setSelection(visible)
        obj.setChildNodes([mask])
        return obj, None
    seen, unseen = split_by_visibility(foreground, visibility)
    obj.setPixelData(seen, x, y, w, h)
    hidden_layer = _new_layer_like(doc, node, hidden_name)
    hidden_layer.setPixelData(unseen, x, y, w, h)
    hidden_layer.setVisible(False)
    return obj, hidden_layer


def _object_layers(source: Source, objects: list, names: Names) -> tuple:
    """The Object layers of a several-part result, bottom to top ("<source> – object 1" is the bottom one),
    each followed by its hidden-parts layer where Krita 5.1 needs one (``_object_layer``), off the tree,
    and the topmost Object."""
    layers = []
    for number, item in enumerate(objects, 1):
        ox, oy, ow, oh = item.box
        if not (0 <= ox and 0 <= oy and ox + ow <= source.crop.w and oy + oh <= source.crop.h):
            raise messages.server_confused(f"an object box {item.box} lies outside the picture sent")
        name = f"{names.object} {number}"
        top, hidden_layer = _object_layer(source.document, source.node, name, f"{name} – hidden parts",
                                          item.foreground, item.visibility,
                                          (source.crop.x + ox, source.crop.y + oy, ow, oh))
        layers += [top] + ([hidden_layer] if hidden_layer is not None else [])
    return layers, top

def insert_above(doc: Any, node: Any, group: Any) -> None:
    """Insert the result group just above the source layer ``node``: one undo step ("Add Layer")."""
    parent = node.parentNode()
    try:
        # (No refreshProjection: adding the node updates its area; a full refresh recomposes the whole
        # canvas and blocks the GUI until it is done.)
        if not parent.addChildNode(group, node):
            raise RuntimeError("Krita refused to add the group layer")
    except Exception as exc:
        log.exception("writing the result failed")
        if group.parentNode() is not None:
            group.remove()
            doc.refreshProjection()
        raise messages.write_failed(str(exc)) from None


def _new_layer_like(doc: Any, node: Any, name: str) -> Any:
    """An empty paint layer in ``node``'s colour space, off the tree."""
    layer = doc.createNode(name, "paintlayer")
    if (layer.colorModel(), layer.colorDepth(), layer.colorProfile()) != (node.colorModel(), node.colorDepth(),
                                                                        node.colorProfile()):
        layer.setColorSpace(node.colorModel(), node.colorDepth(), node.colorProfile())
    return layer


def _clean_plate(source: Source, result: Any, name: str, covered: bool, x: int, y: int) -> Any:
    """The clean plate layer (see the module's docstring): the result's box alone where the source stays
    visible underneath (``covered``), else the whole layer duplicated with the box replaced (its pixels
    beyond the crop too, any masks it has)."""
    node = source.node
    _bx, _by, bw, bh = result.box
    if covered:
        plate = _new_layer_like(source.document, node, name)
    else:
        plate = node.duplicate()
        plate.setName(name)
        plate.setVisible(True)
        plate.setOpacity(255)
        if plate.blendingMode() != "normal":
            plate.setBlendingMode("normal")
    plate.setPixelData(result.background, x, y, bw, bh)
    return plate


def _hole(doc: Any, node: Any, name: str, x: int, y: int, w: int, h: int) -> Any:
    """The layer that erases the source under the result's box: opaque there, "erase" blending (recorded by
    Krita even off the tree: an undo step that changes nothing in the picture)."""
    hole = _new_layer_like(doc, node, name)
    hole.setPixelData(b"\x00\x00\x00\xff" * (w * h), x, y, w, h)
    hole.setBlendingMode(HOLE_BLENDING)
    return hole


def _set_pass_through(group: Any, on: bool) -> None:
    """A pass-through group composites its layers straight into its parent (not recorded by Krita)."""
    group.setPassThroughMode(on)


def uncover(source_node: Any, written: Written) -> None:
    """For a result built to cover its source in a group of its own, where that group could not be made:
    the usual layers instead (the whole layer's duplicate with the box replaced, a normal group), for the
    follow-up to insert above the hidden source. The group is still off the tree (nothing recorded)."""
    x, y, w, h = written.box
    plate = source_node.duplicate()
    plate.setName(written.background.name())
    plate.setVisible(True)
    plate.setOpacity(255)
    if plate.blendingMode() != "normal":
        plate.setBlendingMode("normal")
    plate.setPixelData(written.background.pixelData(x, y, w, h), x, y, w, h)
    group = written.group
    for _ in range(len(group.childNodes())):  # Krita's setChildNodes takes out only the first child each time
        group.setChildNodes([])
    group.setChildNodes([plate, written.obj])
    _set_pass_through(written.group, False)
    written.background, written.hole, written.cover_in_group = plate, None, False


def set_visible_without_undo(node: Any, visible: bool) -> None:
    """Where Krita's undoable visibility action cannot run (no view of the document: scripts, batch mode).
    The artist's undo would then not change it back; with a view this is not used."""
    node.setVisible(visible)
    log.info("%s %s without an undo step (no view of the document)", "showed" if visible else "hid", node.name())


def mask_upgrade(krita: Any, source: Source, result: Any, written: Written) -> Optional[visibility_mask.MaskUpgrade]:
    """For a result just written with a hidden-parts layer (Krita 5.1): the follow-up that swaps it for a
    transparency mask on the Object (see ``visibility_mask``); None when there is nothing to swap."""
    if written.hidden_layer is None:
        return None
    bx, by, bw, bh = result.box
    return visibility_mask.MaskUpgrade(krita, source.document, written.obj, written.hidden_layer,
                                       result.foreground, result.visibility, source.crop.x + bx,
                                       source.crop.y + by, bw, bh, VISIBLE_MASK_NAME)
