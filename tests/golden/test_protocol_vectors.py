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
        "server/protocol/ changed: run `python -m tests.golden.make_protocol_vectors`, commit the JSON, and "
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


@pytest.mark.parametrize("vector", VECTORS["handshakes"], ids=lambda v: v["name"])
def test_handshake_proofs(vector):
    token, client_nonce, server_nonce = vector["token"], vector["client_nonce"], vector["server_nonce"]
    address = vector["address"]
    assert P.proof(token, "server", client_nonce, server_nonce, address) == vector["server_proof"]
    assert P.proof(token, "client", client_nonce, server_nonce, address) == vector["client_proof"]
    client = P.ClientHandshake(token, client="layerdecomp-photoshop/0.1", nonce=client_nonce, address=address)
    assert P.encode(client.hello) == vector["hello"]
    assert P.encode(client.answer(P.decode(vector["challenge"]))) == vector["auth"]
    # The session: the client opens the server's message 0 and seals its own messages 0 and 1 alike.
    assert P.session_key(token, client_nonce, server_nonce, address).hex() == vector["session_key"]
    assert client.channel.open_text(vector["server_sealed"]) == vector["server_text"]
    assert client.channel.seal_text(vector["client_text"]) == vector["client_sealed"]
    assert client.channel.seal_binary(bytes.fromhex(vector["client_frame"])).hex() == vector["client_frame_sealed"]


@pytest.mark.parametrize("vector", VECTORS["client_jobs"], ids=lambda v: v["name"])
def test_client_job_transcripts(vector):
    job = P.ClientJob(P.decode(vector["request"]))
    for step in vector["steps"]:
        try:
            if "cancel" in step:
                got = job.cancel()
            else:
                got = job.receive(P.decode(step["text"]) if "text" in step
                                  else P.unpack_frame(bytes.fromhex(step["frame"])))
        except P.ProtocolError as exc:
            assert exc.code == step["raises"]
            break
        assert "raises" not in step
        assert (P.encode(got) if got is not None else None) == step["returns"]
    assert job.outcome == vector["outcome"]
    assert (P.encode(job.error) if job.error is not None else None) == vector["error"]
    if vector["outcome"] == "result":
        assert P.encode(job.result) == vector["result"]
        assert [{"role": h.role.label, "format": h.format.name, "x": h.x, "y": h.y, "width": h.width,
                 "height": h.height, "pixels": bytes(view).hex()} for h, view in job.received] == vector["received"]


def test_a_result_with_objects_expects_each_objects_frames_then_one_plate():
    expected = VECTORS["expected_frames"]
    result = P.decode(expected["result_objects"])
    boxes = [o["box"] for o in result.objects]
    download = expected["download_objects"]
    assert [(d["role"], [d["x"], d["y"], d["width"], d["height"]]) for d in download] == [
        ("foreground", boxes[0]), ("visibility", boxes[0]), ("foreground", boxes[1]), ("visibility", boxes[1]),
        ("background", list(result.box))]
    assert [d["format"] for d in download] == ["BGRA8", "A8", "BGRA8", "A8", "BGRA8"]
    assert json.loads(expected["decompose_parts"])["parts"] is True
    # A request without parts is what an older server always got: no "parts" field at all.
    assert "parts" not in json.loads(expected["decompose"])
    assert "objects" not in json.loads(expected["result"])
