"""Fast tests of the plugin's logic against the fake krita module: regions, reading, writing, messages."""

from __future__ import annotations

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
    assert (source.margin, source.grow) == (16, 4)
    assert (c.x, c.y, c.w, c.h) == (20, 10, 70, 60)
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


def test_write_result_inserts_one_group_and_hides_the_source(plugin, krita):
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
    group = canvas.write_result(source, result)

    assert [n.name() for n in doc.rootNode().childNodes()] == ["Photo", "Photo (decomposed)", "Top"]
    assert not source_node.visible() and source_node.pixelData(0, 0, 60, 40) == pixels.tobytes()
    assert group.opacity() == 200 and group.visible()
    assert [(c.name(), c.visible(), c.opacity()) for c in group.childNodes()] == [
        ("Background", True, 255), ("Object", True, 255)]
    background, obj = group.childNodes()
    x, y = source.crop.x + 3, source.crop.y + 2
    expected_bg = pixels.copy()
    expected_bg[y:y + 15, x:x + 20] = bg
    assert background.pixelData(0, 0, 60, 40) == expected_bg.tobytes()
    expected_fg = np.zeros_like(pixels)
    expected_fg[y:y + 15, x:x + 20] = fg
    assert obj.pixelData(0, 0, 60, 40) == expected_fg.tobytes()
    assert obj.childNodes() == []  # nothing hidden: no mask


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
    group = canvas.write_result(source, result)
    names = [(c.name(), c.visible()) for c in group.childNodes()]
    assert names == [("Background", True), ("Object", True), ("Object (hidden parts)", False)]
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
    group = canvas.write_result(source, result)
    layout = _tree(group)
    pixels = [c.pixelData(0, 0, 30, 30) for c in group.childNodes()]

    def unchanged():
        return _tree(group) == layout and [c.pixelData(0, 0, 30, 30) for c in group.childNodes()] == pixels

    upgrade = canvas.mask_upgrade(krita, source, result, group)
    assert upgrade.step() is True and unchanged()  # this Krita has no actions

    krita.action = lambda name: pytest.fail("the action must not run on a document without the view")
    krita.createDocument(5, 5)  # now the active document
    upgrade = canvas.mask_upgrade(krita, source, result, group)
    steps = [upgrade.step() for _ in range(visibility_mask.MAX_TICKS + 1)]
    assert steps == [False] * visibility_mask.MAX_TICKS + [True] and unchanged()

    krita._active_document = doc
    upgrade = canvas.mask_upgrade(krita, source, result, group)
    group.childNodes()[1].setPixelData(b"\x01" * 4, source.crop.x, source.crop.y, 1, 1)  # the artist painted
    assert upgrade.step() is True
    assert _tree(group) == layout
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
    custom = s.Settings(server_url="ws://127.0.0.1:9999", token_file="~/t", backend="classical", steps=20,
                        seed=7, margin=12, auto_start=False, server_command="/opt/x/layerdecomp serve")
    s.save(custom, krita.writeSetting)
    assert all(isinstance(v, str) for v in krita._settings.values())
    assert s.load(krita.readSetting) == custom
    assert custom.backend_options(["steps"]) == {"steps": 20}
    assert s.Settings().backend_options(["steps", "seed"]) == {}
    krita.writeSetting("layerdecomp", "steps", "many")
    assert s.load(krita.readSetting).steps == 0


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
    assert s.read_token(s.Settings()) == ""
    (tmp_path / "token").write_text("abc\n")
    assert s.read_token(s.Settings()) == "abc"


@pytest.mark.parametrize("code", ["unauthorized", "server_unverified", "too_large", "busy", "backend_unavailable", "invalid_input",
                                  "internal_error", "shutting_down", "timeout", "unsupported_version", "new_code"])
def test_server_errors_become_artist_messages(plugin, code):
    from layerdecomp_krita.messages import for_server_error

    error = for_server_error(code, "the detail.", "/x/token")
    assert error.code == code and error.message.endswith("Your picture was not changed.")
    assert "detail" in error.message or code in ("unauthorized", "server_unverified", "busy", "shutting_down", "timeout")
    assert for_server_error("cancelled", "").code == "cancelled"


def test_an_unexpected_error_while_writing_ends_the_job_cleanly(plugin, krita, monkeypatch):
    """Whatever goes wrong while the layers are built, the job ends with a message and the next can run."""
    from layerdecomp_krita import canvas
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
    assert canvas.OBJECT_NAME not in str(before)
