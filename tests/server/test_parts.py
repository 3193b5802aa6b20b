"""Several objects in one go, through the server: negotiated (welcome.features, decompose.parts), framed as
the spec says (each object's foreground and visibility at its box, then one plate), and the same as the
library's ``decompose(..., split_parts=True)``, bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

import layerdecomp
from layerdecomp_server import protocol
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.client import Client
from layerdecomp_server.in_thread import ThreadedServer
from layerdecomp_server.protocol import FrameHeader, PixelFormat, Role

from ..core.test_parts import coins_with_three_lassos, composite
from .helpers import TOKEN, expect_error, open_raw, picture


@pytest.fixture(scope="module")
def roomy_server():
    """The classical backend with the default limits: the coins photo is over the small test limits."""
    config = ServerConfig(host="127.0.0.1", port=0, backend="classical", limits=protocol.Limits(), token=TOKEN)
    with ThreadedServer(config) as running:
        yield running


def two_squares(channels: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A picture with two selected squares far apart (two parts)."""
    image, _ = picture(seed=5, height=90, width=140, channels=channels)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[20:45, 15:40] = 255
    mask[50:80, 95:125] = 255
    return image, mask


def send(ws, job: int, image: np.ndarray, mask: np.ndarray, *, parts: bool, fmt: str = "RGBA8") -> None:
    h, w = mask.shape
    request = protocol.Decompose(job=job, width=w, height=h, format=fmt, parts=parts)
    assert ('"parts"' in protocol.encode(request)) == parts  # false is left out: older servers see nothing new
    ws.send(protocol.encode(request))
    for header, array in zip(protocol.upload_frames(request), (image, mask)):
        ws.send(protocol.pack_frame(header, np.ascontiguousarray(array).tobytes()))


def receive(ws, job: int) -> tuple[protocol.Result, str, list[tuple[FrameHeader, bytes]]]:
    """The result, its text as sent, and its frames in arrival order (each as ``result_frames`` says)."""
    while True:
        text = ws.recv(timeout=60)
        message = protocol.decode(text)
        if not isinstance(message, protocol.Progress):
            break
    assert isinstance(message, protocol.Result) and message.job == job, message
    frames = []
    for header in protocol.result_frames(message):
        got, pixels = protocol.unpack_frame(ws.recv(timeout=30))
        assert got == header
        frames.append((got, bytes(pixels)))
    return message, text, frames


def test_the_server_announces_parts(classical_server):
    with Client(classical_server.url, token=TOKEN) as client:
        assert protocol.FEATURE_PARTS in client.welcome.features


def test_two_parts_come_as_two_objects_then_one_plate(classical_server):
    image, mask = two_squares()
    local = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    assert len(local.objects) == 2
    ws = open_raw(classical_server.url)
    try:
        send(ws, 1, image[..., [2, 1, 0, 3]], mask, parts=True, fmt="BGRA8")
        result, text, frames = receive(ws, 1)
    finally:
        ws.close()
    assert json.loads(text)["objects"] == [{"box": list(o.box.as_tuple())} for o in local.objects]
    assert tuple(result.box) == local.box.as_tuple()
    assert [h.role for h, _ in frames] == [Role.FOREGROUND, Role.VISIBILITY] * 2 + [Role.BACKGROUND]
    for i, layer in enumerate(local.objects):
        (fg_header, fg), (vis_header, vis) = frames[2 * i], frames[2 * i + 1]
        assert fg_header.format == PixelFormat.BGRA8 and vis_header.format == PixelFormat.A8
        assert (fg_header.x, fg_header.y, fg_header.width, fg_header.height) == layer.box.as_tuple()
        h, w = layer.box.h, layer.box.w
        assert np.array_equal(np.frombuffer(fg, np.uint8).reshape(h, w, 4), layer.foreground[..., [2, 1, 0, 3]])
        assert np.array_equal(np.frombuffer(vis, np.uint8).reshape(h, w), layer.visibility)
    bg_header, bg = frames[-1]
    box = local.box
    assert (bg_header.x, bg_header.y, bg_header.width, bg_header.height) == box.as_tuple()
    assert np.array_equal(np.frombuffer(bg, np.uint8).reshape(box.h, box.w, 4),
                          local.background[box.slices][..., [2, 1, 0, 3]])


def test_without_parts_or_with_one_part_the_result_is_todays(classical_server):
    """A job that does not ask for parts gets one object for a two-part selection; a job that asks, with one
    part, gets exactly the single-object result: no ``objects`` field, the three frames at the box."""
    image, mask = two_squares(channels=3)
    one_image, one_mask = picture(seed=3)
    ws = open_raw(classical_server.url)
    try:
        send(ws, 2, image, mask, parts=False, fmt="RGB8")
        whole, whole_text, whole_frames = receive(ws, 2)
        send(ws, 3, one_image, one_mask, parts=True, fmt="RGB8")
        single, single_text, single_frames = receive(ws, 3)
    finally:
        ws.close()
    for result, text, frames, (img, msk) in ((whole, whole_text, whole_frames, (image, mask)),
                                              (single, single_text, single_frames, (one_image, one_mask))):
        local = layerdecomp.decompose(img, msk, backend="classical")
        assert "objects" not in json.loads(text) and not result.objects
        assert [h.role for h, _ in frames] == [Role.FOREGROUND, Role.BACKGROUND, Role.VISIBILITY]
        assert tuple(result.box) == local.box.as_tuple()
        h, w = local.box.h, local.box.w
        foreground = np.frombuffer(frames[0][1], np.uint8).reshape(h, w, 4)
        assert np.array_equal(foreground, local.foreground[local.box.slices])


def test_more_than_sixteen_parts_is_a_plain_error(classical_server):
    image, _ = picture(seed=1, height=120, width=240)
    mask = np.zeros((120, 240), np.uint8)
    for i in range(protocol.MAX_OBJECTS + 1):
        x, y = 6 + (i % 9) * 26, 10 + (i // 9) * 60
        mask[y:y + 12, x:x + 12] = 255
    ws = open_raw(classical_server.url)
    try:
        send(ws, 4, image, mask, parts=True, fmt="RGB8")
        error = expect_error(ws, protocol.ErrorCode.INVALID_INPUT, job=4, timeout=30)
    finally:
        ws.close()
    assert f"{protocol.MAX_OBJECTS + 1} separate parts" in error.message and "at most" in error.message


@pytest.mark.parametrize("region_only", [True, False], ids=["region upload", "full upload"])
def test_three_coins_through_the_client_equal_the_library(roomy_server, region_only):
    """The issue's "done when" on a real photo, through the server: three coins lassoed at once give three
    object layers that do not overlap (they can be moved apart), one plate, an exact composite, and the
    library's own result bit for bit."""
    image, mask, _ = coins_with_three_lassos()
    local = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    with Client(roomy_server.url, token=TOKEN, upload_region_only=region_only) as client:
        remote = client.decompose(image, mask, split_parts=True)
    assert len(remote.objects) == 3
    for name in ("foreground", "background", "visibility"):
        assert np.array_equal(getattr(remote, name), getattr(local, name)), name
    assert remote.box == local.box
    for mine, theirs in zip(remote.objects, local.objects, strict=True):
        assert mine.box == theirs.box
        assert np.array_equal(mine.foreground, theirs.foreground) and np.array_equal(mine.visibility, theirs.visibility)
    assert remote.metadata["parts"] == local.metadata["parts"]
    # No two object layers share a pixel, so each can be moved on its own.
    owners = sum((layer.on_canvas(*mask.shape)[..., 3] > 0).astype(int) for layer in remote.objects)
    assert owners.max() == 1
    assert np.abs(composite(remote.background, remote.objects, mask.shape) - image).max() <= 1


def test_the_client_with_split_parts_and_one_part_gives_one_object(classical_server):
    image, mask = picture(seed=4)
    local = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    with Client(classical_server.url, token=TOKEN) as client:
        remote = client.decompose(image, mask, split_parts=True)
        plain = client.decompose(image, mask)
    assert plain.objects is None
    assert len(remote.objects) == 1 and remote.objects[0].box == local.objects[0].box
    assert np.array_equal(remote.objects[0].foreground, local.objects[0].foreground)
