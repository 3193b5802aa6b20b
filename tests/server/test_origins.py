"""The Origin policy against the real server: UXP's `uxp:` origins and native clients (no Origin) are
admitted, every web origin is closed before anything it sends is read, with a reason that says what
to do; a refusal is one log line, also from `layerdecomp serve -v`."""

from __future__ import annotations

import logging
import sys

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from layerdecomp_server import protocol

from .conftest import ALLOWED_ORIGIN
from .helpers import TOKEN, authenticate, open_raw
from .test_malformed import assert_serving
from .test_serve_cli import LAUNCH_GATED, start, stop

WEB_ORIGINS = [
    "https://evil.example",
    "http://127.0.0.1:8765",  # a page served from this very machine is still a web page
    "http://localhost",
    "null",  # sandboxed frames, pages opened from disk
    "file://",
    "chrome-extension://abcdefghijklmnop",
    "https://allowed.example.evil",  # allowing one origin allows exactly that one
    "https://uxp.example",
    "https://evil.example/" + "x" * 300,  # a long one still gets a reason that fits a close frame
]
UXP_ORIGINS = ["uxp://uxp-internal", "uxp://org.layerdecomp.photoshop", "UXP://Org.Layerdecomp.Photoshop"]


def assert_refused(url: str, origin: str) -> str:
    """The handshake completes and the server closes at once (1008, with a reason); a hello sent
    meanwhile is never answered. Returns the reason."""
    ws = connect(url, origin=origin, compression=None)
    try:
        try:
            ws.send(protocol.encode(protocol.ClientHandshake(TOKEN, client="tests").hello))
        except ConnectionClosed:
            pass  # closed before the hello went out
        with pytest.raises(ConnectionClosed):
            message = ws.recv(timeout=5)
            raise AssertionError(f"the server answered a refused origin: {message!r}")
    finally:
        ws.close()
    close = ws.protocol.close_rcvd
    assert close is not None and close.code == protocol.CloseCode.POLICY_VIOLATION
    return close.reason


@pytest.mark.parametrize("origin", WEB_ORIGINS)
def test_every_web_origin_is_refused_with_a_reason_that_says_what_to_do(server, origin):
    reason = assert_refused(server.url, origin)
    assert "refused" in reason and "--allow-origin" in reason
    assert origin[:20] in reason
    assert len(reason.encode()) <= 123


@pytest.mark.parametrize("origin", UXP_ORIGINS)
def test_a_uxp_origin_is_admitted_and_must_still_know_the_token(server, origin):
    open_raw(server.url, origin=origin).close()
    ws = connect(server.url, origin=origin, compression=None)
    with pytest.raises(protocol.ProtocolError):
        authenticate(ws, token="not-the-token-0123456789")  # the server's proof does not check out
    ws.close()


def test_native_clients_and_exactly_the_allowed_origin_are_admitted(server):
    open_raw(server.url).close()
    open_raw(server.url, origin=ALLOWED_ORIGIN).close()
    assert_serving(server)


def test_a_refusal_is_logged_in_one_line_without_a_traceback(server, caplog):
    with caplog.at_level(logging.INFO):
        assert_refused(server.url, "https://first-time.example")
        assert_refused(server.url, "https://first-time.example")
    ours = [r for r in caplog.records if "refused a connection" in r.getMessage()]
    assert [r.levelno for r in ours] == [logging.WARNING, logging.INFO]  # warned once per origin, then noted
    assert all("\n" not in r.getMessage() and not r.exc_info for r in caplog.records)


def test_serve_verbose_logs_a_refusal_in_one_line(tmp_path, gated_backend):
    process, url = start([sys.executable, "-c", LAUNCH_GATED, "serve", "-v", "--port", "0", "--backend", "test_gated"],
                         tmp_path)
    try:
        assert_refused(url, "https://evil.example")
    finally:
        stderr = stop(process, 15)
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "evil.example" in line]
    assert len(lines) == 1 and "refused a connection" in lines[0], stderr
