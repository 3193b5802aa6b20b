"""Pictures, a raw protocol client and waiting helpers shared by the server tests."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np
from websockets.sync.client import ClientConnection, connect

from layerdecomp_server import protocol
from layerdecomp_server.protocol import FrameHeader, PixelFormat, Role

TOKEN = "test-token-0123456789"


def picture(seed: int = 0, height: int = 72, width: int = 96, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A smooth picture with noise and a blob-shaped, soft-edged selection somewhere inside it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    image = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    if channels == 4:
        image = np.dstack([image, rng.integers(128, 256, (height, width), dtype=np.uint8)])
    cy, cx = rng.integers(height // 3, 2 * height // 3), rng.integers(width // 3, 2 * width // 3)
    r = rng.integers(8, min(height, width) // 4)
    distance = np.hypot(yy - cy, xx - cx)
    mask = np.clip((r - distance) * 96 + 128, 0, 255).astype(np.uint8)
    return image, mask


class SealedConnection:
    """An authenticated websockets connection that tags what it sends and checks what it receives with
    the session's ``protocol.Channel`` (protocol 3), so tests speak plain messages and frames. ``raw`` is
    the connection underneath (to send something untagged, tampered or replayed)."""

    def __init__(self, ws: ClientConnection, channel: protocol.Channel) -> None:
        self.raw = ws
        self.channel = channel

    def send(self, data: Any) -> None:
        if isinstance(data, str):
            self.raw.send(self.channel.seal_text(data))
        else:
            self.raw.send(self.channel.seal_binary(data))

    def recv(self, timeout: Optional[float] = None) -> Any:
        data = self.raw.recv(timeout=timeout)
        return self.channel.open_text(data) if isinstance(data, str) else bytes(self.channel.open_binary(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def authenticate(ws: ClientConnection, token: str = TOKEN) -> tuple[protocol.Welcome, protocol.Channel]:
    """The handshake, both ways, on an open websocket: the welcome and the session's channel."""
    handshake = protocol.ClientHandshake(token, client="tests", address=protocol.endpoint(*ws.socket.getpeername()[:2]))
    ws.send(protocol.encode(handshake.hello))
    ws.send(protocol.encode(handshake.answer(protocol.decode(ws.recv(timeout=5)))))
    assert handshake.channel is not None
    return handshake.welcome(protocol.decode(handshake.channel.open_text(ws.recv(timeout=5)))), handshake.channel


def open_raw(url: str, token: str = TOKEN, **kwargs: Any) -> SealedConnection:
    """A websockets connection that has authenticated (welcome checked), tagging and checking messages."""
    ws = connect(url, compression=None, max_size=None, **kwargs)
    _, channel = authenticate(ws, token)
    return SealedConnection(ws, channel)


def recv_message(ws: ClientConnection, timeout: float = 5.0) -> protocol.Message:
    data = ws.recv(timeout=timeout)
    assert isinstance(data, str), f"expected a text frame, got {len(data)} bytes"
    return protocol.decode(data)


def recv_until(ws: ClientConnection, want: Callable[[protocol.Message], bool], timeout: float = 10.0,
               skip_progress: bool = True) -> protocol.Message:
    """The first message ``want`` accepts; progress messages are skipped, anything else fails."""
    deadline = time.monotonic() + timeout
    while True:
        message = recv_message(ws, max(0.01, deadline - time.monotonic()))
        if want(message):
            return message
        assert skip_progress and isinstance(message, protocol.Progress), f"unexpected {message}"


def expect_error(ws: ClientConnection, code: str, job: Optional[int] = None, timeout: float = 5.0) -> protocol.Error:
    message = recv_until(ws, lambda m: isinstance(m, protocol.Error), timeout)
    assert message.code == code, message
    assert message.job == job, message
    assert message.message, "an error must say what to do"
    return message


def send_job(ws: ClientConnection, job: int, image: np.ndarray, mask: np.ndarray, fmt: str = "RGB8",
             **options: Any) -> None:
    """A decompose message and its two frames, with the image bytes sent as they are in ``fmt``."""
    height, width = mask.shape
    ws.send(protocol.encode(protocol.Decompose(job=job, width=width, height=height, format=fmt, options=options)))
    image_header, mask_header = protocol.upload_frames(
        protocol.Decompose(job=job, width=width, height=height, format=fmt))
    ws.send(protocol.pack_frame(image_header, image.tobytes()))
    ws.send(protocol.pack_frame(mask_header, mask.tobytes()))


def receive_result(ws: ClientConnection, job: int, timeout: float = 20.0) -> tuple[protocol.Result, dict]:
    """The result message of ``job`` and its frames as {role: (header, bytes)}."""
    result = recv_until(ws, lambda m: isinstance(m, protocol.Result), timeout)
    assert result.job == job
    frames = {}
    for expected in protocol.result_frames(result):
        header, payload = protocol.unpack_frame(ws.recv(timeout=timeout))
        assert header == expected
        frames[header.role] = (header, bytes(payload))
    return result, frames


def frame(job: int, role: Role, fmt: PixelFormat, width: int, height: int, payload: Optional[bytes] = None) -> bytes:
    header = FrameHeader(job, role, fmt, width, height)
    return protocol.pack_frame(header, payload if payload is not None else bytes(header.payload_size))


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def idle(server) -> bool:
    """No job open anywhere and nothing queued or running."""
    stats = server.stats()
    return stats["open_jobs"] == 0 and stats["queued"] == 0 and stats["running"] == 0 and stats["uploads"] == 0
