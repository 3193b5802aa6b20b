"""The sans-I/O protocol module on its own: what the Krita plugin imports."""

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

PROTOCOL_FILE = Path(protocol.__file__)

MESSAGES = [
    protocol.Hello(token="abc", client="krita"),
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
    ('{"type": "hello", "token": "x", "extra": 1}', "unknown field(s) extra"),
    ('{"type": "hello", "token": 5}', "hello.token"),
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
    data = json.loads(protocol.encode(MESSAGES[1]))
    data["gpu_memory"] = 24
    data["limits"]["max_fun"] = 1
    assert protocol.decode(json.dumps(data)) == MESSAGES[1]


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


def test_the_module_is_self_contained_standard_library_python_3_9():
    """The plugin zip carries this one file to Krita's Python: no numpy, no websockets, no package."""
    source = PROTOCOL_FILE.read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: the file is copied on its own"
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    # Loaded as a lone file in an isolated interpreter, it works and pulls in nothing heavy.
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('protocol', {str(PROTOCOL_FILE)!r})\n"
        "p = sys.modules['protocol'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(p)\n"
        "m = p.Decompose(job=1, width=2, height=2, format='BGRA8')\n"
        "assert p.decode(p.encode(m)) == m\n"
        "assert not {'numpy', 'websockets'} & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-I", "-c", script], check=True)
