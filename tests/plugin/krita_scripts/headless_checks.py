"""Runs inside real Krita via kritarunner (no window): the plugin's pixel reading and writing with the
real API. Called as ``kritarunner -s headless_checks -f main PLUGIN_DIR WORK_DIR``; reads its inputs from
WORK_DIR (written by test_krita_headless.py) and writes what it saw there for the test to check.
Runs under Krita's own Python: standard library and Krita only (no numpy)."""

import json
import os
import sys
import traceback


def main(args):
    plugin_dir, work = args[0], args[1]
    report = {"errors": []}
    try:
        _checks(plugin_dir, work, report)
    except Exception:
        report["errors"].append(traceback.format_exc())
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


def _read(work, name):
    with open(os.path.join(work, name), "rb") as f:
        return f.read()


def _write(work, name, data):
    with open(os.path.join(work, name), "wb") as f:
        f.write(bytes(data))


def _tree(node):
    return [[c.name(), c.type(), c.visible(), c.opacity(), _tree(c)] for c in node.childNodes()]


def _checks(plugin_dir, work, report):
    sys.path.insert(0, plugin_dir)
    from krita import InfoObject, Krita, Selection

    import layerdecomp_krita  # noqa: F401  (registers the extension, as Krita does at start-up)
    from layerdecomp_krita import after_write, canvas, client
    from layerdecomp_krita.messages import UserError

    k = Krita.instance()
    k.setBatchmode(True)
    inputs = json.loads(_read(work, "inputs.json"))
    w, h = inputs["width"], inputs["height"]

    # 1. Reading: a PNG opened by Krita (so the byte order is Krita's, not ours) and a soft selection.
    doc = k.openDocument(os.path.join(work, "photo.png"))
    doc.setBatchmode(True)
    node = [n for n in doc.rootNode().childNodes() if n.type() == "paintlayer"][0]
    selection = Selection()
    selection.setPixelData(_read(work, "mask.raw"), 0, 0, w, h)
    doc.setSelection(selection)
    source = canvas.read_source(doc, node)
    report["crop"] = list(source.crop.as_tuple())
    report["margin"] = source.margin
    _write(work, "read_image.raw", source.image)
    _write(work, "read_mask.raw", source.mask)

    # 2. Round trip: bytes written with setPixelData come back unchanged.
    pattern = _read(work, "pattern.raw")
    scratch = doc.createNode("scratch", "paintlayer")
    scratch.setPixelData(pattern, 3, 5, inputs["pattern_w"], inputs["pattern_h"])
    report["roundtrip_equal"] = scratch.pixelData(3, 5, inputs["pattern_w"], inputs["pattern_h"]).data() == pattern

    # 3. Writing the library's result: the composite must not change.
    doc.refreshProjection()
    doc.waitForDone()
    before = doc.pixelData(0, 0, w, h).data()
    result = client.JobResult(tuple(inputs["box"]), _read(work, "fg.raw"), _read(work, "bg.raw"),
                              _read(work, "vis.raw"), {})
    canvas.check_still_applies(source, k.documents())
    written = canvas.write_result(source, result)
    group = written.group
    report["hide_source"] = written.hide_source
    # No window here: the follow-up hides the source directly (its undoable path is tested in the GUI).
    follow_up = after_write.AfterWrite(k, doc, node, written)
    report["follow_up_steps"] = 1
    while not follow_up.step():
        report["follow_up_steps"] += 1
    report["hid_source_undoably"] = follow_up.hid_source_undoably
    doc.refreshProjection()
    doc.waitForDone()
    after = doc.pixelData(0, 0, w, h).data()
    report["tree"] = _tree(doc.rootNode())
    report["group"] = group.name()
    _write(work, "before.raw", before)
    _write(work, "after.raw", after)
    background, obj = group.childNodes()[:2]
    _write(work, "object.raw", obj.pixelData(0, 0, w, h).data())
    _write(work, "background.raw", background.pixelData(0, 0, w, h).data())
    report["source_visible"] = node.visible()
    report["source_unchanged"] = node.pixelData(0, 0, w, h).data() == _read(work, "photo_bgra.raw")
    # The composite as Krita exports it (a second, independent look at the byte order of what we wrote).
    info = InfoObject()
    info.setProperty("alpha", True)
    info.setProperty("compression", 1)
    doc.exportImage(os.path.join(work, "after.png"), info)
    doc.waitForDone()

    # 4. Recovered hidden parts (Krita 5.1 path: a hidden layer): the composite is still unchanged.
    doc2 = k.createDocument(32, 24, "hidden", "RGBA", "U8", "", 72.0)
    base = doc2.rootNode().childNodes()[0]
    base.setPixelData(bytes([30, 60, 90, 255]) * (32 * 24), 0, 0, 32, 24)
    sel2 = Selection()
    sel2.select(8, 6, 10, 8, 255)
    doc2.setSelection(sel2)
    source2 = canvas.read_source(doc2, base)
    cw, ch = source2.crop.w, source2.crop.h
    fg = bytearray(cw * ch * 4)
    vis = bytearray(cw * ch)
    for i in range(cw * ch):
        fg[4 * i:4 * i + 4] = bytes([200, 10, 10, 255])
        vis[i] = 255 if (i % cw) >= cw // 2 else 0  # the left half is "hidden behind something"
    bg = source2.image
    doc2.refreshProjection()
    doc2.waitForDone()
    before2 = doc2.pixelData(0, 0, 32, 24).data()
    # Visible half: the object's pixels must show; to keep the picture unchanged there the background
    # of this synthetic case equals the object colour where visible.
    bg = bytearray(bg)
    for i in range(cw * ch):
        if vis[i]:
            bg[4 * i:4 * i + 4] = bytes([200, 10, 10, 255])
    x0, y0 = source2.crop.x, source2.crop.y
    for i in range(cw * ch):
        if vis[i]:
            base.setPixelData(bytes([200, 10, 10, 255]), x0 + i % cw, y0 + i // cw, 1, 1)
    source2 = canvas.read_source(doc2, base)
    doc2.refreshProjection()
    doc2.waitForDone()
    before2 = doc2.pixelData(0, 0, 32, 24).data()
    group2 = canvas.write_result(source2, client.JobResult((0, 0, cw, ch), bytes(fg), bytes(bg), bytes(vis), {})).group
    doc2.waitForDone()
    report["hidden_tree"] = _tree(group2)
    masks = [m for c in group2.childNodes() for m in c.childNodes() if m.type() == "transparencymask"]
    # Krita 5.2+: the mask made by createTransparencyMask must hold exactly the visibility.
    report["hidden_mask_equals_visibility"] = (
        len(masks) == 1 and bytes(masks[0].pixelData(x0, y0, cw, ch).data()) == bytes(vis))
    report["hidden_composite_unchanged"] = doc2.pixelData(0, 0, 32, 24).data() == before2

    # 5. Refusals, with the real API.
    codes = {}
    doc3 = k.createDocument(20, 10, "refusals", "RGBA", "U8", "", 72.0)
    layer3 = doc3.rootNode().childNodes()[0]
    for case in ("no_selection", "whole_image", "empty", "u16", "transparent"):
        try:
            if case == "transparent":
                s = Selection()
                s.select(2, 2, 5, 5, 255)
                doc3.setSelection(s)
                empty = doc3.createNode("empty", "paintlayer")  # a new layer: fully transparent
                doc3.rootNode().addChildNode(empty, None)
                canvas.read_source(doc3, empty)
                codes[case] = None
                continue
            elif case == "whole_image":
                s = Selection()
                s.select(0, 0, 20, 10, 255)
                doc3.setSelection(s)
            elif case == "empty":
                s = Selection()
                s.select(40, 40, 5, 5, 255)
                doc3.setSelection(s)
            elif case == "u16":
                doc4 = k.createDocument(20, 10, "u16", "RGBA", "U16", "", 72.0)
                s = Selection()
                s.select(2, 2, 5, 5, 255)
                doc4.setSelection(s)
                canvas.read_source(doc4, doc4.rootNode().childNodes()[0])
                continue
            canvas.read_source(doc3, layer3)
            codes[case] = None
        except UserError as error:
            codes[case] = error.code
    report["refusals"] = codes
    for d in (doc, doc2, doc3):
        d.setModified(False)
        d.close()
