"""The layerdecomp wire protocol, sans I/O: messages <-> websocket frames, and their validation.

FOR THE KRITA PLUGIN: this one file is the whole protocol. It is pure standard-library Python (3.9+),
has no relative imports and owns no socket, so the plugin carries an exact copy of it (kept in its tree;
scripts/sync_plugin). The full description, with an example session, is docs/protocol.md. In short:

    client                                          server
    hello {protocol, token, client}          ->
                                             <-     welcome {server, backend, backends, device, options, limits}
    decompose {job, width, height, format,   ->
               backend?, margin?, grow?, options}
    binary frame: header(job, image, RGBA8|BGRA8|RGB8, w, h) + pixels        ->
    binary frame: header(job, mask, A8, w, h) + pixels                        ->
                                             <-     progress {job, stage, fraction}     (any number, in order)
    cancel {job}   (at any time)             ->
                                             <-     cancelled {job}    or
                                             <-     error {job, code, message}   or
                                             <-     result {job, width, height, box, formats, metadata}
                                             <-     binary frame: header(job, foreground, RGBA8|BGRA8, box)
                                             <-     binary frame: header(job, background, <image format>, box)
                                             <-     binary frame: header(job, visibility, A8, box)

Control messages are JSON text frames with a "type" field. Pixels travel as binary frames: a fixed
28-byte little-endian header (see ``FrameHeader``) followed by raw rows, top to bottom, no padding.
Results are cropped to the rectangle that changed (``box``); outside it the foreground is transparent,
the background equals the uploaded image and visibility is 0. Krita's integer pixel data is B, G, R, A,
so the plugin sends and asks for ``BGRA8`` and never swaps bytes itself: the server converts.

The API, all of it typed:

    encode(message) -> str                       decode(text) -> message     (raises ProtocolError)
    FrameHeader(...).pack() -> bytes             pack_frame(header, pixels) -> bytes
    unpack_frame(data) -> (FrameHeader, memoryview of the pixels)           (raises ProtocolError)
    upload_frames(decompose) / result_frames(result) -> the frames to expect, in order
    FrameCollector(expected).add(header, pixels) -> True once all frames are in
    Limits, ErrorCode, CloseCode, PROTOCOL_VERSION

Every ``ProtocolError`` carries an ``ErrorCode`` and a sentence a person can act on; a server sends it
back as an ``error`` message.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import math
import secrets
import struct
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, Union

PROTOCOL_VERSION = 2
DEFAULT_PORT = 8765
# The 4 bytes that open every binary frame; a frame without them is not ours.
FRAME_MAGIC = b"LDPX"
# magic, protocol version, role, pixel format, reserved (0), job, x, y, width, height
_HEADER = struct.Struct("<4sBBBBIIIII")
HEADER_SIZE = _HEADER.size  # 28
MAX_JOB_ID = 2**32 - 1

# The handshake (see ``ClientHandshake`` and docs/protocol.md): each side proves it knows the token
# with an HMAC-SHA256 over both sides' fresh nonces; the token itself never travels.
NONCE_BYTES = 32  # a nonce travels as 2 * NONCE_BYTES lowercase hex digits
PROOF_HEX_DIGITS = 64  # an HMAC-SHA256, lowercase hex
# The most a server reads in one message from a client that has not authenticated yet, and the most a
# client reads from a server that has not proved itself yet: a hello, a challenge or a welcome is far smaller.
PRE_AUTH_MAX_BYTES = 4096
CLIENT_PRE_AUTH_MAX_BYTES = 64 * 1024
# The most either side reads in one JSON text message once authenticated (pixels travel as binary frames).
MAX_TEXT_BYTES = 1024 * 1024
# How much of a peer's own text an error message quotes back.
ECHO_CHARS = 40


class ErrorCode:
    """The machine-readable ``code`` of an ``error`` message (the library's own codes pass through)."""

    BAD_MESSAGE = "bad_message"  # not JSON, unknown type, missing or wrongly typed field
    BAD_FRAME = "bad_frame"  # a binary frame that is malformed, unexpected, or does not match its job
    UNSUPPORTED_VERSION = "unsupported_version"
    UNAUTHORIZED = "unauthorized"  # the client could not prove it knows the token
    SERVER_UNVERIFIED = "server_unverified"  # (client side) the server could not prove it knows the token
    TOO_LARGE = "too_large"  # dimensions or sizes over the server's limits
    BUSY = "busy"  # the job queue is full: try again later
    UNKNOWN_JOB = "unknown_job"  # cancel for a job that is not (or no longer) there
    DUPLICATE_JOB = "duplicate_job"  # a job id already in use on this connection
    TIMEOUT = "timeout"  # a job's pixels did not arrive in time
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal_error"  # a bug in the server; the message says what happened
    # From layerdecomp.errors (the server forwards LayerDecompError.code unchanged):
    INVALID_INPUT = "invalid_input"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    CANCELLED = "cancelled"
    ERROR = "error"


class CloseCode:
    """Websocket close codes the server uses when it ends a connection."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down
    PROTOCOL_ERROR = 1002  # bad hello, unsupported version
    POLICY_VIOLATION = 1008  # no or wrong token; idle too long
    TOO_BIG = 1009  # a message over max_message_bytes
    TRY_AGAIN_LATER = 1013  # too many connections


class ProtocolError(Exception):
    """A message or frame that breaks the protocol. ``code`` is an ``ErrorCode`` value."""

    def __init__(self, code: str, message: str, job: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.job = job


class Role(enum.IntEnum):
    """What a binary frame holds (JSON spells these in lower case)."""

    IMAGE = 1
    MASK = 2
    FOREGROUND = 3
    BACKGROUND = 4
    VISIBILITY = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class PixelFormat(enum.IntEnum):
    """Raw 8-bit pixel layouts (JSON spells them by name: "RGBA8", ...)."""

    RGBA8 = 1
    BGRA8 = 2  # Krita's integer layout
    A8 = 3  # one byte a pixel: masks, visibility
    RGB8 = 4

    @property
    def channels(self) -> int:
        return {PixelFormat.RGBA8: 4, PixelFormat.BGRA8: 4, PixelFormat.A8: 1, PixelFormat.RGB8: 3}[self]

    @classmethod
    def parse(cls, name: str) -> "PixelFormat":
        try:
            return cls[name]
        except KeyError:
            known = ", ".join(f.name for f in cls)
            raise ProtocolError(ErrorCode.BAD_MESSAGE,
                                f"unknown pixel format {quote(name)}; use one of {known}") from None


# Pixel formats a client may upload an image in; the foreground comes back in the 4-channel layout
# of the same byte order, the background in the image's own format.
IMAGE_FORMATS = (PixelFormat.RGBA8, PixelFormat.BGRA8, PixelFormat.RGB8)


def foreground_format(image_format: PixelFormat) -> PixelFormat:
    return PixelFormat.BGRA8 if image_format == PixelFormat.BGRA8 else PixelFormat.RGBA8


@dataclass(frozen=True)
class Limits:
    """What a server accepts; sent in ``welcome`` so a client can check before uploading."""

    max_message_bytes: int = HEADER_SIZE + 8192 * 8192 * 4  # one binary frame, header included
    max_side: int = 16384
    max_pixels: int = 8192 * 8192
    max_queue: int = 16  # jobs waiting or running, all connections together
    max_jobs_per_connection: int = 4  # of those, the most one connection may have open
    max_upload_bytes: int = 1 << 30  # the uploaded pixels those jobs may hold together
    max_connections: int = 32  # authenticated connections
    max_pending: int = 16  # connections that have not authenticated yet (the oldest goes for a newcomer)
    idle_timeout_s: float = 120.0  # a connection with no job that sends nothing for this long is closed
    upload_timeout_s: float = 60.0  # between a decompose message and its last pixel frame
    hello_timeout_s: float = 5.0  # from the websocket handshake to a successful auth
    send_timeout_s: float = 30.0  # a client that takes longer to read one message is dropped
    max_outbox_bytes: int = 4 * (HEADER_SIZE + 8192 * 8192 * 4)  # unsent data a connection may have waiting

    def check_size(self, width: int, height: int, job: Optional[int] = None) -> None:
        """Raise ``too_large`` when a ``width`` x ``height`` image is over these limits."""
        if width > self.max_side or height > self.max_side or width * height > self.max_pixels:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"the image is {width} x {height}; this server takes at most {self.max_side} pixels a side "
                f"and {self.max_pixels} pixels in all: select a smaller region",
                job,
            )
        # Frames must fit in one websocket message, header included.
        biggest = HEADER_SIZE + width * height * 4
        if biggest > self.max_message_bytes:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"a {width} x {height} frame would be {biggest} bytes, over this server's "
                f"{self.max_message_bytes}-byte message limit: select a smaller region",
                job,
            )

    def to_json(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Any) -> "Limits":
        if not isinstance(data, dict):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "welcome.limits must be an object")
        known = {f.name: f for f in fields(cls)}
        values = {}
        for name, value in data.items():
            if name not in known:
                continue  # a newer server may announce more limits
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ProtocolError(ErrorCode.BAD_MESSAGE, f"welcome.limits.{name} must be a number")
            values[name] = value
        return cls(**values)


# ---------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Hello:
    """client -> server, first message. ``nonce``: fresh random bytes (``new_nonce()``) the server's proof
    must cover, so an old proof cannot be replayed to this client."""

    TYPE: ClassVar[str] = "hello"
    nonce: str
    protocol: int = PROTOCOL_VERSION
    client: str = ""


@dataclass(frozen=True)
class Challenge:
    """server -> client, answer to ``hello``: the server's own fresh ``nonce`` and its ``proof`` that it
    knows the token (``proof(token, "server", client_nonce, nonce)``)."""

    TYPE: ClassVar[str] = "challenge"
    nonce: str
    proof: str
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Auth:
    """client -> server, sent only once the server's proof checked out: the client's ``proof``
    (``proof(token, "client", client_nonce, server_nonce)``)."""

    TYPE: ClassVar[str] = "auth"
    proof: str


@dataclass(frozen=True)
class Welcome:
    """server -> client, answer to a good ``hello``. ``options``: the per-job options the backend takes."""

    TYPE: ClassVar[str] = "welcome"
    server: str
    backend: str
    backends: List[str] = field(default_factory=list)
    device: str = "cpu"
    options: List[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    protocol: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Decompose:
    """client -> server: start job ``job`` (an id the client picks, unique among its open jobs).

    The image and mask frames follow, in that order. ``format`` is the image's pixel format.
    ``backend``: None or the server's backend. ``options``: the backend's per-job options (JSON scalars).
    """

    TYPE: ClassVar[str] = "decompose"
    job: int
    width: int
    height: int
    format: str = "RGBA8"
    backend: Optional[str] = None
    margin: Optional[int] = None
    grow: Optional[int] = None
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """server -> client: ``stage`` (a short word: region, alpha, fill, step, layering, ...) is
    ``fraction`` (0..1) done. Stages arrive in the order they run."""

    TYPE: ClassVar[str] = "progress"
    job: int
    stage: str
    fraction: float


@dataclass(frozen=True)
class Result:
    """server -> client: job done; three binary frames follow (foreground, background, visibility).

    ``width`` x ``height``: the uploaded image's size. ``box``: (x, y, w, h), the rectangle the frames
    cover. ``formats``: pixel format per role. ``metadata``: backend, timings, options, ...
    """

    TYPE: ClassVar[str] = "result"
    job: int
    width: int
    height: int
    box: Tuple[int, int, int, int]
    formats: Dict[str, str]
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Error:
    """server -> client. ``job`` is None for errors about the connection itself."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    job: Optional[int] = None


@dataclass(frozen=True)
class Cancel:
    """client -> server: stop job ``job`` (uploading, queued or running)."""

    TYPE: ClassVar[str] = "cancel"
    job: int


@dataclass(frozen=True)
class Cancelled:
    """server -> client: job ``job`` stopped; nothing more will come for it."""

    TYPE: ClassVar[str] = "cancelled"
    job: int


Message = Union[Hello, Challenge, Auth, Welcome, Decompose, Progress, Result, Error, Cancel, Cancelled]
MESSAGE_TYPES: Dict[str, Type[Any]] = {
    cls.TYPE: cls for cls in (Hello, Challenge, Auth, Welcome, Decompose, Progress, Result, Error, Cancel, Cancelled)
}


def encode(message: Message) -> str:
    """The JSON text frame for ``message``."""
    data: Dict[str, Any] = {"type": message.TYPE}
    for f in fields(message):
        value = getattr(message, f.name)
        if isinstance(value, Limits):
            value = value.to_json()
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value
    return json.dumps(data, separators=(",", ":"), allow_nan=False, default=_json_default)


def _json_default(value: Any) -> Any:
    # Metadata may hold numpy scalars or paths; a protocol module cannot know them, so go by duck type.
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def decode(text: Union[str, bytes]) -> Message:
    """The message in a JSON text frame; ``ProtocolError(bad_message)`` when it is not a valid one.

    Unknown fields are refused (a new field means a new protocol version), except in ``welcome``,
    where a newer server may announce more than this client knows.
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a text frame is not valid JSON ({exc})") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a text frame nests JSON too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a text frame must hold a JSON object with a \"type\" field")
    kind = data.pop("type", None)
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(ErrorCode.BAD_MESSAGE,
                            f"unknown message type {quote(kind)}; expected one of {', '.join(MESSAGE_TYPES)}")
    version = data.get("protocol", PROTOCOL_VERSION)
    if cls in (Hello, Challenge, Welcome) and _is_int(version) and version != PROTOCOL_VERSION:
        # Checked before the fields: another version's hello may well have other fields.
        raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                            f"this side speaks protocol {PROTOCOL_VERSION}, the other side {version}: "
                            "install matching versions of the plugin and the server")
    job = data.get("job") if _is_int(data.get("job")) else None
    known = {f.name for f in fields(cls)}
    extra = set(data) - known
    if extra and cls is not Welcome:
        names = sorted(quote_name(name) for name in extra)
        raise ProtocolError(ErrorCode.BAD_MESSAGE,
                            f"{kind} has unknown field(s) {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}",
                            job)
    values = {name: data[name] for name in known if name in data}
    try:
        message = cls(**values)
    except TypeError:
        missing = sorted(f.name for f in fields(cls) if f.name not in data and _required(f))
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"{kind} lacks field(s) {', '.join(missing)}", job) from None
    return _VALIDATORS[cls](message)


def quote(value: Any) -> str:
    """A peer's value for an error message or a log line: its repr, cut to about ``ECHO_CHARS``
    characters, so a refusal never costs more than the message that caused it."""
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return repr(value[:ECHO_CHARS]) + "..."
    text = repr(value)
    return text if len(text) <= ECHO_CHARS + 2 else text[:ECHO_CHARS] + "..."


def quote_name(value: Any) -> str:
    """A name the peer chose (an option, a field): as it is when it is a short plain word, else ``quote``d."""
    return value if isinstance(value, str) and len(value) <= ECHO_CHARS and value.isidentifier() else quote(value)


def _required(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is MISSING and f.default_factory is MISSING


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _expect(ok: bool, what: str, job: Optional[int] = None) -> None:
    if not ok:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, what, job)


def _check_job(kind: str, job: Any) -> None:
    _expect(_is_int(job) and 0 <= job <= MAX_JOB_ID, f"{kind}.job must be an integer from 0 to {MAX_JOB_ID}")


def _check_size(kind: str, width: Any, height: Any, job: Optional[int]) -> None:
    _expect(_is_int(width) and _is_int(height) and width > 0 and height > 0,
            f"{kind}.width and {kind}.height must be positive integers", job)


def _is_hex(value: Any, digits: int) -> bool:
    return isinstance(value, str) and len(value) == digits and all(c in "0123456789abcdef" for c in value)


def _valid_hello(m: Hello) -> Hello:
    _expect(_is_hex(m.nonce, 2 * NONCE_BYTES), f"hello.nonce must be {2 * NONCE_BYTES} lowercase hex digits")
    _expect(_is_int(m.protocol), "hello.protocol must be an integer")
    _expect(isinstance(m.client, str), "hello.client must be a string")
    return m


def _valid_challenge(m: Challenge) -> Challenge:
    _expect(_is_hex(m.nonce, 2 * NONCE_BYTES), f"challenge.nonce must be {2 * NONCE_BYTES} lowercase hex digits")
    _expect(_is_hex(m.proof, PROOF_HEX_DIGITS), f"challenge.proof must be {PROOF_HEX_DIGITS} lowercase hex digits")
    _expect(_is_int(m.protocol), "challenge.protocol must be an integer")
    return m


def _valid_auth(m: Auth) -> Auth:
    _expect(_is_hex(m.proof, PROOF_HEX_DIGITS), f"auth.proof must be {PROOF_HEX_DIGITS} lowercase hex digits")
    return m


def _valid_welcome(m: Welcome) -> Welcome:
    _expect(isinstance(m.server, str) and isinstance(m.backend, str) and isinstance(m.device, str),
            "welcome.server, backend and device must be strings")
    _expect(isinstance(m.backends, list) and all(isinstance(b, str) for b in m.backends),
            "welcome.backends must be a list of strings")
    _expect(isinstance(m.options, list) and all(isinstance(o, str) for o in m.options),
            "welcome.options must be a list of strings")
    _expect(_is_int(m.protocol), "welcome.protocol must be an integer")
    limits = m.limits if isinstance(m.limits, Limits) else Limits.from_json(m.limits)
    return Welcome(m.server, m.backend, m.backends, m.device, m.options, limits, m.protocol)


def _valid_decompose(m: Decompose) -> Decompose:
    _check_job("decompose", m.job)
    _check_size("decompose", m.width, m.height, m.job)
    _expect(isinstance(m.format, str), "decompose.format must be a string", m.job)
    fmt = PixelFormat.parse(m.format) if m.format in PixelFormat.__members__ else None
    _expect(fmt in IMAGE_FORMATS,
            f"decompose.format {quote(m.format)} is not an image format; use one of "
            f"{', '.join(f.name for f in IMAGE_FORMATS)}", m.job)
    _expect(m.backend is None or isinstance(m.backend, str), "decompose.backend must be a string or null", m.job)
    for name in ("margin", "grow"):
        value = getattr(m, name)
        _expect(value is None or (_is_int(value) and value >= 0),
                f"decompose.{name} must be a non-negative integer or null", m.job)
    _expect(isinstance(m.options, dict), "decompose.options must be an object", m.job)
    for key, value in m.options.items():
        _expect(value is None or isinstance(value, (str, bool)) or _is_number(value),
                f"decompose.options.{quote_name(key)} must be a string, number, true/false or null", m.job)
    return m


def _valid_progress(m: Progress) -> Progress:
    _check_job("progress", m.job)
    _expect(isinstance(m.stage, str), "progress.stage must be a string", m.job)
    _expect(_is_number(m.fraction), "progress.fraction must be a number", m.job)
    return m


def _valid_result(m: Result) -> Result:
    _check_job("result", m.job)
    _check_size("result", m.width, m.height, m.job)
    box = m.box
    _expect(isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_int(v) and v >= 0 for v in box),
            "result.box must be [x, y, w, h], non-negative integers", m.job)
    x, y, w, h = box
    _expect(w > 0 and h > 0 and x + w <= m.width and y + h <= m.height,
            "result.box must be a non-empty rectangle inside the image", m.job)
    _expect(isinstance(m.formats, dict) and set(m.formats) == {r.label for r in RESULT_ROLES},
            f"result.formats must name the format of {', '.join(r.label for r in RESULT_ROLES)}", m.job)
    for name in m.formats.values():
        _expect(isinstance(name, str) and name in PixelFormat.__members__,
                f"result.formats holds an unknown pixel format {quote(name)}", m.job)
    _expect(isinstance(m.metadata, dict), "result.metadata must be an object", m.job)
    return Result(m.job, m.width, m.height, (x, y, w, h), dict(m.formats), m.metadata)


def _valid_error(m: Error) -> Error:
    _expect(isinstance(m.code, str) and isinstance(m.message, str), "error.code and error.message must be strings")
    _expect(m.job is None or _is_int(m.job), "error.job must be an integer or null")
    return m


def _valid_cancel(m: Any) -> Any:
    _check_job(m.TYPE, m.job)
    return m


_VALIDATORS = {
    Hello: _valid_hello,
    Challenge: _valid_challenge,
    Auth: _valid_auth,
    Welcome: _valid_welcome,
    Decompose: _valid_decompose,
    Progress: _valid_progress,
    Result: _valid_result,
    Error: _valid_error,
    Cancel: _valid_cancel,
    Cancelled: _valid_cancel,
}


# ------------------------------------------------------------------------------------------ binary frames


@dataclass(frozen=True)
class FrameHeader:
    """The header that ties a binary frame to its job: the pixels are ``width`` x ``height`` at ``(x, y)``
    of the job's image, in ``format``, rows top to bottom without padding."""

    job: int
    role: Role
    format: PixelFormat
    width: int
    height: int
    x: int = 0
    y: int = 0

    @property
    def payload_size(self) -> int:
        return self.width * self.height * PixelFormat(self.format).channels

    def pack(self) -> bytes:
        return _HEADER.pack(FRAME_MAGIC, PROTOCOL_VERSION, int(self.role), int(self.format), 0,
                            self.job, self.x, self.y, self.width, self.height)


def pack_frame(header: FrameHeader, pixels: Union[bytes, bytearray, memoryview]) -> bytes:
    """A whole binary frame. (To avoid a copy of big buffers, write ``header.pack()`` and the pixels
    into one preallocated ``bytearray`` of ``HEADER_SIZE + header.payload_size`` bytes instead.)"""
    if len(pixels) != header.payload_size:
        raise ValueError(f"{header.role.label} frame: {len(pixels)} bytes of pixels, expected {header.payload_size}")
    return header.pack() + bytes(pixels)


def unpack_frame(data: Union[bytes, bytearray, memoryview]) -> Tuple[FrameHeader, memoryview]:
    """The header and the pixel bytes (a view, no copy) of a binary frame; ``ProtocolError(bad_frame)``
    when the frame is not one."""
    view = memoryview(data)
    if len(view) < HEADER_SIZE:
        raise ProtocolError(ErrorCode.BAD_FRAME,
                            f"a binary frame of {len(view)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, version, role, fmt, _reserved, job, x, y, width, height = _HEADER.unpack_from(view)
    if magic != FRAME_MAGIC:
        raise ProtocolError(ErrorCode.BAD_FRAME, "a binary frame does not start with the LDPX header")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.BAD_FRAME,
                            f"a binary frame says protocol {version}; this side speaks {PROTOCOL_VERSION}", job)
    if role not in Role._value2member_map_:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"a binary frame has unknown role {role}", job)
    if fmt not in PixelFormat._value2member_map_:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"a binary frame has unknown pixel format {fmt}", job)
    header = FrameHeader(job, Role(role), PixelFormat(fmt), width, height, x, y)
    pixels = view[HEADER_SIZE:]
    if len(pixels) != header.payload_size:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"the {header.role.label} frame of job {job} holds {len(pixels)} bytes of pixels; "
            f"{width} x {height} {header.format.name} needs {header.payload_size}",
            job,
        )
    return header, pixels


RESULT_ROLES = (Role.FOREGROUND, Role.BACKGROUND, Role.VISIBILITY)


def upload_frames(message: Decompose) -> List[FrameHeader]:
    """The frames a client sends after ``message``, in order: the image, then the mask."""
    return [
        FrameHeader(message.job, Role.IMAGE, PixelFormat[message.format], message.width, message.height),
        FrameHeader(message.job, Role.MASK, PixelFormat.A8, message.width, message.height),
    ]


def result_frames(message: Result) -> List[FrameHeader]:
    """The frames a server sends after ``message``, in order: foreground, background, visibility."""
    x, y, w, h = message.box
    return [FrameHeader(message.job, role, PixelFormat[message.formats[role.label]], w, h, x, y)
            for role in RESULT_ROLES]


class FrameCollector:
    """Gathers the binary frames of one job, checking each against the frame expected next."""

    def __init__(self, expected: List[FrameHeader]) -> None:
        self._expected = list(expected)
        self.frames: Dict[Role, memoryview] = {}

    @property
    def complete(self) -> bool:
        return not self._expected

    @property
    def next_expected(self) -> Optional[FrameHeader]:
        return self._expected[0] if self._expected else None

    def add(self, header: FrameHeader, pixels: memoryview) -> bool:
        """Take one frame (as from ``unpack_frame``); True once every expected frame is in."""
        want = self.next_expected
        if want is None:
            raise ProtocolError(ErrorCode.BAD_FRAME,
                                f"an extra binary frame for job {header.job}, which has all its frames",
                                header.job)
        if header != want:
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"job {header.job} expected its {want.role.label} frame, {want.width} x {want.height} "
                f"{want.format.name} at ({want.x}, {want.y}); got a frame for {header.role.label}, "
                f"{header.width} x {header.height} {header.format.name} at ({header.x}, {header.y})",
                header.job,
            )
        self.frames[header.role] = pixels
        self._expected.pop(0)
        return self.complete


# -------------------------------------------------------------------------------------------- handshake


def new_nonce() -> str:
    """A fresh nonce for ``hello`` or ``challenge``: NONCE_BYTES random bytes as lowercase hex."""
    return secrets.token_hex(NONCE_BYTES)


def proof(token: str, side: str, client_nonce: str, server_nonce: str) -> str:
    """What ``side`` ("server" or "client") sends to prove it knows ``token``: HMAC-SHA256 keyed with the
    token's UTF-8 bytes, over the ASCII bytes ``"layerdecomp-v2 " + side + " " + client_nonce + " " +
    server_nonce``, as 64 lowercase hex digits. The side's name keeps one side's proof from passing as
    the other's; the two fresh nonces keep an old proof from passing at all."""
    if side not in ("server", "client"):
        raise ValueError(f"side must be 'server' or 'client', not {side!r}")
    text = f"layerdecomp-v{PROTOCOL_VERSION} {side} {client_nonce} {server_nonce}"
    return hmac.new(token.encode("utf-8"), text.encode("ascii"), hashlib.sha256).hexdigest()


def proof_matches(token: str, side: str, client_nonce: str, server_nonce: str, claimed: str) -> bool:
    return hmac.compare_digest(proof(token, side, client_nonce, server_nonce), claimed)


class Refused(ProtocolError):
    """The peer answered with an ``error`` message (``code``, ``message`` are its own)."""


class ClientHandshake:
    """The client's half of the handshake, without a socket:

        handshake = ClientHandshake(token, client="my-client")
        send(encode(handshake.hello))
        send(encode(handshake.answer(decode(receive()))))   # raises unless the server proved itself
        welcome = handshake.welcome(decode(receive()))

    Nothing that depends on the token leaves the client until the server's proof checked out, so a
    process squatting on the port learns neither the token nor any picture. Raises ``Refused`` when
    the server answered with an error, ``ProtocolError`` (``server_unverified``, ``bad_message``) else.
    Read at most ``CLIENT_PRE_AUTH_MAX_BYTES`` a message until ``welcome`` has arrived.
    """

    def __init__(self, token: str, client: str = "", nonce: Optional[str] = None) -> None:
        self._token = token
        self.hello = Hello(nonce=nonce or new_nonce(), client=client)
        self._server_nonce: Optional[str] = None

    def answer(self, message: Message) -> Auth:
        """The ``auth`` to send for the server's ``challenge``."""
        _raise_if_error(message)
        if not isinstance(message, Challenge):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"the server answered hello with {message.TYPE}, not challenge")
        if not proof_matches(self._token, "server", self.hello.nonce, message.nonce, message.proof):
            raise ProtocolError(ErrorCode.SERVER_UNVERIFIED,
                                "the program answering at this address could not prove it knows the token: "
                                "it is not your layerdecomp server, or it uses another token file")
        self._server_nonce = message.nonce
        return Auth(proof=proof(self._token, "client", self.hello.nonce, message.nonce))

    def welcome(self, message: Message) -> Welcome:
        """The server's ``welcome`` (after ``answer``)."""
        if self._server_nonce is None:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "welcome before the server proved itself")
        _raise_if_error(message)
        if not isinstance(message, Welcome):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"the server answered auth with {message.TYPE}, not welcome")
        return message


def _raise_if_error(message: Message) -> None:
    if isinstance(message, Error):
        raise Refused(message.code, message.message, message.job)


# ------------------------------------------------------------------------------------------- client jobs


class ClientJob:
    """One job as a client sees it, without a socket: what to send, then every message and binary frame
    from the server fed in, in order, until ``done``.

        job = ClientJob(Decompose(...))
        send(encode(job.request)); send each of job.upload_headers packed with its pixels
        while not job.done:
            progress = job.receive(decode(text))  or  job.receive(unpack_frame(data))
            (and, to stop it: message = job.cancel(); if message: send(encode(message)))
        job.outcome: "result" (job.result, job.frames), "error" (job.error) or "cancelled"

    Messages about other jobs (late answers to earlier ones) are ignored. ``result_max_bytes`` is the
    largest binary frame the server may send for this job: a client reads no more than that.
    """

    def __init__(self, request: Decompose) -> None:
        self.request = request
        self.upload_headers = upload_frames(request)
        self.result: Optional[Result] = None
        self.error: Optional[Error] = None
        self.outcome: Optional[str] = None
        self.cancel_sent = False
        self._collector: Optional[FrameCollector] = None

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def result_max_bytes(self) -> int:
        return HEADER_SIZE + self.request.width * self.request.height * 4

    @property
    def frames(self) -> Dict[Role, memoryview]:
        return self._collector.frames if self._collector is not None else {}

    def cancel(self) -> Optional[Cancel]:
        """The ``cancel`` message to send, once (None when sent already or the job is over)."""
        if self.cancel_sent or self.done:
            return None
        self.cancel_sent = True
        return Cancel(job=self.request.job)

    def receive(self, item: Union[Message, Tuple[FrameHeader, memoryview]]) -> Optional[Progress]:
        """Take the next thing the server sent; returns it when it is this job's progress."""
        if self.done:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"job {self.request.job} is over; nothing more was expected")
        job = self.request.job
        if isinstance(item, tuple):
            header, pixels = item
            if self._collector is None:
                raise ProtocolError(ErrorCode.BAD_FRAME, "the server sent pixels before a result message")
            if self._collector.add(header, pixels):
                self.outcome = "cancelled" if self.cancel_sent else "result"
            return None
        if self._collector is not None:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"the server sent {item.TYPE} in the middle of a result's frames")
        if isinstance(item, Error) and item.job is None:
            self.error, self.outcome = item, "error"  # about the connection: it is going
        elif getattr(item, "job", None) != job:
            pass  # about an earlier job (e.g. unknown_job for a cancel that crossed its result)
        elif isinstance(item, Progress):
            return None if self.cancel_sent else item
        elif isinstance(item, Cancelled):
            self.outcome = "cancelled"
        elif isinstance(item, Error):
            # After a cancel, unknown_job means the job had ended already (its result crossed the cancel).
            cancelled = self.cancel_sent and item.code == ErrorCode.UNKNOWN_JOB
            self.error, self.outcome = (None, "cancelled") if cancelled else (item, "error")
        elif isinstance(item, Result):
            expected = self.request
            if (item.width, item.height) != (expected.width, expected.height):
                raise ProtocolError(ErrorCode.BAD_MESSAGE, f"the result of job {job} is {item.width} x {item.height}; "
                                    f"the upload was {expected.width} x {expected.height}")
            self.result, self._collector = item, FrameCollector(result_frames(item))
        else:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a server does not send {item.TYPE} during a job")
        return None
