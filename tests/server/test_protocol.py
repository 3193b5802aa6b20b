"""The sans-I/O protocol package on its own: what the Krita plugin imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from layerdecomp_server import protocol
from layerdecomp_server.protocol import (
    HEADER_SIZE,
    ErrorCode,
    FrameCollector,
    FrameHeader,
    Limits,
    PixelFormat,
    ProtocolError,
    Role,
)

PROTOCOL_PACKAGE = Path(protocol.__file__).parent

MESSAGES = [
    protocol.Hello(nonce="0" * 64, client="krita"),
    protocol.Challenge(nonce="f" * 64, proof="a" * 64),
    protocol.Auth(proof="b" * 64),
    protocol.Welcome(server="layerdecomp 0.1.0", backend="classical", backends=["classical"], device="cpu",
                     options=["steps"], limits=Limits(max_queue=3)),
    protocol.Decompose(job=7, width=640, height=480, format="BGRA8", margin=10, grow=2, options={"steps": 4}),
    protocol.Progress(job=7, stage="step", fraction=0.25),
    protocol.Result(job=7, width=640, height=480, box=(1, 2, 30, 40),
                    formats={"foreground": "BGRA8", "background": "BGRA8", "visibility": "A8"},
                    metadata={"backend": "classical", "timings": {"fill": 0.1}}),
    protocol.Error(code="busy", message="try again", job=None),
    protocol.Cancel(job=7),
    protocol.Cancelled(job=7),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.TYPE)
def test_every_message_round_trips(message):
    text = protocol.encode(message)
    assert json.loads(text)["type"] == message.TYPE
    assert protocol.decode(text) == message


@pytest.mark.parametrize("text, fragment", [
    ("{nope", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"type": "explode"}', "unknown message type 'explode'"),
    ('{"job": 1}', "unknown message type None"),
    ('{"type": "cancel"}', "lacks field(s) job"),
    ('{"type": "cancel", "job": -1}', "cancel.job"),
    ('{"type": "cancel", "job": true}', "cancel.job"),
    ('{"type": "hello", "nonce": "%s", "extra": 1}' % ("0" * 64), "unknown field(s) extra"),
    ('{"type": "hello", "nonce": 5}', "hello.nonce"),
    ('{"type": "hello", "nonce": "%s"}' % ("A" * 64), "lowercase hex"),
    ('{"type": "auth", "proof": "%s"}' % ("0" * 63), "auth.proof"),
    ('{"type": "challenge", "nonce": "%s", "proof": "xyz"}' % ("0" * 64), "challenge.proof"),
    ("[" * 100_000 + "]" * 100_000, "too deeply"),
    ('{"type": "%s"}' % ("x" * 100_000), "unknown message type 'xxxxx"),
    ('{"type": "decompose", "job": 1, "width": 0, "height": 5}', "positive integers"),
    ('{"type": "decompose", "job": 1, "width": 4, "height": 5, "format": "A8"}', "not an image format"),
    ('{"type": "decompose", "job": 1, "width": 4, "height": 5, "format": "CMYK"}', "not an image format"),
    ('{"type": "decompose", "job": 1, "width": 4, "height": 5, "options": {"a": [1]}}', "decompose.options.a"),
    ('{"type": "decompose", "job": 1, "width": 4, "height": 5, "grow": -1}', "decompose.grow"),
    ('{"type": "progress", "job": 1, "stage": "x", "fraction": "half"}', "progress.fraction"),
    ('{"type": "result", "job": 1, "width": 4, "height": 4, "box": [0, 0, 5, 1], '
     '"formats": {"foreground": "RGBA8", "background": "RGBA8", "visibility": "A8"}}', "inside the image"),
])
def test_bad_messages_are_refused_with_a_reason(text, fragment):
    with pytest.raises(ProtocolError) as info:
        protocol.decode(text)
    assert info.value.code == ErrorCode.BAD_MESSAGE
    assert fragment in info.value.message


def test_a_bad_message_names_its_job_when_it_can():
    with pytest.raises(ProtocolError) as info:
        protocol.decode('{"type": "decompose", "job": 9, "width": 4, "height": 5, "format": "A8"}')
    assert info.value.job == 9


def test_welcome_ignores_what_a_newer_server_adds():
    welcome = next(m for m in MESSAGES if isinstance(m, protocol.Welcome))
    data = json.loads(protocol.encode(welcome))
    data["gpu_memory"] = 24
    data["limits"]["max_fun"] = 1
    assert protocol.decode(json.dumps(data)) == welcome


def test_frames_round_trip_and_check_their_length():
    header = FrameHeader(job=3, role=Role.FOREGROUND, format=PixelFormat.BGRA8, width=5, height=4, x=7, y=9)
    data = protocol.pack_frame(header, bytes(range(80)))
    assert len(data) == HEADER_SIZE + 80 and data[:4] == b"LDPX"
    parsed, pixels = protocol.unpack_frame(data)
    assert parsed == header and bytes(pixels) == bytes(range(80))
    for broken, fragment in [(data[:-1], "needs 80"), (data + b"\0", "needs 80"), (data[:10], "shorter than"),
                             (b"XXXX" + data[4:], "LDPX"), (data[:5] + b"\x09" + data[6:], "unknown role"),
                             (data[:6] + b"\x09" + data[7:], "unknown pixel format"),
                             (data[:4] + b"\x07" + data[5:], "protocol 7")]:
        with pytest.raises(ProtocolError) as info:
            protocol.unpack_frame(broken)
        assert info.value.code == ErrorCode.BAD_FRAME and fragment in info.value.message
    with pytest.raises(ValueError):
        protocol.pack_frame(header, b"short")


def test_collector_wants_the_announced_frames_in_order():
    request = protocol.Decompose(job=4, width=3, height=2, format="RGB8")
    image_header, mask_header = protocol.upload_frames(request)
    assert image_header.payload_size == 18 and mask_header.payload_size == 6
    collector = FrameCollector(protocol.upload_frames(request))
    with pytest.raises(ProtocolError, match="expected its image frame"):
        collector.add(mask_header, memoryview(bytes(6)))
    assert collector.add(image_header, memoryview(bytes(18))) is False
    wrong_size = FrameHeader(4, Role.MASK, PixelFormat.A8, 3, 1)
    with pytest.raises(ProtocolError, match="3 x 2 A8"):
        collector.add(wrong_size, memoryview(bytes(3)))
    assert collector.add(mask_header, memoryview(bytes(6))) is True
    with pytest.raises(ProtocolError, match="extra binary frame"):
        collector.add(mask_header, memoryview(bytes(6)))


def test_limits_refuse_big_images_with_advice():
    limits = Limits(max_side=100, max_pixels=50 * 50)
    limits.check_size(100, 25)
    for size in [(101, 10), (60, 60)]:
        with pytest.raises(ProtocolError, match="select a smaller region") as info:
            limits.check_size(*size, job=3)
        assert info.value.code == ErrorCode.TOO_LARGE and info.value.job == 3


def test_the_package_is_self_contained_standard_library_python_3_9():
    """The plugin zip carries this package to Krita's Python: no numpy, no websockets, nothing outside it."""
    imported = set()
    for module in sorted(PROTOCOL_PACKAGE.glob("*.py")):
        tree = ast.parse(module.read_text(), feature_version=(3, 9))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1, f"{module.name}: imports from outside the package"
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    # Loaded under another name from its folder alone, in an isolated interpreter, it works and pulls in
    # nothing heavy.
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('protocol', {str(PROTOCOL_PACKAGE / '__init__.py')!r})\n"
        "p = sys.modules['protocol'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)\n"
        "m = p.Decompose(job=1, width=2, height=2, format='BGRA8')\n"
        "assert p.decode(p.encode(m)) == m\n"
        "assert not {'numpy', 'websockets', 'layerdecomp', 'layerdecomp_server'} & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-I", "-c", script], check=True)


def test_each_message_is_registered_once_under_its_type():
    assert sorted(protocol.MESSAGE_TYPES) == sorted(cls.TYPE for cls in protocol.Message.__subclasses__())
    for kind, cls in protocol.MESSAGE_TYPES.items():
        assert cls.TYPE == kind and issubclass(cls, protocol.Message)


def test_refusals_quote_at_most_a_short_prefix_of_what_the_peer_sent():
    huge = "\U0001F600" * 1_000_000  # an emoji costs 12 bytes once JSON-escaped
    for text in ('{"type": "%s"}' % huge, '{"type": "cancel", "job": 1, "%s": 1}' % huge,
                 '{"type": "decompose", "job": 1, "width": 4, "height": 4, "format": "%s"}' % huge):
        with pytest.raises(ProtocolError) as info:
            protocol.decode(text)
        reply = protocol.encode(protocol.Error(code=info.value.code, message=info.value.message))
        assert len(reply) < 1024, reply  # whatever the size of what was sent


def test_another_version_s_hello_is_unsupported_whatever_its_fields():
    with pytest.raises(ProtocolError) as info:
        protocol.decode('{"type": "hello", "protocol": 1, "token": "t", "client": "old plugin"}')
    assert info.value.code == ErrorCode.UNSUPPORTED_VERSION
    assert "protocol 2" in info.value.message and "1" in info.value.message


# ------------------------------------------------------------------------------------------- handshake

# The worked example of docs/protocol.md (a port of the protocol checks itself against these).
EXAMPLE_TOKEN = "correct horse battery staple"
EXAMPLE_CLIENT_NONCE = "00" * 32
EXAMPLE_SERVER_NONCE = "ff" * 32
EXAMPLE_SERVER_PROOF = "d5e3fa936848c35350829038df87f1c036fd1ca74307a62230c8d970ac8f9d62"
EXAMPLE_CLIENT_PROOF = "74c86debd93cec527439b6a9902844b39ec24183e1b07e94b7aa1e46eb128588"


def test_proofs_are_hmac_sha256_over_the_documented_bytes():
    import hashlib
    import hmac

    for side, expected in (("server", EXAMPLE_SERVER_PROOF), ("client", EXAMPLE_CLIENT_PROOF)):
        got = protocol.proof(EXAMPLE_TOKEN, side, EXAMPLE_CLIENT_NONCE, EXAMPLE_SERVER_NONCE)
        text = f"layerdecomp-v2 {side} {EXAMPLE_CLIENT_NONCE} {EXAMPLE_SERVER_NONCE}".encode("ascii")
        assert got == expected == hmac.new(EXAMPLE_TOKEN.encode(), text, hashlib.sha256).hexdigest()
    doc = (PROTOCOL_PACKAGE.parents[1] / "docs" / "protocol.md").read_text()
    assert EXAMPLE_SERVER_PROOF in doc and EXAMPLE_CLIENT_PROOF in doc


def _server_side(token: str, hello: protocol.Hello, server_nonce: str = "ab" * 32) -> protocol.Challenge:
    return protocol.Challenge(nonce=server_nonce, proof=protocol.proof(token, "server", hello.nonce, server_nonce))


def test_the_client_proves_itself_only_to_a_server_that_proved_itself():
    handshake = protocol.ClientHandshake("the-token-0123456789", client="tests")
    assert len(handshake.hello.nonce) == 64
    assert protocol.ClientHandshake("t").hello.nonce != handshake.hello.nonce  # fresh every time
    challenge = _server_side("the-token-0123456789", handshake.hello)
    auth = handshake.answer(challenge)
    assert protocol.proof_matches("the-token-0123456789", "client", handshake.hello.nonce, challenge.nonce,
                                  auth.proof)
    welcome = protocol.Welcome(server="s", backend="classical")
    assert handshake.welcome(welcome) == welcome


@pytest.mark.parametrize("challenge", [
    "impostor",  # does not know the token
    "replayed",  # a proof made for another client nonce
    "reflected",  # the client's own kind of proof
])
def test_a_server_that_cannot_prove_itself_gets_nothing(challenge):
    token = "the-token-0123456789"
    handshake = protocol.ClientHandshake(token)
    message = {
        "impostor": _server_side("guess", handshake.hello),
        "replayed": _server_side(token, protocol.Hello(nonce="12" * 32)),
        "reflected": protocol.Challenge(nonce="ab" * 32,
                                        proof=protocol.proof(token, "client", handshake.hello.nonce, "ab" * 32)),
    }[challenge]
    with pytest.raises(ProtocolError) as info:
        handshake.answer(message)
    assert info.value.code == ErrorCode.SERVER_UNVERIFIED
    with pytest.raises(ProtocolError):
        handshake.welcome(protocol.Welcome(server="s", backend="classical"))


def test_a_refusal_during_the_handshake_carries_the_server_s_words():
    handshake = protocol.ClientHandshake("t")
    with pytest.raises(protocol.Refused) as info:
        handshake.answer(protocol.Error(code="unsupported_version", message="speak 3"))
    assert (info.value.code, info.value.message) == ("unsupported_version", "speak 3")


# ------------------------------------------------------------------------------------------ client job


def _result(job: int = 5) -> protocol.Result:
    return protocol.Result(job=job, width=4, height=3, box=(1, 1, 2, 2),
                           formats={"foreground": "BGRA8", "background": "BGRA8", "visibility": "A8"})


def _result_frames(result: protocol.Result):
    return [(header, memoryview(bytes(header.payload_size))) for header in protocol.result_frames(result)]


def test_a_client_job_follows_progress_to_its_result():
    job = protocol.ClientJob(protocol.Decompose(job=5, width=4, height=3, format="BGRA8"))
    assert [h.role for h in job.upload_headers] == [Role.IMAGE, Role.MASK]
    assert job.result_max_bytes == HEADER_SIZE + 4 * 3 * 4
    progress = protocol.Progress(job=5, stage="fill", fraction=0.5)
    assert job.receive(progress) == progress
    assert job.receive(protocol.Progress(job=4, stage="fill", fraction=0.5)) is None  # an earlier job's
    assert job.receive(protocol.Error(code="unknown_job", message="late", job=4)) is None
    result = _result()
    with pytest.raises(ProtocolError, match="before a result"):
        protocol.ClientJob(job.request).receive(_result_frames(result)[0])
    job.receive(result)
    with pytest.raises(ProtocolError, match="middle of a result"):
        job.receive(progress)
    job = protocol.ClientJob(job.request)
    job.receive(result)
    for frame in _result_frames(result):
        assert not job.done
        job.receive(frame)
    assert job.done and job.outcome == "result" and set(job.frames) == {Role.FOREGROUND, Role.BACKGROUND,
                                                                          Role.VISIBILITY}
    with pytest.raises(ProtocolError):
        job.receive(progress)


def test_a_client_job_ends_on_its_error_or_on_a_connection_error():
    job = protocol.ClientJob(protocol.Decompose(job=5, width=4, height=3))
    job.receive(protocol.Error(code="invalid_input", message="empty", job=5))
    assert job.outcome == "error" and job.error.code == "invalid_input"
    job = protocol.ClientJob(protocol.Decompose(job=5, width=4, height=3))
    job.receive(protocol.Error(code="shutting_down", message="bye"))
    assert job.outcome == "error" and job.error.job is None


def test_a_cancelled_client_job_ends_on_cancelled_or_on_a_result_that_crossed_the_cancel():
    job = protocol.ClientJob(protocol.Decompose(job=5, width=4, height=3))
    assert job.cancel() == protocol.Cancel(job=5)
    assert job.cancel() is None  # once
    assert job.receive(protocol.Progress(job=5, stage="fill", fraction=0.5)) is None
    job.receive(protocol.Cancelled(job=5))
    assert job.outcome == "cancelled"
    crossed = protocol.ClientJob(protocol.Decompose(job=5, width=4, height=3, format="BGRA8"))
    crossed.cancel()
    crossed.receive(_result())
    for frame in _result_frames(_result()):
        crossed.receive(frame)
    assert crossed.outcome == "cancelled"


def test_a_client_job_refuses_a_result_of_another_size():
    job = protocol.ClientJob(protocol.Decompose(job=5, width=8, height=3))
    with pytest.raises(ProtocolError, match="the upload was 8 x 3"):
        job.receive(_result())
