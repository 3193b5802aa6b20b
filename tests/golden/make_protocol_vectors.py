"""Golden messages and frames of the wire protocol, written by the Python reference (server/protocol/,
imported as layerdecomp_server.protocol).

The JavaScript port (photoshop_plugin/src/protocol.js) is kept byte-compatible with the Python module
by these vectors: the Python test (tests/golden/test_protocol_vectors.py) checks that the committed
JSON is what this script writes today, and both languages' tests encode and decode every vector
identically. After a protocol change, run

    python -m tests.golden.make_protocol_vectors

and commit tests/golden/protocol_vectors.json with the change (the Node tests then say what the
JavaScript port must follow).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from layerdecomp_server import protocol as P

VECTORS_PATH = Path(__file__).with_name("protocol_vectors.json")
# What a client writes. A JavaScript client must write these byte for byte as Python does; what the
# server writes it only reads (JavaScript cannot write Python's "1.0": its numbers have no float type).
CLIENT_TYPES = ("hello", "auth", "decompose", "cancel")
# Fixed nonces and tokens, so the vectors do not change from run to run.
CLIENT_NONCE = "c1" * P.NONCE_BYTES
SERVER_NONCE = "5e" * P.NONCE_BYTES


def _message_vectors() -> List[Dict[str, Any]]:
    """Valid messages: the text Python writes, and the fields it decodes back to."""
    messages = [
        ("hello", P.Hello(nonce=CLIENT_NONCE, client="layerdecomp-photoshop/0.1")),
        ("hello, non-ASCII client name", P.Hello(nonce=CLIENT_NONCE, client="Ps \u00e9t\u00e9 \u2014 \U0001F3A8")),
        ("challenge", P.Challenge(nonce=SERVER_NONCE, proof="ab" * 32)),
        ("auth", P.Auth(proof="0f" * 32)),
        ("welcome", P.Welcome(server="layerdecomp 0.1.0", backend="classical", backends=["classical"],
                              device="cpu", options=["seed"], limits=P.Limits())),
        ("welcome, methods and schema", P.Welcome(
            server="layerdecomp 0.2.0", backend="classical", backends=["classical"], device="cpu",
            options=["matting", "seed"],
            methods=[{"name": "classical", "label": "Fast (classical)", "description": "Works on any computer.",
                      "available": True, "reason": ""},
                     {"name": "learned", "label": "Learned models", "description": "Small trained models.",
                      "available": False, "reason": "restart the server with this method"}],
            schema=[{"name": "matting", "type": "choice", "default": "closed_form", "label": "Edge",
                     "help": "How the soft edge is worked out.",
                     "choices": [{"value": "closed_form", "label": "Careful"}, {"value": "guided", "label": "Quick"}]},
                    {"name": "seed", "type": "seed", "default": 0, "label": "Variation", "help": "Another try.",
                     "min": 0, "max": 4294967295},
                    {"name": "steps", "type": "int", "default": 28, "label": "Quality steps", "help": "Slower.",
                     "min": 1, "max": 200},
                    {"name": "guidance", "type": "float", "default": 30.5, "label": "Guidance", "help": "x",
                     "min": 0.0, "max": 100.0},
                    {"name": "fast", "type": "bool", "default": False, "label": "Fast", "help": "y"}],
            limits=P.Limits())),
        ("welcome, features", P.Welcome(server="layerdecomp 0.3.0", backend="classical", backends=["classical"],
                                        device="cpu", options=["seed"], limits=P.Limits(),
                                        features=[P.FEATURE_PARTS])),
        ("decompose, defaults", P.Decompose(job=1, width=640, height=480)),
        ("decompose, parts", P.Decompose(job=2, width=640, height=480, format="BGRA8", parts=True)),
        ("decompose, parts false is left out", P.Decompose(job=3, width=8, height=8, parts=False)),
        ("decompose, everything", P.Decompose(job=P.MAX_JOB_ID, width=3, height=2, format="RGBA8",
                                              backend="classical", margin=16, grow=4,
                                              options={"steps": 28, "seed": 7, "strength": 0.75,
                                                       "prompt": "a \"cup\"\n", "fast": True, "none": None})),
        ("progress", P.Progress(job=7, stage="alpha", fraction=0.25)),
        ("progress, stage done", P.Progress(job=7, stage="fill", fraction=1.0)),
        ("result", P.Result(job=7, width=640, height=480, box=(100, 80, 300, 260),
                            formats={"foreground": "RGBA8", "background": "RGBA8", "visibility": "A8"},
                            metadata={"backend": "classical", "timings": {"alpha": 0.5}, "notes": []})),
        ("result, two objects", P.Result(job=8, width=640, height=480, box=(100, 80, 300, 260),
                                         formats={"foreground": "BGRA8", "background": "BGRA8", "visibility": "A8"},
                                         metadata={"backend": "classical"},
                                         objects=[{"box": [100, 200, 120, 140]}, {"box": [250, 80, 150, 100]}])),
        ("error about a job", P.Error(code="invalid_input", message="the selection is empty", job=3)),
        ("error about the connection", P.Error(code="unauthorized", message="wrong or missing token")),
        ("cancel", P.Cancel(job=9)),
        ("cancelled", P.Cancelled(job=9)),
    ]
    vectors = []
    for name, message in messages:
        text = P.encode(message)
        decoded = P.decode(text)
        assert decoded == message or message.TYPE == "welcome", name
        sender = "client" if message.TYPE in CLIENT_TYPES else "server"
        vectors.append({"name": name, "sender": sender, "text": text, "fields": json.loads(P.encode(decoded))})
    return vectors


def _result_text(**fields: Any) -> str:
    """A result's JSON, 2 x 2 at (0, 0) of a 10 x 10 image, with ``fields`` added."""
    return json.dumps({"type": "result", "job": 1, "width": 10, "height": 10, "box": [0, 0, 2, 2],
                       "formats": {"foreground": "RGBA8", "background": "RGBA8", "visibility": "A8"}, **fields},
                      separators=(",", ":"))


# Texts the reference refuses, with the error code (and job) it refuses them with.
_INVALID_TEXTS = [
    ("not JSON", "{\"type\":"),
    ("not an object", "[1,2]"),
    ("no type", "{\"job\":1}"),
    ("unknown type", "{\"type\":\"frobnicate\"}"),
    ("unknown field", "{\"type\":\"cancel\",\"job\":4,\"extra\":1}"),
    ("missing field", "{\"type\":\"progress\",\"job\":4,\"stage\":\"fill\"}"),
    ("job not an integer", "{\"type\":\"cancel\",\"job\":\"4\"}"),
    ("job is a boolean", "{\"type\":\"cancelled\",\"job\":true}"),
    ("job negative", "{\"type\":\"cancel\",\"job\":-1}"),
    ("job over u32", "{\"type\":\"cancel\",\"job\":4294967296}"),
    ("decompose, zero width", "{\"type\":\"decompose\",\"job\":2,\"width\":0,\"height\":5}"),
    ("decompose, mask format", "{\"type\":\"decompose\",\"job\":2,\"width\":5,\"height\":5,\"format\":\"A8\"}"),
    ("decompose, unknown format", "{\"type\":\"decompose\",\"job\":2,\"width\":5,\"height\":5,\"format\":\"CMYK8\"}"),
    ("decompose, margin not a whole number",
     "{\"type\":\"decompose\",\"job\":2,\"width\":5,\"height\":5,\"margin\":1.5}"),
    ("decompose, option not a scalar",
     "{\"type\":\"decompose\",\"job\":2,\"width\":5,\"height\":5,\"options\":{\"a\":[1]}}"),
    ("result, box outside", "{\"type\":\"result\",\"job\":1,\"width\":10,\"height\":10,\"box\":[5,5,6,1],"
                            "\"formats\":{\"foreground\":\"RGBA8\",\"background\":\"RGBA8\",\"visibility\":\"A8\"}}"),
    ("result, empty box", "{\"type\":\"result\",\"job\":1,\"width\":10,\"height\":10,\"box\":[0,0,0,1],"
                          "\"formats\":{\"foreground\":\"RGBA8\",\"background\":\"RGBA8\",\"visibility\":\"A8\"}}"),
    ("result, formats incomplete", "{\"type\":\"result\",\"job\":1,\"width\":10,\"height\":10,\"box\":[0,0,1,1],"
                                   "\"formats\":{\"foreground\":\"RGBA8\"}}"),
    ("decompose, parts not a boolean",
     "{\"type\":\"decompose\",\"job\":2,\"width\":5,\"height\":5,\"parts\":1}"),
    ("result, one object", _result_text(objects=[{"box": [0, 0, 1, 1]}])),
    ("result, objects not a list", _result_text(objects={"box": [0, 0, 1, 1]})),
    ("result, an object box outside the box", _result_text(objects=[{"box": [0, 0, 1, 1]}, {"box": [1, 1, 2, 1]}])),
    ("result, an empty object box", _result_text(objects=[{"box": [0, 0, 1, 1]}, {"box": [1, 1, 0, 1]}])),
    ("result, an object with another key",
     _result_text(objects=[{"box": [0, 0, 1, 1]}, {"box": [1, 1, 1, 1], "name": "cup"}])),
    ("result, too many objects", _result_text(objects=[{"box": [0, 0, 1, 1]}] * (P.MAX_OBJECTS + 1))),
    ("welcome, features not strings",
     "{\"type\":\"welcome\",\"server\":\"s\",\"backend\":\"b\",\"features\":[1]}"),
    ("progress, fraction a string", "{\"type\":\"progress\",\"job\":1,\"stage\":\"x\",\"fraction\":\"0.5\"}"),
    ("welcome, limits not an object",
     "{\"type\":\"welcome\",\"server\":\"s\",\"backend\":\"b\",\"limits\":3}"),
    ("welcome, limit not a number",
     "{\"type\":\"welcome\",\"server\":\"s\",\"backend\":\"b\",\"limits\":{\"max_side\":\"big\"}}"),
    ("error, job a string", "{\"type\":\"error\",\"code\":\"x\",\"message\":\"y\",\"job\":\"1\"}"),
    ("hello, nonce too short", "{\"type\":\"hello\",\"nonce\":\"abcd\"}"),
    ("hello, nonce in capitals", "{\"type\":\"hello\",\"nonce\":\"" + "AB" * P.NONCE_BYTES + "\"}"),
    ("hello, another version", "{\"type\":\"hello\",\"protocol\":1,\"token\":\"x\"}"),
    ("challenge, another version", "{\"type\":\"challenge\",\"protocol\":3,\"nonce\":\"\",\"proof\":\"\"}"),
    ("welcome, methods not a list",
     "{\"type\":\"welcome\",\"server\":\"s\",\"backend\":\"b\",\"methods\":{}}"),
    ("welcome, a method without available",
     "{\"type\":\"welcome\",\"server\":\"s\",\"backend\":\"b\",\"methods\":[{\"name\":\"x\",\"label\":\"X\","
     "\"description\":\"\",\"reason\":\"\"}]}"),
    ("welcome, a schema entry without a name",
     "{\"type\":\"welcome\",\"server\":\"s\",\"backend\":\"b\",\"schema\":[{\"type\":\"int\",\"label\":\"X\","
     "\"help\":\"\"}]}"),
    ("welcome, another version", "{\"type\":\"welcome\",\"protocol\":1,\"server\":\"s\",\"backend\":\"b\"}"),
    ("challenge, proof not hex",
     "{\"type\":\"challenge\",\"nonce\":\"" + SERVER_NONCE + "\",\"proof\":\"" + "zz" * 32 + "\"}"),
    ("auth, no proof", "{\"type\":\"auth\"}"),
    ("deeply nested", "{\"type\":\"cancel\",\"job\":1,\"deep\":" + "[" * 5000 + "]" * 5000 + "}"),
]


def _invalid_vectors() -> List[Dict[str, Any]]:
    vectors = []
    for name, text in _INVALID_TEXTS:
        try:
            P.decode(text)
        except P.ProtocolError as exc:
            vectors.append({"name": name, "text": text, "code": exc.code, "job": exc.job})
        else:
            raise AssertionError(f"{name}: the reference accepted {text}")
    return vectors


def _pattern(size: int, seed: int) -> bytes:
    return bytes((seed + 37 * i) % 256 for i in range(size))


def _frame_vectors() -> List[Dict[str, Any]]:
    headers = [
        ("image RGBA8", P.FrameHeader(job=7, role=P.Role.IMAGE, format=P.PixelFormat.RGBA8, width=3, height=2)),
        ("mask A8", P.FrameHeader(job=7, role=P.Role.MASK, format=P.PixelFormat.A8, width=3, height=2)),
        ("foreground at an offset", P.FrameHeader(job=P.MAX_JOB_ID, role=P.Role.FOREGROUND,
                                                  format=P.PixelFormat.RGBA8, width=2, height=1, x=70000, y=5)),
        ("background RGB8", P.FrameHeader(job=1, role=P.Role.BACKGROUND, format=P.PixelFormat.RGB8,
                                          width=1, height=2, x=1, y=2)),
        ("visibility A8", P.FrameHeader(job=2, role=P.Role.VISIBILITY, format=P.PixelFormat.A8,
                                                      width=4, height=1, x=0, y=3)),
        ("image BGRA8", P.FrameHeader(job=3, role=P.Role.IMAGE, format=P.PixelFormat.BGRA8, width=1, height=1)),
    ]
    vectors = []
    for seed, (name, header) in enumerate(headers):
        pixels = _pattern(header.payload_size, seed)
        frame = P.pack_frame(header, pixels)
        back, view = P.unpack_frame(frame)
        assert back == header and bytes(view) == pixels
        vectors.append({
            "name": name,
            "header": {"job": header.job, "role": header.role.label, "format": header.format.name,
                       "x": header.x, "y": header.y, "width": header.width, "height": header.height},
            "pixels": pixels.hex(),
            "frame": frame.hex(),
        })
    return vectors


def _bad_frame_vectors() -> List[Dict[str, Any]]:
    good = P.pack_frame(P.FrameHeader(5, P.Role.MASK, P.PixelFormat.A8, 2, 2), b"\x00\x01\x02\x03")
    cases = [
        ("shorter than the header", good[:20]),
        ("wrong magic", b"XDPX" + good[4:]),
        ("wrong version", good[:4] + bytes([P.PROTOCOL_VERSION + 1]) + good[5:]),
        ("unknown role", good[:5] + b"\x09" + good[6:]),
        ("unknown format", good[:6] + b"\x09" + good[7:]),
        ("too few pixels", good[:-1]),
        ("too many pixels", good + b"\x00"),
    ]
    vectors = []
    for name, data in cases:
        try:
            P.unpack_frame(data)
        except P.ProtocolError as exc:
            vectors.append({"name": name, "frame": data.hex(), "code": exc.code, "job": exc.job})
        else:
            raise AssertionError(f"{name}: the reference accepted it")
    return vectors


def _expected_frames() -> Dict[str, Any]:
    """What upload_frames / result_frames say comes after a decompose / result message."""
    decompose = P.Decompose(job=11, width=5, height=4, format="RGBA8")
    result = P.Result(job=11, width=5, height=4, box=(1, 2, 3, 1),
                      formats={"foreground": "RGBA8", "background": "RGBA8", "visibility": "A8"})

    def describe(headers: List[P.FrameHeader]) -> List[Dict[str, Any]]:
        return [{"job": h.job, "role": h.role.label, "format": h.format.name, "x": h.x, "y": h.y,
                 "width": h.width, "height": h.height, "header": h.pack().hex()} for h in headers]

    # Several objects: each one's foreground and visibility at its own box, bottom to top, then one plate.
    decompose_parts = P.Decompose(job=12, width=9, height=6, format="BGRA8", parts=True)
    result_objects = P.Result(job=12, width=9, height=6, box=(1, 1, 7, 4),
                              formats={"foreground": "BGRA8", "background": "BGRA8", "visibility": "A8"},
                              objects=[{"box": [1, 2, 2, 3]}, {"box": [5, 1, 3, 2]}])
    return {"decompose": P.encode(decompose), "upload": describe(P.upload_frames(decompose)),
            "result": P.encode(result), "download": describe(P.result_frames(result)),
            "decompose_parts": P.encode(decompose_parts), "upload_parts": describe(P.upload_frames(decompose_parts)),
            "result_objects": P.encode(result_objects), "download_objects": describe(P.result_frames(result_objects))}


def _handshake_vectors() -> List[Dict[str, Any]]:
    """Proofs for given tokens, nonces and server addresses, the messages of a whole handshake (the client
    side's), and the session that follows: its key and the first messages each side seals."""
    vectors = []
    for name, token, address in (
            ("a token as the server makes them", "q7Zg0x5cW3pYbR1N8u2LmKvT4sJdHfA6eC9iOkGwXyU", "127.0.0.1:8765"),
            ("a non-ASCII token", "t\u00f6ken \u2603", "[::1]:8765"),
            ("a token longer than an HMAC block", "k" * 100, "127.0.0.1:49152")):
        client = P.ClientHandshake(token, client="layerdecomp-photoshop/0.1", nonce=CLIENT_NONCE, address=address)
        challenge = P.Challenge(nonce=SERVER_NONCE,
                                proof=P.proof(token, "server", CLIENT_NONCE, SERVER_NONCE, address))
        auth = client.answer(challenge)
        key = P.session_key(token, CLIENT_NONCE, SERVER_NONCE, address)
        server = P.Channel(key, "server")
        assert client.channel is not None
        server_text = P.encode(P.Cancelled(job=7))
        client_text = P.encode(P.Cancel(job=7))
        client_frame = P.pack_frame(P.FrameHeader(7, P.Role.MASK, P.PixelFormat.A8, 3, 1), b"\x00\x80\xff")
        vectors.append({
            "name": name, "token": token, "client_nonce": CLIENT_NONCE, "server_nonce": SERVER_NONCE,
            "address": address, "server_proof": challenge.proof, "client_proof": auth.proof,
            "hello": P.encode(client.hello), "challenge": P.encode(challenge), "auth": P.encode(auth),
            "session_key": key.hex(),
            # The server's message 0, then the client's messages 0 (text) and 1 (a binary frame), sealed.
            "server_text": server_text, "server_sealed": server.seal_text(server_text),
            "client_text": client_text, "client_sealed": client.channel.seal_text(client_text),
            "client_frame": client_frame.hex(), "client_frame_sealed": client.channel.seal_binary(client_frame).hex(),
        })
    return vectors


def _job_transcripts() -> List[Dict[str, Any]]:
    """What ``ClientJob`` makes of server messages fed in, step by step: each step feeds a text message
    (``text``) or a binary frame (``frame``, hex), or asks to cancel (``cancel``), and says what comes
    back (a progress message's text, the cancel message's text, or null) or which error code it raises."""
    request = P.Decompose(job=5, width=4, height=3, format="RGBA8")
    result = P.Result(job=5, width=4, height=3, box=(1, 1, 2, 1),
                      formats={"foreground": "RGBA8", "background": "RGBA8", "visibility": "A8"})
    frames = [P.pack_frame(h, _pattern(h.payload_size, i)).hex() for i, h in enumerate(P.result_frames(result))]

    parts_request = P.Decompose(job=6, width=6, height=4, format="RGBA8", parts=True)
    objects_result = P.Result(job=6, width=6, height=4, box=(0, 1, 6, 2), formats=result.formats,
                              objects=[{"box": [0, 1, 2, 2]}, {"box": [4, 1, 2, 1]}])
    object_frames = [P.pack_frame(h, _pattern(h.payload_size, 10 + i)).hex()
                     for i, h in enumerate(P.result_frames(objects_result))]

    def text(message: Any) -> Dict[str, str]:
        return {"text": P.encode(message)}

    scripts = {
        "progress, then a result": [
            text(P.Progress(job=5, stage="alpha", fraction=0.5)), text(P.Progress(job=4, stage="fill", fraction=0.1)),
            text(result), {"frame": frames[0]}, {"frame": frames[1]}, {"frame": frames[2]}],
        "another job's messages are ignored": [
            text(P.Cancelled(job=4)), text(P.Error(code="unknown_job", message="no job 4", job=4)),
            text(P.Error(code="invalid_input", message="empty", job=5))],
        "an error about the connection ends the job": [text(P.Error(code="shutting_down", message="bye"))],
        "cancel, then cancelled": [
            text(P.Progress(job=5, stage="alpha", fraction=0.1)), {"cancel": True}, {"cancel": True},
            text(P.Progress(job=5, stage="alpha", fraction=0.2)), text(P.Cancelled(job=5))],
        "cancel crossed by the result": [
            {"cancel": True}, text(result), {"frame": frames[0]}, {"frame": frames[1]}, {"frame": frames[2]}],
        "cancel crossed by the end: unknown_job": [
            {"cancel": True}, text(P.Error(code="unknown_job", message="no job 5", job=5))],
        "pixels before the result": [{"frame": frames[0]}],
        "a message amid the result's frames": [text(result), {"frame": frames[0]}, text(P.Cancelled(job=5))],
        "a result of another size": [
            text(P.Result(job=5, width=5, height=3, box=(1, 1, 2, 1), formats=result.formats))],
        "a frame out of order": [text(result), {"frame": frames[1]}],
        "a message the server does not send": [text(P.Cancel(job=5))],
        "a result with two objects": [text(objects_result), *({"frame": f} for f in object_frames)],
        "two objects: the plate before the objects' frames": [text(objects_result), {"frame": object_frames[-1]}],
        "two objects: a visibility frame at the wrong object's box": [
            text(objects_result), {"frame": object_frames[0]}, {"frame": object_frames[3]}],
    }
    requests = dict.fromkeys(list(scripts)[-3:], parts_request)  # the three above ask for parts
    transcripts = []
    for name, steps in scripts.items():
        this_request = requests.get(name, request)
        job = P.ClientJob(this_request)
        recorded = []
        for step in steps:
            out: Dict[str, Any] = dict(step)
            try:
                if "cancel" in step:
                    sent = job.cancel()
                    out["returns"] = P.encode(sent) if sent is not None else None
                else:
                    item = P.decode(step["text"]) if "text" in step else P.unpack_frame(bytes.fromhex(step["frame"]))
                    got = job.receive(item)
                    out["returns"] = P.encode(got) if got is not None else None
            except P.ProtocolError as exc:
                out["raises"] = exc.code
                recorded.append(out)
                break
            recorded.append(out)
        transcripts.append({
            "name": name, "request": P.encode(this_request), "steps": recorded, "outcome": job.outcome,
            "error": P.encode(job.error) if job.error is not None else None,
            "result": P.encode(job.result) if job.result is not None and job.outcome == "result" else None,
            # By role for a result without objects (no role repeats); null with objects.
            "frames": ({role.label: bytes(view).hex() for role, view in job.frames.items()}
                       if job.outcome == "result" and not job.result.objects else None),
            # Every result frame in arrival order, with its header.
            "received": ([{"role": h.role.label, "format": h.format.name, "x": h.x, "y": h.y, "width": h.width,
                           "height": h.height, "pixels": bytes(view).hex()} for h, view in job.received]
                         if job.outcome == "result" else None),
        })
    return transcripts


def build() -> Dict[str, Any]:
    return {
        "about": ("Written by tests/golden/make_protocol_vectors.py from server/protocol/ "
                  "(imported as layerdecomp_server.protocol); do not edit by hand."),
        "protocol_version": P.PROTOCOL_VERSION,
        "header_size": P.HEADER_SIZE,
        "limits": P.Limits().to_json(),
        "messages": _message_vectors(),
        "invalid_messages": _invalid_vectors(),
        "frames": _frame_vectors(),
        "invalid_frames": _bad_frame_vectors(),
        "expected_frames": _expected_frames(),
        "handshakes": _handshake_vectors(),
        "client_jobs": _job_transcripts(),
    }


def render() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=True) + "\n"


def main() -> int:
    VECTORS_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {VECTORS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
