"""Fast tests of the plugin's logic against the fake krita module: regions, reading, writing, messages."""

from __future__ import annotations

import time

import numpy as np
import pytest

from layerdecomp.region import plan_region


def _doc(krita, w=40, h=30, seed=0):
    doc = krita.createDocument(w, h, "t", "RGBA", "U8", "", 72.0)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    doc.rootNode().childNodes()[0].setPixelData(pixels.tobytes(), 0, 0, w, h)
    return doc, pixels


def _select(doc, mask):
    import krita as fake

    sel = fake.Selection()
    sel.setPixelData(mask.tobytes(), 0, 0, mask.shape[1], mask.shape[0])
    doc.setSelection(sel)


# ---------------------------------------------------------------------------------------------- regions

def test_tight_bounds_and_whole_selection(plugin):
    from layerdecomp_krita.region import Rect, all_selected, tight_bounds

    mask = np.zeros((10, 12), np.uint8)
    assert tight_bounds(mask.tobytes(), Rect(5, 7, 12, 10)) is None
    mask[3:6, 2:9] = 1
    mask[8, 4] = 200
    assert tight_bounds(mask.tobytes(), Rect(5, 7, 12, 10)) == Rect(7, 10, 7, 6)
    assert all_selected(b"\xff" * 9) and not all_selected(b"\xff" * 8 + b"\xfe")
    with pytest.raises(ValueError):
        tight_bounds(b"\x00" * 5, Rect(0, 0, 2, 2))


@pytest.mark.parametrize("margin", [None, 0, 3, 40])
def test_crop_matches_the_core_region(plugin, margin):
    """The crop the plugin sends is exactly the crop the core would use on the whole canvas, so the
    server's result equals decompose() of the whole picture."""
    from layerdecomp_krita.region import GROW, Rect, plan_crop, tight_bounds

    rng = np.random.default_rng(1)
    for _ in range(20):
        h, w = rng.integers(8, 300, 2)
        mask = np.zeros((h, w), np.uint8)
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        mask[y0:y0 + rng.integers(1, 80), x0:x0 + rng.integers(1, 80)] = rng.integers(1, 256)
        bounds = tight_bounds(mask.tobytes(), Rect(0, 0, int(w), int(h)))
        crop, used = plan_crop(bounds, Rect(0, 0, int(w), int(h)), margin)
        core = plan_region(mask, margin=margin, grow=GROW).box
        assert crop.as_tuple() == core.as_tuple()
        # ... and the core, given the crop and the same margin, uses all of it.
        sub = mask[crop.y:crop.y + crop.h, crop.x:crop.x + crop.w]
        assert plan_region(sub, margin=used, grow=GROW).box.as_tuple() == (0, 0, crop.w, crop.h)


# ---------------------------------------------------------------------------------------------- reading

def test_read_source_sends_the_crop_and_soft_selection(plugin, krita):
    from layerdecomp_krita import canvas

    doc, pixels = _doc(krita, 120, 90)
    mask = np.zeros((90, 120), np.uint8)
    mask[30:50, 40:70] = np.arange(1, 31, dtype=np.uint8)[None, :] * 8  # soft, grey levels
    _select(doc, mask)
    source = canvas.read_source(doc, doc.activeNode())
    c = source.crop
    from layerdecomp_krita.region import GROW

    assert (source.margin, source.grow) == (16, GROW)
    pad = 16 + GROW  # the selection is x 40..69, y 30..49; the canvas 120 x 90
    assert (c.x, c.y, c.w, c.h) == (max(0, 40 - pad), max(0, 30 - pad), min(120, 70 + pad) - max(0, 40 - pad),
                                    min(90, 50 + pad) - max(0, 30 - pad))
    assert source.image == pixels[c.y:c.y + c.h, c.x:c.x + c.w].tobytes()  # BGRA bytes as Krita has them
    assert source.mask == mask[c.y:c.y + c.h, c.x:c.x + c.w].tobytes()  # grey levels intact


@pytest.mark.parametrize("case, code", [
    ("no_document", "no_document"),
    ("no_layer", "no_layer"),
    ("group", "not_paint_layer"),
    ("u16", "unsupported_color"),
    ("cmyk", "unsupported_color"),
    ("no_selection", "no_selection"),
    ("outside", "empty_selection"),
    ("zero", "empty_selection"),
    ("whole", "whole_image"),
])
def test_read_source_refuses_with_a_clear_message(plugin, krita, case, code):
    import krita as fake
    from layerdecomp_krita import canvas
    from layerdecomp_krita.messages import UserError

    doc, _ = _doc(krita, 20, 10)
    node = doc.activeNode()
    mask = np.zeros((10, 20), np.uint8)
    mask[2:5, 3:8] = 255
    _select(doc, mask)
    if case == "no_document":
        doc = None
    elif case == "no_layer":
        node = None
    elif case == "group":
        node = doc.createNode("g", "grouplayer")
    elif case == "u16":
        node.setColorSpace("RGBA", "U16", "")
    elif case == "cmyk":
        node.setColorSpace("CMYKA", "U8", "")
    elif case == "no_selection":
        doc.setSelection(None)
    elif case == "outside":
        sel = fake.Selection()
        sel.select(25, 12, 4, 4, 255)
        doc.setSelection(sel)
    elif case == "zero":
        sel = fake.Selection()
        doc.setSelection(sel)
    elif case == "whole":
        sel = fake.Selection()
        sel.select(-2, -2, 30, 30, 255)  # beyond the canvas too
        doc.setSelection(sel)
    with pytest.raises(UserError) as info:
        canvas.read_source(doc, node)
    assert info.value.code == code
    assert len(info.value.message) > 30 and info.value.message[0].isupper()
    if case == "group":  # e.g. a split result: converting it would flatten it, so that is not the advice
        assert "Convert" not in info.value.message and "inside the group" in info.value.message


def test_whole_image_selected_softly_is_accepted(plugin, krita):
    """Everything selected at less than 100 % is a real (soft) selection, not 'the whole image'."""
    from layerdecomp_krita import canvas

    doc, _ = _doc(krita, 20, 10)
    mask = np.full((10, 20), 255, np.uint8)
    mask[0, 0] = 128
    _select(doc, mask)
    assert canvas.read_source(doc, doc.activeNode()).crop.as_tuple() == (0, 0, 20, 10)


# ---------------------------------------------------------------------------------------------- writing

def _result(plugin, source, box, hidden=False):
    from layerdecomp_krita.client import JobResult

    x, y, w, h = box
    rng = np.random.default_rng(5)
    fg = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    vis = np.where(fg[..., 3] > 0, 255, 0).astype(np.uint8)
    if hidden:
        vis[0, :] = 0
        fg[0, :, 3] = 200
    return JobResult(box, fg.tobytes(), bg.tobytes(), vis.tobytes(), {}), fg, bg, vis


def _tree(node):
    return [(c.name(), c.type(), c.visible(), _tree(c)) for c in node.childNodes()]


def test_write_result_inserts_one_group_in_one_undo_step(plugin, krita):
    """A layer with some transparency or opacity is not covered by its result: the group goes above it in
    one recorded step, and the source is left for the follow-up to hide undoably."""
    from layerdecomp_krita import canvas

    doc, pixels = _doc(krita, 60, 40)
    top = doc.createNode("Top", "paintlayer")
    doc.rootNode().addChildNode(top, None)
    source_node = doc.rootNode().childNodes()[0]
    source_node.setName("Photo")
    source_node.setOpacity(200)
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 15:30] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, source_node)
    result, fg, bg, vis = _result(plugin, source, (3, 2, 20, 15))
    doc.undo_log.clear()
    written = canvas.write_result(source, result)
    group = written.group

    assert doc.undo_log == ["Add Layer"]  # one step for the artist to undo
    assert [n.name() for n in doc.rootNode().childNodes()] == ["Photo", "Photo (split)", "Top"]
    assert source_node.visible() and source_node.pixelData(0, 0, 60, 40) == pixels.tobytes()
    assert written.hide_source  # opacity 200: the group over the source would not look the same
    assert group.opacity() == 200 and group.visible()
    assert [(c.name(), c.visible(), c.opacity()) for c in group.childNodes()] == [
        ("Photo – clean plate", True, 255), ("Photo – object", True, 255)]
    background, obj = group.childNodes()
    assert (written.background, written.obj) == (background, obj)
    x, y = source.crop.x + 3, source.crop.y + 2
    expected_bg = pixels.copy()
    expected_bg[y:y + 15, x:x + 20] = bg
    assert background.pixelData(0, 0, 60, 40) == expected_bg.tobytes()
    expected_fg = np.zeros_like(pixels)
    expected_fg[y:y + 15, x:x + 20] = fg
    assert obj.pixelData(0, 0, 60, 40) == expected_fg.tobytes()
    assert obj.childNodes() == []  # nothing hidden: no mask


def _opaque_doc(krita, w=40, h=30):
    doc, pixels = _doc(krita, w, h)
    pixels[..., 3] = 255
    doc.rootNode().childNodes()[0].setPixelData(pixels.tobytes(), 0, 0, w, h)
    return doc, pixels


def _opaque_result(plugin, source, box):
    """A result whose Background is opaque: as the classical backend's for an opaque photo."""
    from layerdecomp_krita.client import JobResult

    result, fg, bg, vis = _result(plugin, source, box)
    bg = bg.copy()
    bg[..., 3] = 255
    return JobResult(result.box, result.foreground, bg.tobytes(), result.visibility, {})


@pytest.mark.parametrize("case, covered", [
    ("opaque", True), ("soft_pixel_far", True), ("soft_pixel_inside", False), ("half_opacity", False),
    ("multiply", False), ("hole_in_background", False), ("transparent_area", True)])
def test_an_opaque_source_is_covered_and_needs_no_hiding(plugin, krita, case, covered):
    """Where the group over the source looks exactly like the group alone, the source is not hidden (so
    undo has nothing else to restore); any soft alpha, opacity or blending on the source, or a hole in
    the result over the source's pixels, and it must be hidden."""
    from layerdecomp_krita import canvas
    from layerdecomp_krita.client import JobResult

    doc, pixels = _opaque_doc(krita)
    node = doc.rootNode().childNodes()[0]
    if case == "soft_pixel_far":
        node.setPixelData(bytes([1, 2, 3, 128]), 39, 29, 1, 1)  # outside the result's box: untouched there
    elif case == "half_opacity":
        node.setOpacity(128)
    elif case == "multiply":
        node.setBlendingMode("multiply")
    elif case == "transparent_area":
        node.setPixelData(bytes(4 * 40 * 5), 0, 25, 40, 5)  # fully transparent rows: nothing to cover
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, node)
    result = _opaque_result(plugin, source, (0, 0, 6, 6))
    if case == "soft_pixel_inside":
        node.setPixelData(bytes([1, 2, 3, 128]), source.crop.x + 1, source.crop.y + 1, 1, 1)
    if case == "hole_in_background":
        bg = bytearray(result.background)
        fg = bytearray(result.foreground)
        bg[3] = 0  # the result's first pixel: transparent where the source is opaque
        fg[3] = 0
        result = JobResult(result.box, bytes(fg), bytes(bg), result.visibility, {})
    doc.undo_log.clear()
    written = canvas.write_result(source, result)
    assert written.hide_source is (not covered)
    assert node.visible()
    # Covered: the clean plate holds the result's box alone; else the whole layer with the box replaced.
    plate_extent = np.frombuffer(written.background.pixelData(0, 0, 40, 30), np.uint8).reshape(30, 40, 4)[..., 3] > 0
    ys, xs = np.nonzero(plate_extent)
    box_only = (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == (source.crop.y, source.crop.x,
                                                                     source.crop.y + 6, source.crop.x + 6)
    assert written.plate_only_box is covered and box_only is covered
    # A blending mode other than Normal costs two recorded no-op steps before the one that counts (the
    # Background back to Normal and the group to the source's mode, both off the tree).
    expected_log = ["Add Layer"] if case != "multiply" else ["Composition Mode Change"] * 2 + ["Add Layer"]
    assert doc.undo_log == expected_log


def test_a_hidden_source_gives_a_hidden_result(plugin, krita):
    from layerdecomp_krita import canvas

    doc, _ = _opaque_doc(krita)
    node = doc.rootNode().childNodes()[0]
    node.setVisible(False)
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, node)
    doc.undo_log.clear()
    written = canvas.write_result(source, _opaque_result(plugin, source, (0, 0, 6, 6)))
    assert not written.group.visible() and not node.visible() and not written.hide_source
    assert doc.undo_log == ["Add Layer"]


def test_nothing_to_decompose_under_the_selection(plugin, krita):
    from layerdecomp_krita import canvas
    from layerdecomp_krita.messages import UserError

    doc, _ = _doc(krita, 40, 30)
    node = doc.rootNode().childNodes()[0]
    node.setPixelData(bytes(40 * 30 * 4), 0, 0, 40, 30)
    node.setPixelData(bytes([9, 9, 9, 255]), 0, 0, 1, 1)  # paint outside the selection only
    mask = np.zeros((30, 40), np.uint8)
    mask[10:20, 10:20] = 255
    _select(doc, mask)
    with pytest.raises(UserError) as info:
        canvas.read_source(doc, node)
    assert info.value.code == "nothing_to_decompose" and "not changed" in info.value.message
    node.setPixelData(bytes([9, 9, 9, 1]), 19, 19, 1, 1)  # one faint pixel inside: something to split
    assert canvas.read_source(doc, node).crop.w > 0


def _split_opaque(plugin, doc, node=None):
    from layerdecomp_krita import canvas

    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, node or doc.rootNode().childNodes()[0])
    return canvas.write_result(source, _opaque_result(plugin, source, (0, 0, 6, 6)))


@pytest.mark.parametrize("file_name, title, label", [
    ("/photos/coffee.jpg", "", "coffee"),
    ("", "Portrait study", "Portrait study"),
    ("", "", "Object at 0, 0"),  # an unsaved document: where the result box is on the canvas
])
def test_a_layer_called_background_is_named_after_the_document(plugin, krita, file_name, title, label):
    """A photo's only layer is "Background": the result is named after the file (or the document's title,
    or the object's position), by role; a second split of the same source gets a number."""
    from layerdecomp_krita import canvas

    doc, _ = _opaque_doc(krita)
    doc.setFileName(file_name)
    doc.setName(title)
    assert doc.rootNode().childNodes()[0].name() == "Background"  # a PNG's single layer
    first = _split_opaque(plugin, doc)
    second = _split_opaque(plugin, doc)
    assert [(w.group.name(), [c.name() for c in w.group.childNodes()]) for w in (first, second)] == [
        (f"{label} (split)", [f"{label} – clean plate", f"{label} – object"]),
        (f"{label} 2 (split)", [f"{label} 2 – clean plate", f"{label} 2 – object"])]
    names = [n.name() for n in canvas._walk(doc.rootNode())]
    assert len(set(names)) == len(names)


def test_a_named_layer_gives_its_name(plugin, krita):
    doc, _ = _opaque_doc(krita)
    doc.setFileName("/photos/coffee.jpg")
    node = doc.rootNode().childNodes()[0]
    node.setName("Cup")
    written = _split_opaque(plugin, doc, node)
    assert [written.group.name(), written.obj.name(), written.background.name()] == [
        "Cup (split)", "Cup – object", "Cup – clean plate"]


def test_hidden_parts_are_kept_but_hidden(plugin, krita):
    """Krita 5.1 (no createTransparencyMask): the recovered parts go to a hidden layer, the Object keeps
    the visible part, so the picture is unchanged."""
    from layerdecomp_krita import canvas

    doc, _ = _doc(krita, 30, 30)
    mask = np.zeros((30, 30), np.uint8)
    mask[10:20, 10:20] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, doc.activeNode())
    result, fg, bg, vis = _result(plugin, source, (0, 0, 10, 8), hidden=True)
    assert canvas.has_hidden_parts(result.foreground, result.visibility)
    group = canvas.write_result(source, result).group
    names = [(c.name(), c.visible()) for c in group.childNodes()]
    label = canvas.source_label(doc, source.node, source.crop.x, source.crop.y)
    assert names == [(f"{label} – clean plate", True), (f"{label} – object", True),
                     (f"{label} – hidden parts", False)]
    x, y = source.crop.x, source.crop.y
    seen = np.frombuffer(group.childNodes()[1].pixelData(x, y, 10, 8), np.uint8).reshape(8, 10, 4)
    unseen = np.frombuffer(group.childNodes()[2].pixelData(x, y, 10, 8), np.uint8).reshape(8, 10, 4)
    keep = vis[..., None] > 0
    assert np.array_equal(seen, np.where(keep, fg, 0)) and np.array_equal(unseen, np.where(keep, 0, fg))



def test_mask_upgrade_leaves_the_hidden_layer_when_it_cannot_run(plugin, krita):
    """The Krita 5.1 follow-up that swaps the hidden-parts layer for a transparency mask (checked in real
    Krita by test_krita_gui) gives up, touching nothing, without the action, without a view of the
    document for its time, or when the result's layers changed meanwhile."""
    from layerdecomp_krita import canvas, visibility_mask

    doc, _ = _doc(krita, 30, 30)
    mask = np.zeros((30, 30), np.uint8)
    mask[10:20, 10:20] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, doc.activeNode())
    result, fg, bg, vis = _result(plugin, source, (0, 0, 10, 8), hidden=True)
    written = canvas.write_result(source, result)
    group = written.group
    layout = _tree(group)
    pixels = [c.pixelData(0, 0, 30, 30) for c in group.childNodes()]

    def unchanged():
        return _tree(group) == layout and [c.pixelData(0, 0, 30, 30) for c in group.childNodes()] == pixels

    upgrade = canvas.mask_upgrade(krita, source, result, written)
    assert upgrade.step() is True and unchanged()  # this Krita has no actions

    krita.action = lambda name: pytest.fail("the action must not run on a document without the view")
    krita.createDocument(5, 5)  # now the active document
    upgrade = canvas.mask_upgrade(krita, source, result, written)
    steps = [upgrade.step() for _ in range(visibility_mask.MAX_TICKS + 1)]
    assert steps == [False] * visibility_mask.MAX_TICKS + [True] and unchanged()

    krita._active_document = doc
    upgrade = canvas.mask_upgrade(krita, source, result, written)
    group.childNodes()[1].setPixelData(b"\x01" * 4, source.crop.x, source.crop.y, 1, 1)  # the artist painted
    assert upgrade.step() is True
    assert _tree(group) == layout
    krita.action = lambda name: None
    assert canvas.mask_upgrade(krita, source, result, canvas.write_result(source, result)) is not None
    plain, _, _, _ = _result(plugin, source, (0, 0, 10, 8))
    assert canvas.mask_upgrade(krita, source, plain, canvas.write_result(source, plain)) is None


def test_a_failed_insert_leaves_the_document_as_it_was(plugin, krita):
    from layerdecomp_krita import canvas
    from layerdecomp_krita.messages import UserError

    doc, pixels = _doc(krita, 30, 20)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, doc.activeNode())
    before = _tree(doc.rootNode())
    doc.rootNode().refuse_children = True
    with pytest.raises(UserError) as info:
        canvas.write_result(source, _result(plugin, source, (0, 0, 5, 5))[0])
    assert info.value.code == "write_failed" and "not changed" in info.value.message
    assert _tree(doc.rootNode()) == before


def test_changes_while_the_job_ran_are_detected(plugin, krita):
    from layerdecomp_krita import canvas
    from layerdecomp_krita.messages import UserError

    doc, _ = _doc(krita, 30, 20)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, doc.activeNode())
    canvas.check_still_applies(source, krita.documents())
    source.node.setPixelData(b"\x01\x02\x03\x04", 6, 6, 1, 1)
    with pytest.raises(UserError, match="painted on"):
        canvas.check_still_applies(source, krita.documents())
    source.node.remove()
    with pytest.raises(UserError, match="deleted"):
        canvas.check_still_applies(source, krita.documents())
    doc.close()
    with pytest.raises(UserError, match="closed"):
        canvas.check_still_applies(source, krita.documents())


def test_split_by_visibility(plugin):
    from layerdecomp_krita.canvas import has_hidden_parts, split_by_visibility

    rng = np.random.default_rng(3)
    fg = rng.integers(0, 256, (7, 9, 4), dtype=np.uint8)
    vis = rng.choice([0, 255], (7, 9)).astype(np.uint8)
    seen, unseen = split_by_visibility(fg.tobytes(), vis.tobytes())
    keep = vis[..., None] > 0
    assert seen == np.where(keep, fg, 0).astype(np.uint8).tobytes()
    assert unseen == np.where(keep, 0, fg).astype(np.uint8).tobytes()
    fg[..., 3] = np.where(keep[..., 0], fg[..., 3], 0)
    assert not has_hidden_parts(fg.tobytes(), vis.tobytes())


# ---------------------------------------------------------------------------------------------- settings, messages

def test_settings_round_trip_through_krita_strings(plugin, krita):
    from layerdecomp_krita import settings as s

    assert s.load(krita.readSetting) == s.Settings()
    announced = {"backend": "diffusion", "methods": [], "schema": SCHEMA}
    custom = s.Settings(server_url="ws://127.0.0.1:9999", token_file="~/t", backend="classical",
                        options={"steps": 20, "seed": 7}, margin=12, auto_start=False,
                        server_command="/opt/x/layerdecomp serve", announced=announced)
    s.save(custom, krita.writeSetting)
    assert all(isinstance(v, str) for v in krita._settings.values())
    assert s.load(krita.readSetting) == custom
    krita.writeSetting("layerdecomp", "options", "many")
    assert s.load(krita.readSetting).options == {}


# A welcome.schema as a server sends it (docs/protocol.md).
SCHEMA = [{"name": "steps", "type": "int", "default": 28, "label": "Steps", "help": "h", "min": 1, "max": 200},
          {"name": "seed", "type": "seed", "default": 0, "label": "Variation", "help": "h", "min": 0,
           "max": 4294967295},
          {"name": "mode", "type": "choice", "default": "auto", "label": "Mode", "help": "h",
           "choices": [{"value": "auto", "label": "Auto"}, {"value": "zero-shot", "label": "Zero-shot"}]}]


def test_a_job_sends_the_options_the_server_takes_with_values_that_fit(plugin):
    from layerdecomp_krita import settings as s

    custom = s.Settings(options={"steps": 20, "seed": 7, "mode": "zero-shot", "gone": 1})
    assert custom.backend_options(SCHEMA) == {"steps": 20, "seed": 7, "mode": "zero-shot"}
    assert custom.backend_options(SCHEMA[:1]) == {"steps": 20}  # only what this server's backend takes
    assert s.Settings(options={"steps": 0, "mode": "x", "seed": 7}).backend_options(SCHEMA) == {"seed": 7}
    assert s.Settings(options={"steps": 20}).backend_options([]) == {}


def test_a_random_seed_is_a_new_one_each_job(plugin):
    from layerdecomp_krita import settings as s

    seeds = [s.Settings().backend_options(SCHEMA)["seed"] for _ in range(5)]
    assert all(isinstance(x, int) and 0 <= x < 2**31 for x in seeds)
    assert len(set(seeds)) > 1  # five draws from 2^31 values: the same five times would be a broken "random"


def test_defaults_come_from_the_installed_server_settings(plugin, krita, tmp_path, monkeypatch):
    import json

    from layerdecomp_krita import settings as s

    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    assert s.load(krita.readSetting) == s.Settings()  # no server.json: the built-in defaults
    (tmp_path / "server.json").write_text(json.dumps({
        "server_command": "/opt/ld/bin/python -m layerdecomp serve", "host": "127.0.0.1", "port": 9911,
        "backend": "classical", "python": "/opt/ld/bin/python"}))
    loaded = s.load(krita.readSetting)
    assert (loaded.server_command, loaded.server_url, loaded.backend) == (
        "/opt/ld/bin/python -m layerdecomp serve", "ws://127.0.0.1:9911", "classical")
    krita.writeSetting("layerdecomp", "server_url", "ws://127.0.0.1:1234")  # the artist's choice wins
    assert s.load(krita.readSetting).server_url == "ws://127.0.0.1:1234"
    (tmp_path / "server.json").write_text("{not json")
    assert s.load(krita.readSetting).server_command == "layerdecomp serve"


def test_token_file_follows_the_server_config(plugin, tmp_path, monkeypatch):
    from layerdecomp_krita import settings as s

    import layerdecomp.config

    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    assert s.token_path() == layerdecomp.config.token_path()
    assert s.read_token(s.Settings()) is None  # no file yet: never "", which would prove nothing
    (tmp_path / "token").write_text("abcdefghijklmnopqrstuvwxyz\n")
    assert s.read_token(s.Settings()) == "abcdefghijklmnopqrstuvwxyz"
    (tmp_path / "token").write_text("abc\n")  # the server's own rules: too short
    with pytest.raises(ValueError, match="characters"):
        s.read_token(s.Settings())


@pytest.mark.parametrize("code", ["unauthorized", "server_unverified", "unauthentic", "too_large", "busy",
                                  "backend_unavailable", "invalid_input", "internal_error", "shutting_down", "timeout",
                                  "unsupported_version",
                                  "new_code"])
def test_server_errors_become_artist_messages(plugin, code):
    from layerdecomp_krita.messages import for_server_error

    error = for_server_error(code, "the detail.", "/x/token")
    assert error.code == code and error.message.endswith("Your picture was not changed.")
    without_detail = ("unauthorized", "server_unverified", "unauthentic", "busy", "shutting_down",
                      "timeout")
    assert "detail" in error.message or code in without_detail
    assert for_server_error("cancelled", "").code == "cancelled"


def test_an_unexpected_error_while_writing_ends_the_job_cleanly(plugin, krita, monkeypatch):
    """Whatever goes wrong while the layers are built, the job ends with a message and the next can run."""
    from layerdecomp_krita.client import JobResult
    from layerdecomp_krita.controller import Controller

    class UI:
        def show_progress(self, text, on_cancel): pass
        def update_progress(self, text, fraction): pass
        def close_progress(self): pass
        def notify(self, level, text): pass
        def start_timer(self, callback, ms): return lambda: None

    doc, _ = _doc(krita, 30, 20)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 255
    _select(doc, mask)
    before = _tree(doc.rootNode())

    def run_job(settings, request, cancel, report):
        return JobResult((0, 0, 2, 2), bytes(16), bytes(16), bytes(4), {})

    def broken(node):
        raise RuntimeError("no duplicate today")

    monkeypatch.setattr(type(doc.activeNode()), "duplicate", broken)
    controller = Controller(krita, UI(), run_job=run_job)
    controller.trigger()
    controller.job.thread.join(5)
    controller.poll()
    assert controller.job is None
    assert controller.messages[-1][:2] == ("error", "write_failed")
    assert _tree(doc.rootNode()) == before
    assert "object" not in str(before)


def _source_as_result(settings, request, cancel, report):
    """A job whose object is the uploaded picture itself, all of it visible (JobResult as the client makes it)."""
    from layerdecomp_krita.client import JobResult

    fg = bytes(request.image)
    visible = fg[3::4].translate(bytes([0] + [255] * 255))  # nothing hidden
    return JobResult((0, 0, request.width, request.height), fg, fg, visible, {})


def _split_and_settle(controller, view, ui) -> None:
    """Run a split through the controller and its follow-up steps (Krita's event loop and the timers by hand)."""
    controller.trigger()
    controller.job.thread.join(5)
    controller.poll()
    for _ in range(400):
        if controller.after_write is None:
            break
        view.event_loop()
        ui.tick()


class TimerUI:
    """The controller's window side, with every timer run by hand (``tick``)."""

    def __init__(self):
        self.timers = []
        self.notes = []

    def show_progress(self, text, on_cancel): pass
    def update_progress(self, text, fraction): pass
    def close_progress(self): pass

    def notify(self, level, text):
        self.notes.append((level, text))

    def start_timer(self, callback, ms):
        self.timers.append(callback)
        return lambda: self.timers.remove(callback) if callback in self.timers else None

    def tick(self):
        for callback in list(self.timers):
            callback()


class FakeView:
    """Krita with a window showing ``doc``: ``toggle_layer_visibility`` toggles the active layer and is an
    undo step, ``create_quick_group`` puts it in a new group in its place (one step), ``deselect`` drops the
    selection (one step; Krita 6 runs its event loop inside it: ``inside_action``); ``setActiveNode`` takes
    effect only a tick later, after Krita has activated the inserted group, as the real one does."""

    def __init__(self, krita, doc, monkeypatch):
        self.doc = doc
        self.pending = []
        monkeypatch.setattr(krita, "activeWindow", lambda: self, raising=False)
        monkeypatch.setattr(krita, "action", self.action, raising=False)
        monkeypatch.setattr(doc, "setActiveNode", self.pending.append)
        self.inside_action = lambda: None

    def action(self, name):
        class Action:
            def trigger(inner):
                assert name in ("toggle_layer_visibility", "deselect", "create_quick_group"), name
                if name == "deselect":
                    self.inside_action()  # Krita 6 runs its event loop in there: our timers tick
                    self.doc.setSelection(None)
                    self.doc.undo_log.append("Deselect")
                    return
                node = self.doc._active
                if name == "create_quick_group":
                    parent = node.parentNode()
                    group = self.doc.createNode("Group 1", "grouplayer")
                    siblings = parent.childNodes()
                    siblings[siblings.index(node)] = group
                    parent.setChildNodes(siblings)
                    group.setChildNodes([node])
                    self.doc.undo_log.append("Quick Group")
                    return
                node.setVisible(not node.visible())
                self.doc.undo_log.append("Property Changes")
        return Action()

    def activeView(self):
        return self

    def selectedNodes(self):
        return [self.doc._active]

    def event_loop(self):
        while self.pending:
            self.doc._active = self.pending.pop(0)


@pytest.mark.parametrize("opaque", [True, False])
def test_after_success_the_object_is_active_and_no_undo_step_shows_another_picture(plugin, krita, monkeypatch,
                                                                                   opaque):
    from layerdecomp_krita.controller import Controller

    doc, _ = _opaque_doc(krita) if opaque else _doc(krita, 40, 30)
    node = doc.rootNode().childNodes()[0]
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    view = FakeView(krita, doc, monkeypatch)
    ui = TimerUI()

    controller = Controller(krita, ui, run_job=_source_as_result)
    for _ in range(3):
        doc._active = node
        _select(doc, mask)
        doc.undo_log.clear()
        controller.trigger()
        controller.job.thread.join(5)
        controller.poll()
        assert controller.messages[-1][:2] == ("info", "done")
        group = controller.last_group
        name = group.name()
        doc._active = group  # what Krita does with the node just inserted
        for _ in range(100):
            if controller.after_write is None:
                break
            view.event_loop()
            ui.tick()
        assert controller.after_write is None and len(ui.timers) == 1  # the watch for the split's undo
        assert doc.activeNode() is controller.last_written.obj
        assert node.visible()
        # The selection is dropped last (so the move tool carries all of the Object), by an undo step.
        assert doc.selection() is None
        if opaque:  # the group covers the source: one step, then the Deselect
            assert doc.undo_log == ["Add Layer", "Deselect"]
        else:
            # A semi-transparent source: in a group of its own, the result above it there replaces it inside
            # the result's box (a pass-through group whose bottom layer, "erase", cuts the source there).
            wrapper = node.parentNode()
            assert wrapper is not doc.rootNode() and wrapper.childNodes() == [node, group]
            assert wrapper.name() == name and group.name() == f"{name} – result"
            hole, plate, obj = group.childNodes()
            assert group.passThroughMode() and group.blendingMode() == "normal"
            assert hole.blendingMode() == "erase" and hole.name().endswith(" – hole")
            assert obj is controller.last_written.obj and plate is controller.last_written.background
            x, y, w, h = controller.last_written.box
            assert set(hole.pixelData(x, y, w, h)[3::4]) == {255}
            # the hole and the clean plate hold the result's box only
            for layer in (hole, plate):
                everything = layer.pixelData(0, 0, 40, 30)[3::4]
                assert sum(a > 0 for a in everything) == sum(a > 0 for a in layer.pixelData(x, y, w, h)[3::4])
            assert doc.undo_log == ["Composition Mode Change", "Quick Group", "Add Layer", "Deselect"]
        # The artist undoes the split: Krita leaves no layer active; the source becomes active again.
        doc.rootNode().setChildNodes([node])
        doc._active = None
        for _ in range(10):
            ui.tick()
            view.event_loop()
        assert doc.activeNode() is node


def test_where_krita_does_not_group_the_source_the_result_goes_above_it_and_hides_it(plugin, krita, monkeypatch):
    """A semi-transparent source that Krita's Quick Group leaves where it was: the result group goes back to
    Normal blending, above the source, and the source is hidden by the undoable visibility action."""
    from layerdecomp_krita.controller import Controller

    doc, _ = _doc(krita, 40, 30)
    node = doc.rootNode().childNodes()[0]
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    view = FakeView(krita, doc, monkeypatch)
    real_action = view.action
    monkeypatch.setattr(krita, "action", lambda name: real_action(name) if name != "create_quick_group" else
                        type("Inert", (), {"trigger": lambda self: None})())
    ui = TimerUI()

    controller = Controller(krita, ui, run_job=_source_as_result)
    doc._active = node
    doc.undo_log.clear()
    _split_and_settle(controller, view, ui)
    group = controller.last_group
    assert controller.after_write is None and group.parentNode() is doc.rootNode()
    assert doc.rootNode().childNodes() == [node, group] and group.blendingMode() == "normal"
    assert not group.passThroughMode()
    # the usual layers: the whole layer's clean plate (no hole), as for any source the group does not cover
    plate, obj = group.childNodes()
    assert plate.name().endswith(" – clean plate") and obj is controller.last_written.obj
    assert plate.pixelData(0, 0, 40, 30)[3::4] != bytes(40 * 30)
    assert not node.visible() and doc.selection() is None
    assert doc.undo_log == ["Composition Mode Change", "Add Layer", "Property Changes", "Deselect"]


@pytest.mark.parametrize("opaque", [True, False])
def test_a_timer_tick_inside_krita_s_own_event_loop_waits_for_the_step_under_way(plugin, krita, monkeypatch,
                                                                                   caplog, opaque):
    """Krita 6's Deselect runs Krita's event loop inside the action, so the follow-up's timer ticks while
    its step is still running: that tick must wait (it broke the follow-up: "generator already executing")."""
    from layerdecomp_krita.controller import Controller

    doc, _ = _opaque_doc(krita) if opaque else _doc(krita, 40, 30)
    node = doc.rootNode().childNodes()[0]
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    view = FakeView(krita, doc, monkeypatch)
    ui = TimerUI()
    view.inside_action = ui.tick

    controller = Controller(krita, ui, run_job=_source_as_result)
    doc._active = node
    _split_and_settle(controller, view, ui)
    assert controller.after_write is None
    assert "the steps after writing the result failed" not in caplog.text  # (it was given up half-way)
    assert doc.selection() is None and doc.undo_log[-1] == "Deselect"
    assert doc.activeNode() is controller.last_written.obj and node.visible()


def test_progress_moves_forward_in_stage_order_and_never_fills_while_work_remains(plugin):
    """The classical backend's reports interleave (the fill starts first and runs beside the edge search):
    the bar only moves forward, the label follows the stages' running order, and it is never full before
    the result is written."""
    from layerdecomp_krita.progress import ProgressView

    view = ProgressView()
    reports = [("region", 0.0), ("region", 1.0), ("fill", 0.0), ("alpha", 0.0), ("alpha", 0.5), ("fill", 0.25),
               ("alpha", 1.0), ("fill", 0.5), ("fill", 0.2), ("fill", 1.0), ("layering", 0.0), ("layering", 1.0)]
    shown = [view.update(stage, fraction) for stage, fraction in reports]
    labels = [label for label, _ in shown]
    fractions = [fraction for _, fraction in shown]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
    assert fractions[6] > fractions[3]  # the edge found: the bar moved although the fill is at a quarter
    assert labels[3:] == ["Finding the object's edge…"] * 3 + ["Painting the background behind the object…"] * 3 \
        + ["Assembling the layers…"] * 3
    order = ["Preparing…", "Painting the background behind the object…", "Finding the object's edge…",
             "Assembling the layers…"]
    assert view.update("something_new", 0.5)[0] == "Something new…"
    assert all(label in order for label in labels)


def test_after_a_cancel_the_next_job_says_it_waits_for_the_server(plugin, krita):
    import threading

    from layerdecomp_krita import client, messages
    from layerdecomp_krita.controller import Controller

    doc, _ = _doc(krita, 30, 20)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 255
    _select(doc, mask)
    release = threading.Event()
    shown = []

    class UI(TimerUI):
        def update_progress(self, text, fraction):
            shown.append((text, fraction))

    def slow_to_stop(settings, request, cancel, report):
        cancel.wait(5)
        release.wait(5)  # the server has not said "cancelled" yet
        raise messages.cancelled()

    def next_job(settings, request, cancel, report):
        report("status", client.WORKING)
        release.wait(5)
        report("progress", ("alpha", 0.5))
        cancel.wait(5)
        raise messages.cancelled()

    ui = UI()
    controller = Controller(krita, ui, run_job=slow_to_stop)
    controller.trigger()
    controller.cancel()
    assert controller.job is None and controller.messages[-1][1] == "cancelled"
    controller.run_job = next_job
    controller.trigger()
    for _ in range(100):
        controller.poll()
        if shown:
            break
        time.sleep(0.01)
    assert shown[-1] == (messages.WAITING_FOR_CANCELLED, None)
    release.set()
    for _ in range(100):
        controller.poll()
        if len(shown) > 1:
            break
        time.sleep(0.01)
    # region and layering not reported by this stand-in: the edge half done is a bit under half the bar
    assert shown[-1][0] == "Finding the object's edge…" and 0.05 < shown[-1][1] < 0.5
    controller.cancel()


def test_a_result_awaiting_krita_5_1s_mask_goes_in_hidden_and_is_shown_by_an_undo_step(plugin, krita, monkeypatch):
    """Recovered hidden parts on Krita 5.1 with a view: the group is inserted hidden while the mask is made
    (here Krita's mask action is missing, so the hidden-parts layer stays), then shown by Krita's undoable
    visibility action: no undo step shows the Object without what hides its recovered parts."""
    from layerdecomp_krita.controller import Controller

    doc, _ = _opaque_doc(krita)
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 10:20] = 255
    _select(doc, mask)
    view = FakeView(krita, doc, monkeypatch)
    krita._active_document = doc
    ui = TimerUI()
    source_node = doc.rootNode().childNodes()[0]

    def run_job(settings, request, cancel, report):
        return _result(plugin, canvas_source, (0, 0, 6, 6), hidden=True)[0]

    from layerdecomp_krita import canvas

    canvas_source = canvas.read_source(doc, source_node)
    controller = Controller(krita, ui, run_job=run_job)
    doc.undo_log.clear()
    controller.trigger()
    controller.job.thread.join(5)
    controller.poll()
    written = controller.last_written
    assert written.show_group and not written.group.visible()  # in hidden, as Krita 5.1's mask is made
    for _ in range(300):
        if controller.after_write is None:
            break
        view.event_loop()
        ui.tick()
    assert controller.after_write is None
    # The group shown, then the source hidden (this result does not cover it): each its own undo step.
    assert written.hide_source and written.group.visible() and not source_node.visible()
    assert doc.undo_log == ["Add Layer", "Property Changes", "Property Changes", "Deselect"]
    assert doc.activeNode() is written.obj


# ------------------------------------------------------------------------------- several objects (issue 26)

def _two_part_job(settings, request, cancel, report):
    """A job whose answer has two objects, as the client makes it from a server's frames: the uploaded
    picture's selected pixels, left part and right part, over a plate that is the picture itself (so the
    layers over the plate show the original picture exactly)."""
    from layerdecomp_krita.client import ObjectResult, with_objects

    w, h = request.width, request.height
    image, mask = bytes(request.image), bytes(request.mask)
    objects = []
    for x0, x1 in ((0, w // 2), (w // 2, w)):
        rows = [(y, [x for x in range(x0, x1) if mask[y * w + x]]) for y in range(h)]
        ys = [y for y, xs in rows if xs]
        xs = [x for _y, row in rows for x in row]
        bx, by, bw, bh = min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
        fg, vis = bytearray(bw * bh * 4), bytearray(bw * bh)
        for y in range(by, by + bh):
            for x in range(bx, bx + bw):
                if mask[y * w + x]:
                    i = (y - by) * bw + x - bx
                    fg[4 * i:4 * i + 4] = image[4 * (y * w + x):4 * (y * w + x) + 4]
                    vis[i] = 255
        objects.append(ObjectResult((bx, by, bw, bh), bytes(fg), bytes(vis)))
    return with_objects((0, 0, w, h), image, objects, {"backend": "test"})


def _two_parts_doc(krita):
    doc, pixels = _opaque_doc(krita, 40, 30)
    node = doc.rootNode().childNodes()[0]
    node.setName("Cups")
    mask = np.zeros((30, 40), np.uint8)
    mask[8:16, 4:12] = 255
    mask[12:22, 26:34] = 255
    _select(doc, mask)
    return doc, pixels, node, mask


def _over(bottom, top):
    """Straight-alpha "over" of two H x W x 4 uint8 arrays, as floats."""
    a = top[..., 3:4] / 255.0
    out = bottom.astype(np.float64).copy()
    out[..., :3] = top[..., :3] * a + bottom[..., :3] * (1 - a)
    out[..., 3:] = 255 * (a + bottom[..., 3:4] / 255.0 * (1 - a))
    return out


def test_with_objects_gathers_the_objects_over_the_box(plugin):
    from layerdecomp_krita.client import ObjectResult, with_objects

    rng = np.random.default_rng(2)
    a = rng.integers(1, 256, (3, 4, 4), dtype=np.uint8)
    b = rng.integers(1, 256, (2, 5, 4), dtype=np.uint8)
    b[0, 0] = 0  # a pixel of b's box that is a's: b is transparent there
    result = with_objects((10, 20, 8, 5), b"plate", [
        ObjectResult((10, 20, 4, 3), a.tobytes(), bytes([255]) * 12),
        ObjectResult((13, 22, 5, 2), b.tobytes(), ((b[..., 3] > 0) * 255).astype(np.uint8).tobytes())])
    fg = np.frombuffer(result.foreground, np.uint8).reshape(5, 8, 4)
    expected = np.zeros((5, 8, 4), np.uint8)
    expected[0:3, 0:4] = a
    expected[2:4, 3:8][b[..., 3] > 0] = b[b[..., 3] > 0]
    assert np.array_equal(fg, expected)
    vis = np.frombuffer(result.visibility, np.uint8).reshape(5, 8)
    assert np.array_equal(vis > 0, expected[..., 3] > 0)
    assert result.background == b"plate" and len(result.objects) == 2 and result.box == (10, 20, 8, 5)


def test_two_parts_give_two_objects_over_one_plate_in_one_undo_step(plugin, krita, monkeypatch):
    """The group holds, top to bottom, "object 2", "object 1" and the plate, inserted in one step (then the
    Deselect); the topmost object is active and nothing is selected; the layers show the original picture."""
    from layerdecomp_krita.controller import Controller

    doc, pixels, node, mask = _two_parts_doc(krita)
    view = FakeView(krita, doc, monkeypatch)
    ui = TimerUI()
    controller = Controller(krita, ui, run_job=_two_part_job)
    doc._active = node
    doc.undo_log.clear()
    _split_and_settle(controller, view, ui)

    assert controller.messages[-1][:2] == ("info", "done"), controller.messages
    group = controller.last_group
    assert group.name() == "Cups (split)"
    assert [c.name() for c in reversed(group.childNodes())] == [
        "Cups – object 2", "Cups – object 1", "Cups – clean plate"]
    assert doc.undo_log == ["Add Layer", "Deselect"]
    top = group.childNodes()[-1]
    assert doc.activeNode() is top and controller.last_written.obj is top
    assert doc.selection() is None and node.visible()
    # Each object holds its own part only: they can be moved apart.
    layers = [np.frombuffer(c.pixelData(0, 0, 40, 30), np.uint8).reshape(30, 40, 4) for c in group.childNodes()]
    plate, first, second = layers
    assert (first[..., 3] > 0).sum() == (mask[:, :20] > 0).sum() and not first[:, 20:].any()
    assert (second[..., 3] > 0).sum() == (mask[:, 20:] > 0).sum() and not second[:, :20].any()
    # The clean plate holds the result's box, over the source left visible (opaque: covered exactly).
    picture = _over(_over(np.where(plate[..., 3:] > 0, plate, pixels), first), second)
    assert np.abs(picture - pixels).max() == 0


def test_the_setting_and_the_servers_features_decide_whether_parts_are_asked(plugin, krita):
    from layerdecomp_krita import client, settings
    from layerdecomp_krita import protocol as P

    assert settings.load(krita.readSetting).split_parts is True  # "One layer per separate part" is on by default
    new, old = (P.Welcome(server="s", backend="b", features=features) for features in (["parts"], []))
    assert client.asks_for_parts(settings.Settings(), new)
    assert not client.asks_for_parts(settings.Settings(), old)  # an older server refuses the field
    assert not client.asks_for_parts(settings.Settings(split_parts=False), new)
    off = settings.Settings(split_parts=False)
    settings.save(off, krita.writeSetting)
    assert settings.load(krita.readSetting).split_parts is False
    # Without parts the request is byte for byte what an older server always got.
    assert "parts" not in P.encode(P.Decompose(job=1, width=2, height=2, parts=False))


def test_hidden_parts_of_several_objects_stay_hidden_with_their_object(plugin, krita):
    """Krita 5.1 (no createTransparencyMask): each object's recovered parts go to a hidden layer just above
    it; the topmost Object (not a hidden-parts layer) is the one made active."""
    from layerdecomp_krita import canvas
    from layerdecomp_krita.client import ObjectResult, with_objects

    doc, _ = _doc(krita, 30, 30)
    mask = np.zeros((30, 30), np.uint8)
    mask[4:10, 4:10] = 255
    mask[18:26, 18:26] = 255
    _select(doc, mask)
    source = canvas.read_source(doc, doc.activeNode())
    rng = np.random.default_rng(8)
    objects = []
    for ox in (0, 12):
        fg = rng.integers(1, 256, (4, 5, 4), dtype=np.uint8)
        vis = np.full((4, 5), 255, np.uint8)
        vis[0] = 0  # the top row recovered behind something
        objects.append(ObjectResult((ox, ox, 5, 4), fg.tobytes(), vis.tobytes()))
    result = with_objects((0, 0, 17, 16), bytes(17 * 16 * 4), objects)
    written = canvas.write_result(source, result)
    label = canvas.source_label(doc, source.node, source.crop.x, source.crop.y)
    assert [(c.name(), c.visible()) for c in written.group.childNodes()] == [
        (f"{label} – clean plate", True), (f"{label} – object 1", True), (f"{label} – object 1 – hidden parts", False),
        (f"{label} – object 2", True), (f"{label} – object 2 – hidden parts", False)]
    assert written.obj is written.group.childNodes()[3] and written.hidden_layer is None
    x, y = source.crop.x + 12, source.crop.y + 12
    seen = np.frombuffer(written.obj.pixelData(x, y, 5, 4), np.uint8).reshape(4, 5, 4)
    assert not seen[0].any() and np.array_equal(seen[1:], np.frombuffer(objects[1].foreground, np.uint8)
                                                  .reshape(4, 5, 4)[1:])


def test_progress_of_parts_far_apart_names_the_group_at_work(plugin):
    """Separate parts far apart are decomposed one group after another, whose stages come numbered
    ("fill 2/2"): the label says which, and the bar still only moves forward."""
    from layerdecomp_krita.progress import ProgressView

    view = ProgressView()
    reports = [("region 1/2", 1.0), ("alpha 1/2", 0.5), ("fill 1/2", 1.0), ("alpha 1/2", 1.0),
               ("region 2/2", 1.0), ("fill 2/2", 0.5), ("alpha 2/2", 1.0), ("fill 2/2", 1.0)]
    shown = [view.update(stage, fraction) for stage, fraction in reports]
    assert shown[1][0] == "Finding the object's edge (1 of 2)…"
    assert shown[5][0] == "Painting the background behind the object (2 of 2)…"
    fractions = [fraction for _, fraction in shown]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
