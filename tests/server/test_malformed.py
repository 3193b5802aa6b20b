"""Bad input of every kind gets a clear error or a clean close, and the server keeps serving."""

from __future__ import annotations

import json
import logging
import socket
import struct

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import layerdecomp
from layerdecomp_server.client import Client, ServerError
from layerdecomp_server import protocol
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.background import BackgroundServer
from layerdecomp_server.protocol import PixelFormat, Role

from .conftest import ALLOWED_ORIGIN, TEST_LIMITS
from .helpers import (
    TOKEN,
    expect_error,
    frame,
    idle,
    open_raw,
    picture,
    receive_result,
    recv_message,
    recv_until,
    send_job,
    wait_for,
)
from .test_roundtrip import assert_same


def assert_serving(server) -> None:
    """The server is idle and a fresh client still gets correct results."""
    wait_for(lambda: idle(server), what="an idle server")
    image, mask = picture(seed=99)
    with Client(server.url, token=TOKEN) as client:
        assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="test_gated"))


def assert_closed(ws, code: int) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=5)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == code


def decompose_message(job: int, width: int, height: int, fmt: str = "RGB8") -> str:
    return protocol.encode(protocol.Decompose(job=job, width=width, height=height, format=fmt))


# ------------------------------------------------------------------------------------------------ hello


def test_a_wrong_proof_is_refused_and_a_wrong_token_never_gets_past_the_server_s_proof(server):
    ws = connect(server.url, compression=None)
    ws.send(protocol.encode(protocol.Hello(nonce=protocol.new_nonce())))
    challenge = recv_message(ws)
    assert isinstance(challenge, protocol.Challenge)
    ws.send(protocol.encode(protocol.Auth(proof="0" * 64)))
    assert "token file" in expect_error(ws, "unauthorized").message
    assert_closed(ws, protocol.CloseCode.POLICY_VIOLATION)
    # A client with another token sees that the server cannot prove itself, and sends no auth.
    with pytest.raises(ServerError, match="token") as info:
        Client(server.url, token="another-token-0123456789").connect()
    assert info.value.code == "server_unverified"
    assert_serving(server)


def test_unsupported_version_is_refused_with_both_numbers(server):
    ws = connect(server.url, compression=None)
    ws.send(json.dumps({"type": "hello", "protocol": 1, "token": TOKEN, "client": "old plugin"}))
    error = expect_error(ws, "unsupported_version")
    assert "protocol 2" in error.message and "1" in error.message
    assert_closed(ws, protocol.CloseCode.PROTOCOL_ERROR)
    assert_serving(server)


@pytest.mark.parametrize("first", [decompose_message(1, 4, 4), "not json", b"LDPX binary first",
                                   protocol.encode(protocol.Auth(proof="0" * 64))])
def test_the_first_message_must_be_hello(server, first):
    ws = connect(server.url, compression=None)
    ws.send(first)
    expect_error(ws, "bad_message")
    assert_closed(ws, protocol.CloseCode.PROTOCOL_ERROR)
    assert_serving(server)


def test_silence_after_the_handshake_is_closed(server):
    ws = connect(server.url, compression=None)
    assert "no authentication" in expect_error(ws, "timeout", timeout=TEST_LIMITS.hello_timeout_s + 3).message
    assert_closed(ws, protocol.CloseCode.POLICY_VIOLATION)
    assert_serving(server)


def test_a_browser_origin_is_refused_unless_allowed(server):
    with pytest.raises(InvalidStatus) as info:
        connect(server.url, origin="https://evil.example")
    assert info.value.response.status_code == 403
    open_raw(server.url, origin=ALLOWED_ORIGIN).close()
    assert_serving(server)


# --------------------------------------------------------------------------------------------- messages


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not valid JSON"),
    ('{"type": "explode"}', "unknown message type"),
    ('{"type": "result", "job": 1}', "lacks field"),
    (protocol.encode(protocol.Cancelled(job=1)), "does not send cancelled"),
    (protocol.encode(protocol.Hello(nonce="0" * 64)), "handshake is over"),
    ('{"type": "decompose", "job": 1, "width": 4, "height": 4, "surprise": true}', "unknown field(s) surprise"),
])
def test_bad_messages_get_an_error_and_the_connection_goes_on(server, text, fragment):
    image, mask = picture(seed=30)
    ws = open_raw(server.url)
    try:
        ws.send(text)
        assert fragment in recv_message(ws).message
        send_job(ws, 2, image, mask)
        receive_result(ws, 2)
    finally:
        ws.close()
    assert_serving(server)


def test_job_level_refusals(server):
    image, mask = picture(seed=31)
    ws = open_raw(server.url)
    try:
        ws.send(decompose_message(1, 10000, 10))
        assert "select a smaller region" in expect_error(ws, "too_large", job=1).message
        ws.send(protocol.encode(protocol.Cancel(job=77)))
        expect_error(ws, "unknown_job", job=77)
        ws.send(protocol.encode(protocol.Decompose(job=2, width=8, height=8, backend="diffusion")))
        expect_error(ws, "backend_unavailable", job=2)
        ws.send(protocol.encode(protocol.Decompose(job=3, width=8, height=8, options={"nope": 1})))
        expect_error(ws, "invalid_input", job=3)
        # A refused job's frames, sent right behind its message, are dropped without more noise.
        send_job(ws, 4, image, mask, colour="red")
        expect_error(ws, "invalid_input", job=4)
        ws.send(decompose_message(5, 16, 16))
        ws.send(decompose_message(5, 16, 16))
        expect_error(ws, "duplicate_job", job=5)
        ws.send(protocol.encode(protocol.Cancel(job=5)))
        assert recv_message(ws) == protocol.Cancelled(job=5)
        send_job(ws, 6, image, mask)
        receive_result(ws, 6)
    finally:
        ws.close()
    assert_serving(server)


def test_an_empty_selection_is_the_library_s_error(server):
    image, mask = picture(seed=32)
    ws = open_raw(server.url)
    try:
        send_job(ws, 1, image, np.zeros_like(mask))
        assert "select the object" in expect_error(ws, "invalid_input", job=1).message
    finally:
        ws.close()
    assert_serving(server)


def test_a_full_queue_says_busy_and_one_connection_gets_only_its_share(server):
    share = TEST_LIMITS.max_jobs_per_connection
    connections = [open_raw(server.url) for _ in range(TEST_LIMITS.max_queue // share + 1)]
    try:
        first, last = connections[0], connections[-1]
        for ws in connections[:-1]:
            for job in range(share):
                ws.send(decompose_message(job, 8, 8))
        first.send(decompose_message(99, 8, 8))
        assert "the most one connection may have" in expect_error(first, "busy", job=99).message
        wait_for(lambda: server.stats()["uploads"] == TEST_LIMITS.max_queue, what="the uploads to open")
        last.send(decompose_message(99, 8, 8))
        assert "try again" in expect_error(last, "busy", job=99).message
        # The open uploads never get their frames: each times out with its own error.
        for ws in connections[:-1]:
            seen = set()
            while len(seen) < share:
                error = recv_until(ws, lambda m: isinstance(m, protocol.Error), timeout=5)
                assert error.code == "timeout", error
                seen.add(error.job)
            assert seen == set(range(share))
    finally:
        for ws in connections:
            ws.close()
    assert_serving(server)


# ----------------------------------------------------------------------------------------------- frames


def test_missing_frame_times_out(server):
    image, mask = picture(seed=33)
    height, width = mask.shape
    ws = open_raw(server.url)
    try:
        ws.send(decompose_message(1, width, height))
        ws.send(frame(1, Role.IMAGE, PixelFormat.RGB8, width, height, image.tobytes()))
        assert "did not all arrive" in expect_error(ws, "timeout", job=1, timeout=5).message
        send_job(ws, 2, image, mask)
        receive_result(ws, 2)
    finally:
        ws.close()
    assert_serving(server)


def test_extra_frame_is_reported_and_the_job_still_finishes(server):
    image, mask = picture(seed=34)
    height, width = mask.shape
    ws = open_raw(server.url)
    try:
        send_job(ws, 1, image, mask)
        ws.send(frame(1, Role.MASK, PixelFormat.A8, width, height, mask.tobytes()))
        # The job may finish before or after the extra frame is read: both answers come, in either order.
        error, frames = None, 0
        while error is None or frames < 3:
            data = ws.recv(timeout=5)
            if isinstance(data, bytes):
                header, _ = protocol.unpack_frame(data)
                assert header.job == 1
                frames += 1
                continue
            message = protocol.decode(data)
            if isinstance(message, protocol.Error):
                error = message
            else:
                assert isinstance(message, (protocol.Progress, protocol.Result)) and message.job == 1, message
        assert error.code == "bad_frame" and error.job is None and "no upload open" in error.message
    finally:
        ws.close()
    assert_serving(server)


@pytest.mark.parametrize("case", ["truncated", "wrong size", "mask first", "wrong format", "garbage header"])
def test_bad_frames_drop_their_job_with_a_reason(server, case):
    image, mask = picture(seed=35)
    height, width = mask.shape
    good_image = frame(1, Role.IMAGE, PixelFormat.RGB8, width, height, image.tobytes())
    good_mask = frame(1, Role.MASK, PixelFormat.A8, width, height, mask.tobytes())
    sent, fragment, job = {
        "truncated": ([good_image[:-7], good_mask], "needs", 1),
        "wrong size": ([good_image, frame(1, Role.MASK, PixelFormat.A8, width, height - 1)],
                       f"{width} x {height} A8", 1),
        "mask first": ([good_mask, good_image], "expected its image frame", 1),
        "wrong format": ([frame(1, Role.IMAGE, PixelFormat.RGBA8, width, height), good_mask], "RGB8", 1),
        "garbage header": ([b"\x00" * 40, good_image, good_mask], "LDPX", None),
    }[case]
    ws = open_raw(server.url)
    try:
        ws.send(decompose_message(1, width, height))
        for data in sent:
            ws.send(data)
        assert fragment in expect_error(ws, "bad_frame", job=job).message
        if job is None:  # the job itself was fine
            receive_result(ws, 1)
        # The job's remaining frames were dropped quietly: the next thing heard is job 2's result.
        send_job(ws, 2, image, mask)
        result = recv_until(ws, lambda m: not isinstance(m, protocol.Progress))
        assert isinstance(result, protocol.Result) and result.job == 2, result
    finally:
        ws.close()
    assert_serving(server)


def test_oversize_frame_closes_the_connection(server):
    ws = open_raw(server.url)
    ws.send(b"LDPX" + bytes(TEST_LIMITS.max_message_bytes))
    assert_closed(ws, protocol.CloseCode.TOO_BIG)
    assert_serving(server)


def _vanish(ws) -> None:
    """Drop the TCP connection without a websocket goodbye."""
    ws.socket.shutdown(socket.SHUT_RDWR)
    ws.close()


def test_client_vanishing_mid_upload(server):
    image, mask = picture(seed=36)
    height, width = mask.shape
    # Between frames: the image is in, the mask never comes.
    ws = open_raw(server.url)
    ws.send(decompose_message(1, width, height))
    ws.send(frame(1, Role.IMAGE, PixelFormat.RGB8, width, height, image.tobytes()))
    wait_for(lambda: server.stats()["uploads"] == 1, what="the upload to open")
    _vanish(ws)
    wait_for(lambda: server.stats()["connections"] == 0, what="the server to notice")
    # In the middle of a frame: a masked binary frame header announcing more bytes than ever arrive.
    ws = open_raw(server.url)
    ws.send(decompose_message(1, width, height))
    payload = frame(1, Role.IMAGE, PixelFormat.RGB8, width, height, image.tobytes())
    head = struct.pack("!BBH", 0x82, 0x80 | 126, len(payload)) + b"\x01\x02\x03\x04"
    wait_for(lambda: server.stats()["uploads"] == 1, what="the upload to open")
    ws.socket.sendall(head + payload[: len(payload) // 3])
    _vanish(ws)
    wait_for(lambda: server.stats()["connections"] == 0, what="the server to notice")
    assert_serving(server)


# ----------------------------------------------------------------------------------- connection limits


def test_a_newcomer_displaces_the_longest_idle_connection_and_idle_ones_time_out(gated_backend):
    limits = TEST_LIMITS.__class__(**{**TEST_LIMITS.to_json(), "max_connections": 2, "idle_timeout_s": 2.0})
    with BackgroundServer(ServerConfig(port=0, backend=gated_backend, limits=limits, token=TOKEN)) as small:
        first, second = open_raw(small.url), open_raw(small.url)
        second.send(protocol.encode(protocol.Cancel(job=1)))  # heard from more recently than first
        expect_error(second, "unknown_job", job=1)
        third = open_raw(small.url)
        assert "longest idle" in expect_error(first, "busy", timeout=5).message
        assert_closed(first, protocol.CloseCode.TRY_AGAIN_LATER)
        wait_for(lambda: small.stats()["connections"] == 2, what="the displaced connection to go")
        # Nobody sends anything: both are closed as idle, with a reason.
        for ws in (second, third):
            assert "idle" in expect_error(ws, "timeout", timeout=5).message
            assert_closed(ws, protocol.CloseCode.POLICY_VIOLATION)


def test_binding_beyond_loopback_warns_loudly(gated_backend, caplog):
    caplog.set_level(logging.WARNING, logger="layerdecomp.server")
    with BackgroundServer(ServerConfig(host="0.0.0.0", port=0, backend=gated_backend, token=TOKEN)):
        pass
    assert any("not on loopback" in record.getMessage() for record in caplog.records)
