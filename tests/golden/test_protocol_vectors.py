"""The committed golden vectors are what the Python protocol writes today, and it decodes them back.

The Node tests (photoshop_plugin/test/protocol.test.js) check the JavaScript port against the same file.
"""

from __future__ import annotations

import json

import pytest

from layerdecomp_server import protocol as P

from .make_protocol_vectors import VECTORS_PATH, render

VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def test_the_committed_vectors_are_current():
    assert VECTORS_PATH.read_text(encoding="utf-8") == render(), (
        "server/protocol.py changed: run `python -m tests.golden.make_protocol_vectors`, commit the JSON, and "
        "bring photoshop_plugin/src/protocol.js along (its Node tests read the same file)")


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=lambda v: v["name"])
def test_messages_decode_and_encode_back_to_the_same_bytes(vector):
    message = P.decode(vector["text"])
    assert P.encode(message) == vector["text"]
    assert json.loads(P.encode(message)) == vector["fields"]


@pytest.mark.parametrize("vector", VECTORS["invalid_messages"], ids=lambda v: v["name"])
def test_invalid_messages_are_refused_with_their_code(vector):
    with pytest.raises(P.ProtocolError) as caught:
        P.decode(vector["text"])
    assert (caught.value.code, caught.value.job) == (vector["code"], vector["job"])


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: v["name"])
def test_frames_pack_and_unpack(vector):
    h = vector["header"]
    header = P.FrameHeader(h["job"], P.Role[h["role"].upper()], P.PixelFormat[h["format"]], h["width"], h["height"],
                           h["x"], h["y"])
    assert P.pack_frame(header, bytes.fromhex(vector["pixels"])).hex() == vector["frame"]
    back, pixels = P.unpack_frame(bytes.fromhex(vector["frame"]))
    assert back == header and bytes(pixels).hex() == vector["pixels"]


@pytest.mark.parametrize("vector", VECTORS["invalid_frames"], ids=lambda v: v["name"])
def test_invalid_frames_are_refused(vector):
    with pytest.raises(P.ProtocolError) as caught:
        P.unpack_frame(bytes.fromhex(vector["frame"]))
    assert (caught.value.code, caught.value.job) == (vector["code"], vector["job"])
