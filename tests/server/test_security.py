"""A hostile neighbour on loopback: what it can no longer do (issue 13's figures, turned around).

Each test is a bounded loop on loopback. Memory is measured with psutil on a server in its own process,
so what the attacking client holds does not count.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import sys
import threading
import time

import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.sync.server import serve as serve_sync

import layerdecomp
from layerdecomp_server import protocol
from layerdecomp_server.background import BackgroundServer
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.client import Client

from .conftest import TEST_LIMITS
from .helpers import TOKEN, expect_error, open_raw, picture, recv_message, send_job, wait_for
from .test_malformed import assert_closed, assert_serving
from .test_roundtrip import assert_same
from .test_serve_cli import start, stop

MiB = 1 << 20


# ------------------------------------------------------------------------------------ before the token


def _raw_websocket(port: int) -> socket.socket:
    """A TCP connection that has done the websocket upgrade, and nothing else."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def _send_big_text_frame(sock: socket.socket, size: int) -> int:
    """Announce and send (as far as the server lets us) one masked text frame of ``size`` bytes;
    return how many bytes came back meanwhile and after."""
    sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, size) + b"\x00\x00\x00\x00")
    chunk = b"a" * MiB
    received = 0
    sock.settimeout(0.01)
    sent = 0
    try:
        while sent < size:
            sock.sendall(chunk[: min(len(chunk), size - sent)])
            sent += min(len(chunk), size - sent)
            try:
                data = sock.recv(65536)
                if not data:
                    break
                received += len(data)
            except socket.timeout:
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(5)
    try:
        while data := sock.recv(65536):
            received += len(data)
    except (OSError, socket.timeout):
        pass
    return received


def test_a_32_mb_unauthenticated_message_costs_little_and_gets_a_short_reply(tmp_path):
    process, url = start([sys.executable, "-m", "layerdecomp", "serve", "--port", "0", "--backend", "classical"],
                         tmp_path)
    try:
        server = psutil.Process(process.pid)
        port = int(url.rsplit(":", 1)[1])
        _raw_websocket(port).close()  # warm up whatever a first connection allocates
        time.sleep(0.2)
        before = server.memory_info().rss
        peak = [before]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], server.memory_info().rss)
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            replies = [_send_big_text_frame(_raw_websocket(port), 32 * MiB) for _ in range(4)]
        finally:
            done.set()
            watcher.join()
        assert max(replies) < 64 * 1024, replies
        assert peak[0] - before < 64 * MiB, f"the server grew by {(peak[0] - before) / MiB:.0f} MiB"
        # ... and it still serves.
        image, mask = picture(seed=3)
        token = (tmp_path / "token").read_text().strip()
        with Client(url, token=token) as client:
            assert_same(client.decompose(image, mask, backend="classical"),
                        layerdecomp.decompose(image, mask, backend="classical"))
    finally:
        stop(process, 15)


def test_40_hello_less_sockets_do_not_stop_an_authenticated_client(server):
    """They are kept to ``max_pending`` (the oldest goes for a newcomer) and never reach the slots of
    authenticated clients; reopening them while a client works does not stop it either."""
    stop_flag = threading.Event()
    opened = [0]

    def squat() -> None:
        sockets = []
        while not stop_flag.is_set() and opened[0] < 2000:  # bounded
            try:
                sockets.append(connect(server.url, open_timeout=2))
                opened[0] += 1
            except (OSError, InvalidStatus, TimeoutError):
                pass
            sockets = [ws for ws in sockets if ws.protocol.state.name == "OPEN"][-40:]
            if len(sockets) >= 40:
                time.sleep(0.01)
        for ws in sockets:
            ws.close()

    squatter = threading.Thread(target=squat)
    squatter.start()
    try:
        wait_for(lambda: opened[0] >= 40, timeout=20, what="40 hello-less sockets")
        assert server.stats()["pending"] <= TEST_LIMITS.max_pending
        image, mask = picture(seed=7)
        expected = layerdecomp.decompose(image, mask, backend="test_gated")
        for _ in range(3):
            with Client(server.url, token=TOKEN) as client:
                assert_same(client.decompose(image, mask), expected)
    finally:
        stop_flag.set()
        squatter.join(30)
    assert_serving(server)


def test_a_fake_server_on_the_port_learns_neither_the_token_nor_any_pixel():
    heard: list = []
    strategies = iter(["bogus proof", "welcome at once", "error", "silence-free echo"])

    def fake(ws) -> None:
        strategy = next(strategies, "bogus proof")
        try:
            hello = protocol.decode(ws.recv(timeout=5))
            heard.append(hello)
            if strategy == "bogus proof":
                ws.send(protocol.encode(protocol.Challenge(nonce=protocol.new_nonce(), proof="0" * 64)))
            elif strategy == "welcome at once":
                ws.send(protocol.encode(protocol.Welcome(server="fake", backend="classical")))
            elif strategy == "error":
                ws.send(protocol.encode(protocol.Error(code="unauthorized", message="send me the token")))
            else:  # replay the client's own nonce as a "proof"-looking thing
                ws.send(protocol.encode(protocol.Challenge(nonce=hello.nonce, proof=hello.nonce)))
            while True:
                heard.append(ws.recv(timeout=2))
        except Exception:
            pass

    with serve_sync(fake, "127.0.0.1", 0) as fake_server:
        thread = threading.Thread(target=fake_server.serve_forever)
        thread.start()
        url = f"ws://127.0.0.1:{fake_server.socket.getsockname()[1]}"
        image, mask = picture(seed=8)
        try:
            for _ in range(4):
                with pytest.raises(layerdecomp.LayerDecompError):
                    Client(url, token=TOKEN).decompose(image, mask)
        finally:
            fake_server.shutdown()
            thread.join(10)
    assert len([h for h in heard if isinstance(h, protocol.Hello)]) == 4
    for item in heard:
        text = item if isinstance(item, (str, bytes)) else protocol.encode(item)
        data = text.encode() if isinstance(text, str) else text
        assert TOKEN.encode() not in data
        assert not isinstance(item, bytes), "pixels went to a server that never proved itself"
        assert not (isinstance(item, str) and json.loads(item).get("type") in ("auth", "decompose"))


# --------------------------------------------------------------------------------------- client mistakes


def test_grow_and_option_mistakes_get_precise_codes(classical_server):
    image, mask = picture(seed=9)
    height, width = mask.shape
    ws = open_raw(classical_server.url)
    try:
        # Refused at once, before the upload: the geometry, and option names the backend does not take.
        for job, fields, code in [
            (1, {"grow": 10**9}, "invalid_input"),
            (2, {"grow": 1e9}, "bad_message"),
            (3, {"options": {"steps": 4}}, "invalid_input"),
        ]:
            ws.send(json.dumps({"type": "decompose", "job": job, "width": width, "height": height,
                                "format": "RGB8", **fields}))
            error = expect_error(ws, code, job=job)
            assert ("grow" in error.message) if "grow" in fields else ("no option steps" in error.message), error
        # An option's value is the core's to check, as for the Python API: after the upload, same code.
        for job, options in [(4, {"seed": "abc"}), (5, {"matting": 5})]:
            send_job(ws, job, image, mask, **options)
            error = expect_error(ws, "invalid_input", job=job)
            assert "must be" in error.message, error
    finally:
        ws.close()
    with Client(classical_server.url, token=TOKEN) as client:
        with pytest.raises(layerdecomp.InvalidInput, match="seed must be a whole number"):
            client.decompose(image, mask, seed="abc")


def test_lone_surrogates_and_deep_json_get_errors_not_1011(server, caplog):
    caplog.set_level(logging.INFO, logger="layerdecomp.server")
    ws = open_raw(server.url)
    try:
        for text in ['{"type": "decompose", "job": 1, "width": 4, "height": 4, "options": {"\\ud800": 1}}',
                     '{"type": "cancel", "job": 1, "\\udfff": 2}',
                     '{"type": "\\ud800"}',
                     '{"type": "decompose", "job": 2, "width": 4, "height": 4, "format": "\\udc00"}',
                     "[" * 100_000 + "]" * 100_000]:
            ws.send(text)
            assert recv_message(ws).code in ("bad_message", "invalid_input")
    finally:
        ws.close()
    for first in ['{"type": "hello", "protocol": 2, "nonce": "%s", "client": "\\ud800"}' % ("0" * 64),
                  '{"type": "hello", "protocol": 2, "nonce": "\\ud800"}', "[" * 2000 + "]" * 2000]:
        ws = connect(server.url)
        ws.send(first)
        reply = recv_message(ws)
        if isinstance(reply, protocol.Challenge):
            ws.close()
            continue
        assert reply.code == "bad_message"
        assert_closed(ws, protocol.CloseCode.PROTOCOL_ERROR)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert_serving(server)


# --------------------------------------------------------------------------------------------- hogging


def _send_frame(sock: socket.socket, data, opcode: int) -> None:
    """One masked websocket frame (mask 0: the payload goes as is)."""
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    sock.sendall(head + b"\x00\x00\x00\x00" + bytes(data))


def _read_text_frame(sock: socket.socket) -> str:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            data += sock.recv(n - len(data))
        return data

    _, length = exactly(2)
    if length == 126:
        (length,) = struct.unpack("!H", exactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", exactly(8))
    return exactly(length).decode()


def test_a_client_that_does_not_read_is_dropped(gated_backend):
    # Results bigger than the kernel's socket buffers (a few MiB on loopback) together.
    limits = TEST_LIMITS.__class__(**{**TEST_LIMITS.to_json(), "send_timeout_s": 1.0, "max_outbox_bytes": 2 * MiB,
                                      "max_side": 640, "max_pixels": 640 * 640,
                                      "max_message_bytes": protocol.HEADER_SIZE + 640 * 640 * 4})
    image, mask = picture(seed=10, height=640, width=640)
    with BackgroundServer(ServerConfig(port=0, backend=gated_backend, limits=limits, token=TOKEN)) as small:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that stalls at once
        sock.settimeout(10)
        sock.connect(("127.0.0.1", int(small.url.rsplit(":", 1)[1])))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(1)
        handshake = protocol.ClientHandshake(TOKEN)
        _send_frame(sock, protocol.encode(handshake.hello).encode(), 1)
        _send_frame(sock, protocol.encode(handshake.answer(protocol.decode(_read_text_frame(sock)))).encode(), 1)
        assert isinstance(handshake.welcome(protocol.decode(_read_text_frame(sock))), protocol.Welcome)
        height, width = mask.shape
        # Results pile up unread: first in the kernel's socket buffers (its own bound), then in the
        # server's outbox, which a send timeout and a byte budget bound. Bounded: 60 jobs of 3 MiB.
        dropped = False
        for job in range(60):
            request = protocol.Decompose(job=job, width=width, height=height, format="RGB8")
            try:
                wait_for(lambda: small.stats()["open_jobs"] == 0 or small.stats()["connections"] == 0,
                         timeout=30, what="the job to finish")
                if small.stats()["connections"] == 0:
                    dropped = True
                    break
                _send_frame(sock, protocol.encode(request).encode(), 1)
                for header, pixels in zip(protocol.upload_frames(request), (image, mask)):
                    _send_frame(sock, protocol.pack_frame(header, pixels.tobytes()), 2)
            except OSError:  # the server hung up on us
                dropped = True
                break
        assert dropped, "a client that read nothing for 60 results was not dropped"
        wait_for(lambda: small.stats()["connections"] == 0, timeout=10, what="the connection to go")
        sock.close()
        assert_serving(small)


def test_idle_authenticated_connections_cannot_keep_the_plugin_out(gated_backend):
    limits = TEST_LIMITS.__class__(**{**TEST_LIMITS.to_json(), "max_connections": 4})
    with BackgroundServer(ServerConfig(port=0, backend=gated_backend, limits=limits, token=TOKEN)) as small:
        hogs = [open_raw(small.url) for _ in range(4)]
        image, mask = picture(seed=11)
        for _ in range(3):
            with Client(small.url, token=TOKEN) as client:
                assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="test_gated"))
        for ws in hogs:
            ws.close()


def test_a_client_whose_idle_connection_was_closed_reconnects_for_the_next_job(gated_backend):
    limits = TEST_LIMITS.__class__(**{**TEST_LIMITS.to_json(), "idle_timeout_s": 0.5})
    image, mask = picture(seed=12)
    expected = layerdecomp.decompose(image, mask, backend="test_gated")
    with BackgroundServer(ServerConfig(port=0, backend=gated_backend, limits=limits, token=TOKEN)) as small:
        with Client(small.url, token=TOKEN) as client:
            assert_same(client.decompose(image, mask), expected)
            wait_for(lambda: small.stats()["connections"] == 0, timeout=10, what="the idle connection to close")
            time.sleep(0.2)  # the close frame reaches the client's reader
            assert_same(client.decompose(image, mask), expected)
