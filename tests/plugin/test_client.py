"""The plugin's controller and network client, end to end against a real server on loopback (fake krita,
real websockets, real protocol): success equals decompose(), and every failure leaves the document as
it was with a message."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import layerdecomp
from layerdecomp import backends
from layerdecomp.io import load_image, load_mask
from layerdecomp_server import protocol
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.in_thread import ThreadedServer

from .conftest import REPO

TOKEN = "plugin-test-token"


class RecordingUI:
    """Stands in for ui.QtUI: records what would be shown; the test runs the timer by hand."""

    def __init__(self):
        self.events = []
        self.timer = None
        self.on_cancel = None

    def show_progress(self, text, on_cancel):
        self.events.append(("show", text))
        self.on_cancel = on_cancel

    def update_progress(self, text, fraction):
        self.events.append(("update", text, fraction))

    def close_progress(self):
        self.events.append(("close",))

    def notify(self, level, text):
        self.events.append(("notify", level, text))

    def start_timer(self, callback, interval_ms):
        self.timer = callback

        def stop():
            self.timer = None

        return stop


def pump(controller, ui, until=None, timeout=30.0):
    until = until or (lambda: controller.job is None)
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out; events: {ui.events[-5:]}"
        if ui.timer is not None:
            ui.timer()
        time.sleep(0.005)


@pytest.fixture(scope="module")
def held_backend():
    backends.register_module("test_plugin_held", "tests.plugin.held_backend")
    yield "test_plugin_held"
    backends._MODULES.pop("test_plugin_held", None)


@pytest.fixture(scope="module")
def classical_server():
    with ThreadedServer(ServerConfig(port=0, backend="classical", token=TOKEN)) as running:
        yield running


@pytest.fixture(scope="module")
def held_server(held_backend):
    with ThreadedServer(ServerConfig(port=0, backend=held_backend, token=TOKEN)) as running:
        yield running


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def photo(krita):
    """The example photo as an opaque RGBA/8 document with the example mask as its selection."""
    import krita as fake

    rgb = load_image(REPO / "examples" / "coffee.jpg")
    mask = load_mask(REPO / "examples" / "coffee_mask.png")
    h, w = mask.shape
    bgra = np.dstack([rgb[..., ::-1], np.full((h, w), 255, np.uint8)])
    doc = krita.createDocument(w, h, "coffee", "RGBA", "U8", "", 72.0)
    doc.activeNode().setPixelData(bgra.tobytes(), 0, 0, w, h)
    selection = fake.Selection()
    selection.setPixelData(mask.tobytes(), 0, 0, w, h)
    doc.setSelection(selection)
    return doc, bgra, mask


def configure(krita, **values):
    from layerdecomp_krita import settings

    current = settings.load(krita.readSetting)
    for key, value in values.items():
        setattr(current, key, value)
    settings.save(current, krita.writeSetting)


def snapshot(doc):
    def walk(node):
        return [(c.name(), c.type(), c.visible(), c.opacity(), c.pixelData(0, 0, doc.width(), doc.height()),
                 walk(c)) for c in node.childNodes()]

    return walk(doc.rootNode())


def make_controller(krita):
    from layerdecomp_krita.controller import Controller

    ui = RecordingUI()
    return Controller(krita, ui), ui


def test_decompose_selection_equals_the_library(plugin, krita, photo, classical_server, token_file, caplog):
    caplog.set_level(logging.INFO, logger="layerdecomp_krita")
    doc, bgra, mask = photo
    configure(krita, server_url=classical_server.url, token_file=str(token_file), auto_start=False)
    controller, ui = make_controller(krita)
    source_node = doc.activeNode()
    controller.trigger()
    assert controller.job is not None and ui.events[0][0] == "show"
    pump(controller, ui)

    assert controller.messages[-1][:2] == ("info", "done"), controller.messages
    assert ("close",) in ui.events and any(e[0] == "update" and e[2] is not None for e in ui.events)
    group = doc.rootNode().childNodes()[1]
    # An opaque photo: the group covers it exactly, so it stays visible and the whole result is one undo step.
    # (The layer is called "Background" and the document has no file name: named after the position.)
    assert group.name().startswith("Object at ") and group.name().endswith(" (split)") and source_node.visible()
    assert doc.undo_log == ["Add Layer"]
    background, obj = group.childNodes()
    assert doc.activeNode() is obj

    # The seed is "random" by default: the one drawn is reported back, and with it the library agrees.
    seeds = [int(r.getMessage().rsplit(" ", 1)[1]) for r in caplog.records if "done with seed" in r.getMessage()]
    assert len(seeds) == 1
    rgba = bgra[..., [2, 1, 0, 3]]
    expected = layerdecomp.decompose(rgba, mask, backend="classical", seed=seeds[0])
    h, w = mask.shape
    got_fg = np.frombuffer(obj.pixelData(0, 0, w, h), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
    got_bg = np.frombuffer(background.pixelData(0, 0, w, h), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
    assert np.array_equal(got_fg, expected.foreground)
    # The clean plate holds the result's box only (the source, left visible under it, is the rest).
    inside = np.zeros((h, w), bool)
    inside[expected.box.slices] = True
    assert np.array_equal(got_bg[inside], expected.background[inside])
    assert not got_bg[~inside].any() and np.array_equal(expected.background[~inside], rgba[~inside])
    # What the server announced is kept for the settings dialog to draw the method's options from.
    from layerdecomp_krita import settings

    announced = settings.load(krita.readSetting).announced
    assert announced["backend"] == "classical" and [o["name"] for o in announced["schema"]] == ["matting", "seed"]


@pytest.mark.parametrize("case, code", [
    ("error_reply", "backend_unavailable"),
    ("wrong_token", "server_unverified"),  # the server cannot prove itself with our token
    ("server_down", "unreachable"),
    ("remote_down", "unreachable"),
    ("bad_address", "bad_address"),
    ("no_such_command", "server_start_failed"),
    ("command_exits", "server_start_failed"),
])
def test_failures_leave_the_document_as_it_was(plugin, krita, photo, classical_server, token_file, tmp_path,
                                               case, code, unused_port, caplog):
    doc = photo[0]
    url = classical_server.url
    values = {"server_url": url, "token_file": str(token_file), "auto_start": False}
    if case == "error_reply":
        values["backend"] = "diffusion"
    elif case == "wrong_token":
        (tmp_path / "wrong").write_text("a-token-of-another-server\n")
        values["token_file"] = str(tmp_path / "wrong")
    elif case == "server_down":
        values["server_url"] = f"ws://127.0.0.1:{unused_port}"
    elif case == "remote_down":
        values.update(server_url="ws://192.0.2.1:1", auto_start=True)  # TEST-NET: never local
    elif case == "bad_address":
        values["server_url"] = "http//nowhere"
    elif case == "no_such_command":
        values.update(server_url=f"ws://127.0.0.1:{unused_port}", auto_start=True,
                      server_command="layerdecomp-no-such-program serve")
    elif case == "command_exits":
        values.update(server_url=f"ws://127.0.0.1:{unused_port}", auto_start=True,
                      server_command=f'"{sys.executable}" -c "import sys; print(\'boom\'); sys.exit(3)"')
    configure(krita, **values)
    before = snapshot(doc)
    controller, ui = make_controller(krita)
    controller.trigger()
    pump(controller, ui, timeout=20)
    level, got, text = controller.messages[-1]
    assert (level, got) == ("error", code), controller.messages
    assert ("notify", "error", text) in ui.events
    assert snapshot(doc) == before
    if case in ("server_down", "no_such_command", "command_exits", "error_reply", "wrong_token"):
        assert "not changed" in text
    if case == "command_exits":  # the artist reads plain words; the log has what the command said
        assert "exit code 3" not in text and "boom" not in text
        assert "exit code 3" in caplog.text and "boom" in caplog.text


def test_cancel_while_the_server_works(plugin, krita, photo, held_server, token_file):
    doc = photo[0]
    configure(krita, server_url=held_server.url, token_file=str(token_file), auto_start=False)
    before = snapshot(doc)
    controller, ui = make_controller(krita)
    controller.trigger()
    job = controller.job
    pump(controller, ui, until=lambda: job.state == "working")
    ui.on_cancel()  # the progress dialog's Cancel button
    assert controller.job is None and controller.messages[-1][:2] == ("info", "cancelled")
    assert snapshot(doc) == before
    # The worker tells the server, which stops the job (it would otherwise hold for 30 s).
    job.thread.join(10)
    assert not job.thread.is_alive()
    deadline = time.monotonic() + 10
    while held_server.stats()["open_jobs"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert held_server.stats()["open_jobs"] == 0


def test_server_gone_mid_job(plugin, krita, photo, held_backend, token_file):
    doc = photo[0]
    server = ThreadedServer(ServerConfig(port=0, backend=held_backend, token=TOKEN)).start()
    configure(krita, server_url=server.url, token_file=str(token_file), auto_start=False)
    before = snapshot(doc)
    controller, ui = make_controller(krita)
    controller.trigger()
    job = controller.job
    pump(controller, ui, until=lambda: job.state == "working")
    server.stop()
    pump(controller, ui)
    level, code, text = controller.messages[-1]
    assert level == "error" and code in ("shutting_down", "server_lost"), controller.messages
    assert snapshot(doc) == before


def test_second_trigger_while_busy_and_layer_changed(plugin, krita, photo, classical_server, token_file):
    doc = photo[0]
    configure(krita, server_url=classical_server.url, token_file=str(token_file), auto_start=False)
    before = snapshot(doc)
    controller, ui = make_controller(krita)
    controller.trigger()
    controller.trigger()
    assert controller.messages[-1][:2] == ("warning", "busy")
    doc.activeNode().setPixelData(b"\x00\x00\x00\x00", 300, 100, 1, 1)  # painted on meanwhile
    before = snapshot(doc)
    pump(controller, ui)
    assert controller.messages[-1][:2] == ("error", "layer_changed")
    assert snapshot(doc) == before


def test_auto_start_runs_and_stops_the_local_server(plugin, krita, photo, token_file, tmp_path, monkeypatch,
                                                    unused_port):
    from layerdecomp_krita.local_server import LOCAL

    import tempfile

    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path / "config"))
    temp_logs = set(Path(tempfile.gettempdir()).glob("layerdecomp-server-*"))
    configure(krita, server_url=f"ws://127.0.0.1:{unused_port}", token_file="", auto_start=True,
              server_command=f'"{sys.executable}" -m layerdecomp serve', backend="classical")
    controller, ui = make_controller(krita)
    try:
        controller.trigger()
        pump(controller, ui, timeout=60)
        assert controller.messages[-1][:2] == ("info", "done"), controller.messages
        assert any(e == ("update", "Starting the local server…", None) for e in ui.events)
        process = LOCAL.process
        assert process is not None and process.poll() is None
    finally:
        LOCAL.stop()
    assert process.poll() is not None and LOCAL.process is None
    # Its logs are in the user's log folder (none left in the temp folder): what it printed, and its own
    # size-capped log file.
    logs = tmp_path / "config" / "logs"
    assert "listening on" in (logs / "server-output.log").read_text()
    # The server's own log keeps each job's outcome (it stayed empty before: WARNING level only).
    assert re.search(r"job \d+ done in", (logs / "server.log").read_text())
    assert set(Path(tempfile.gettempdir()).glob("layerdecomp-server-*")) == temp_logs


def test_logs_are_size_capped_and_rotated(plugin, tmp_path):
    import logging

    from layerdecomp_krita import config

    logger = logging.getLogger("layerdecomp_krita.test_rotation")
    logger.propagate = False
    handler = config.log_file_handler(tmp_path / "logs" / "plugin.log")
    logger.addHandler(handler)
    try:
        for i in range(3000):
            logger.warning("line %d %s", i, "x" * 1000)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["plugin.log", "plugin.log.1", "plugin.log.2", "plugin.log.3"]
    assert all((tmp_path / "logs" / name).stat().st_size <= config.LOG_MAX_BYTES for name in files)
    assert "line 2999" in (tmp_path / "logs" / "plugin.log").read_text()


@contextlib.contextmanager
def squatter():
    """A program holding a port that claims to be the server: it records what it hears, answers any hello
    with a made-up proof and a welcome, hoping for pixels. Yields (url, heard)."""
    heard: list = []

    def impostor(ws) -> None:
        try:
            hello = protocol.decode(ws.recv(timeout=5))
            heard.append(hello)
            # Claims anything: the client's own nonce as a proof, then a welcome, hoping for pixels.
            ws.send(protocol.encode(protocol.Challenge(nonce=protocol.new_nonce(), proof=hello.nonce)))
            ws.send(protocol.encode(protocol.Welcome(server="fake", backend="classical")))
            while True:
                heard.append(ws.recv(timeout=2))
        except Exception:  # noqa: BLE001 - the client hanging up ends the impostor's part
            pass

    from websockets.sync.server import serve

    with serve(impostor, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}", heard
        finally:
            server.shutdown()
            thread.join(10)


def test_a_program_squatting_on_the_port_learns_neither_the_token_nor_any_pixel(plugin, krita, photo, token_file):
    doc = photo[0]
    with squatter() as (url, heard):
        configure(krita, server_url=url, token_file=str(token_file), auto_start=True)
        before = snapshot(doc)
        controller, ui = make_controller(krita)
        controller.trigger()
        pump(controller, ui, timeout=20)
    level, code, text = controller.messages[-1]
    assert (level, code) == ("error", "server_unverified") and "not sent" in text
    assert snapshot(doc) == before
    assert [type(item) for item in heard] == [protocol.Hello], heard  # nothing after the hello
    assert TOKEN not in protocol.encode(heard[0])


def test_without_a_token_file_a_squatter_hears_nothing_and_the_artist_is_told(plugin, krita, photo, tmp_path,
                                                                              monkeypatch):
    """Issue 23: with no token file yet the plugin once proved itself with the empty token and wrote the
    impostor's layers. Now it sends nothing: it tells the artist where the file should be, or starts the real
    server (which makes the file) and says plainly when that fails because another program holds the port."""
    doc = photo[0]
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path / "config"))
    with squatter() as (url, heard):
        before = snapshot(doc)
        # Automatic start off, or a token file of the artist's choosing that is missing: say what to do.
        for values in ({"auto_start": False, "token_file": ""},
                       {"auto_start": True, "token_file": str(tmp_path / "missing")}):
            configure(krita, server_url=url, **values)
            controller, ui = make_controller(krita)
            controller.trigger()
            pump(controller, ui, timeout=20)
            level, code, text = controller.messages[-1]
            assert (level, code) == ("error", "no_token"), controller.messages
            assert "layerdecomp serve" in text or "Start the server" in text
            assert "nothing was sent" in text and "not changed" in text
        # Automatic start on: the real server starts, makes the file, and cannot bind the squatted port.
        configure(krita, server_url=url, token_file="", auto_start=True,
                  server_command=f'"{sys.executable}" -m layerdecomp serve', backend="classical")
        controller, ui = make_controller(krita)
        try:
            controller.trigger()
            pump(controller, ui, timeout=90)
        finally:
            from layerdecomp_krita.local_server import LOCAL

            LOCAL.stop()
    level, code, text = controller.messages[-1]
    assert level == "error" and code in ("server_start_failed", "server_unverified"), controller.messages
    assert snapshot(doc) == before
    # At most a hello (a random nonce) reached the squatter: no proof, no options, no pixel.
    assert all(isinstance(item, protocol.Hello) for item in heard), heard
    assert (tmp_path / "config" / "token").is_file()


def test_connection_test_says_what_answered(plugin, krita, classical_server, token_file, tmp_path, unused_port):
    """The settings dialog's Test connection: the server's version, method and device in plain words, or why
    nothing answered; technical detail only in the log's part of the error."""
    from layerdecomp_krita import extension, settings
    from layerdecomp_krita.messages import UserError

    good = settings.Settings(server_url=classical_server.url, token_file=str(token_file), auto_start=False)
    text, announced = extension.describe_server(good)
    assert text.startswith("Connected to ") and "“classical”" in text and "processor (CPU)" in text, text
    # What the settings draw from: the loaded backend's options, and every method with what to do about it.
    assert announced["backend"] == "classical"
    assert [e["name"] for e in announced["schema"]] == ["matting", "seed"]
    methods = {m["name"]: m for m in announced["methods"]}
    assert methods["classical"]["available"] and not methods["diffusion"]["available"]
    assert "restart the server with this method" in methods["diffusion"]["reason"]

    for values, words in (({"server_url": f"ws://127.0.0.1:{unused_port}"}, "No server answers"),
                          ({"server_url": f"ws://127.0.0.1:{unused_port}", "auto_start": True}, "will be started"),
                          ({"token_file": str(tmp_path / "missing")}, "")):
        current = settings.Settings(**{**good.__dict__, **values})
        with pytest.raises(UserError) as info:
            extension.describe_server(current)
        assert words in info.value.message
        assert "ws://" not in info.value.message


def test_the_plugin_retries_a_handshake_refused_as_busy(plugin, krita, photo, held_backend, token_file):
    """Every slot busy with another client's job: the handshake is refused as busy; the plugin tries again
    a few times and gets in once that job ended, instead of telling the artist the server is busy."""
    from layerdecomp_server.protocol import Limits

    from tests.server.helpers import open_raw, picture, recv_message, send_job

    refusals: list = []

    class Refusals(logging.Handler):
        def emit(self, record):
            if "handshake refused" in record.getMessage():
                refusals.append(record.getMessage())

    logger = logging.getLogger("layerdecomp_krita")
    handler, level = Refusals(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    limits = Limits(max_connections=1)
    # Jobs hold for nothing by default (the plugin's); the hog's holds until it is cancelled.
    config = ServerConfig(port=0, backend=held_backend, limits=limits, token=TOKEN, options={"hold_s": 0.0})
    with ThreadedServer(config) as small:
        hog = open_raw(small.url, token=TOKEN)
        image, mask = picture(seed=16)
        send_job(hog, 1, image, mask, hold_s=30.0)
        assert isinstance(recv_message(hog), protocol.Progress)  # it runs
        configure(krita, server_url=small.url, token_file=str(token_file), auto_start=False)
        controller, ui = make_controller(krita)
        controller.trigger()
        try:
            pump(controller, ui, until=lambda: bool(refusals), timeout=10)
            hog.send(protocol.encode(protocol.Cancel(job=1)))  # the hog's job ends: its idle slot can be taken
            pump(controller, ui, timeout=30)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
    assert controller.messages[-1][:2] == ("info", "done"), controller.messages
    assert refusals and all("busy" in text for text in refusals)


@pytest.mark.parametrize("split_parts", [True, False], ids=["one layer per part", "one layer for all"])
def test_three_coins_lassoed_at_once_give_three_object_layers(plugin, krita, classical_server, token_file,
                                                              split_parts):
    """A real photo with three separate objects lassoed at once, through the real server: three Object layers
    (top to bottom "object 3" ... "object 1") over one plate, in one undo step, each the library's own object
    layer, the topmost active; with the setting off, today's one Object layer."""
    import krita as fake

    from tests.core.test_parts import coins_with_three_lassos

    image, mask, _ = coins_with_three_lassos()
    h, w = mask.shape
    bgra = np.dstack([image[..., ::-1], np.full((h, w), 255, np.uint8)])
    doc = krita.createDocument(w, h, "coins", "RGBA", "U8", "", 72.0)
    doc.activeNode().setPixelData(bgra.tobytes(), 0, 0, w, h)
    doc.activeNode().setName("Coins")
    selection = fake.Selection()
    selection.setPixelData(mask.tobytes(), 0, 0, w, h)
    doc.setSelection(selection)
    configure(krita, server_url=classical_server.url, token_file=str(token_file), auto_start=False,
              options={"seed": 3}, split_parts=split_parts)
    controller, ui = make_controller(krita)
    doc.undo_log.clear()
    controller.trigger()
    pump(controller, ui, timeout=120)

    assert controller.messages[-1][:2] == ("info", "done"), controller.messages
    assert doc.undo_log == ["Add Layer"]
    group = doc.rootNode().childNodes()[1]
    names = [c.name() for c in reversed(group.childNodes())]
    rgba = np.dstack([image, np.full((h, w), 255, np.uint8)])
    if not split_parts:
        assert names == ["Coins – object", "Coins – clean plate"]
        return
    assert names == ["Coins – object 3", "Coins – object 2", "Coins – object 1", "Coins – clean plate"]
    assert doc.activeNode() is group.childNodes()[-1]
    expected = layerdecomp.decompose(rgba, mask, backend="classical", split_parts=True, seed=3)
    layers = [np.frombuffer(c.pixelData(0, 0, w, h), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
              for c in group.childNodes()]
    for layer, mine in zip(layers[1:], expected.objects, strict=True):
        assert np.array_equal(layer, mine.on_canvas(h, w))
    # The plate holds the result's box (the source shows beside it); the composite is the photo.
    plate = np.where(layers[0][..., 3:] > 0, layers[0], rgba)
    assert np.array_equal(plate, expected.background)
    out = plate[..., :3].astype(np.float64)
    for layer in layers[1:]:
        a = layer[..., 3:] / 255.0
        out = layer[..., :3] * a + out * (1 - a)
    assert np.abs(out - image).max() <= 1


def test_more_than_sixteen_parts_is_a_plain_message_and_nothing_changes(plugin, krita, classical_server, token_file):
    import krita as fake

    h, w = 120, 240
    rng = np.random.default_rng(4)
    bgra = np.dstack([rng.integers(0, 256, (h, w, 3), dtype=np.uint8), np.full((h, w), 255, np.uint8)])
    mask = np.zeros((h, w), np.uint8)
    for i in range(17):
        x, y = 6 + (i % 9) * 26, 10 + (i // 9) * 60
        mask[y:y + 12, x:x + 12] = 255
    doc = krita.createDocument(w, h, "dots", "RGBA", "U8", "", 72.0)
    doc.activeNode().setPixelData(bgra.tobytes(), 0, 0, w, h)
    selection = fake.Selection()
    selection.setPixelData(mask.tobytes(), 0, 0, w, h)
    doc.setSelection(selection)
    configure(krita, server_url=classical_server.url, token_file=str(token_file), auto_start=False)
    controller, ui = make_controller(krita)
    before = snapshot(doc)
    controller.trigger()
    pump(controller, ui)
    level, code, text = controller.messages[-1]
    assert (level, code) == ("error", "invalid_input"), controller.messages
    assert "17 separate parts" in text and "at most 16" in text
    assert snapshot(doc) == before
