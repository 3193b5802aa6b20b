"""The text messages, each declared once: its fields, its ``type``, and how a decoded one is checked.

Defining a ``Message`` subclass registers it (``MESSAGE_TYPES``); ``codec.decode`` looks the ``type`` up
there and calls the message's own ``validated``. docs/protocol.md describes every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type

from .checks import check_job, check_size, expect, is_hex, is_int, is_number
from .constants import MAX_OBJECTS, NONCE_BYTES, PROOF_HEX_DIGITS, PROTOCOL_VERSION
from .errors import quote, quote_name
from .frames import IMAGE_FORMATS, RESULT_ROLES, FrameHeader, PixelFormat, Role
from .limits import Limits

# type -> message class, filled in as the classes below are defined.
MESSAGE_TYPES: Dict[str, Type["Message"]] = {}

# Field metadata: ``encode`` leaves the field out while it holds its default, so a peer that predates the
# field (and refuses unknown fields) gets exactly what it got before.
OMIT_DEFAULT = {"omit_default": True}

# What a server can do beyond the protocol's core, announced in ``welcome.features``:
# "parts": a ``decompose`` may ask for one object per separate part of its selection (``parts``).
FEATURE_PARTS = "parts"


class Message:
    """A JSON text message. ``TYPE`` is its ``type`` field. ``VERSIONED``: it carries ``protocol``, and
    another version's is refused as unsupported before its fields are looked at. ``OPEN``: fields this
    side does not know are ignored (a newer peer may announce more) rather than refused."""

    TYPE: ClassVar[str] = ""
    VERSIONED: ClassVar[bool] = False
    OPEN: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MESSAGE_TYPES[cls.TYPE] = cls

    def validated(self) -> "Message":
        """This message as decoded, checked field by field (``ProtocolError(bad_message)`` otherwise)."""
        return self


@dataclass(frozen=True)
class Hello(Message):
    """client -> server, first message. ``nonce``: fresh random bytes (``new_nonce()``) the server's proof
    must cover, so an old proof cannot be replayed to this client."""

    TYPE: ClassVar[str] = "hello"
    VERSIONED: ClassVar[bool] = True
    nonce: str
    protocol: int = PROTOCOL_VERSION
    client: str = ""

    def validated(self) -> "Hello":
        expect(is_hex(self.nonce, 2 * NONCE_BYTES), f"hello.nonce must be {2 * NONCE_BYTES} lowercase hex digits")
        expect(is_int(self.protocol), "hello.protocol must be an integer")
        expect(isinstance(self.client, str), "hello.client must be a string")
        return self


@dataclass(frozen=True)
class Challenge(Message):
    """server -> client, answer to ``hello``: the server's own fresh ``nonce`` and its ``proof`` that it
    knows the token (``proof(token, "server", client_nonce, nonce)``)."""

    TYPE: ClassVar[str] = "challenge"
    VERSIONED: ClassVar[bool] = True
    nonce: str
    proof: str
    protocol: int = PROTOCOL_VERSION

    def validated(self) -> "Challenge":
        expect(is_hex(self.nonce, 2 * NONCE_BYTES),
               f"challenge.nonce must be {2 * NONCE_BYTES} lowercase hex digits")
        expect(is_hex(self.proof, PROOF_HEX_DIGITS), f"challenge.proof must be {PROOF_HEX_DIGITS} lowercase hex digits")
        expect(is_int(self.protocol), "challenge.protocol must be an integer")
        return self


@dataclass(frozen=True)
class Auth(Message):
    """client -> server, sent only once the server's proof checked out: the client's ``proof``
    (``proof(token, "client", client_nonce, server_nonce)``)."""

    TYPE: ClassVar[str] = "auth"
    proof: str

    def validated(self) -> "Auth":
        expect(is_hex(self.proof, PROOF_HEX_DIGITS), f"auth.proof must be {PROOF_HEX_DIGITS} lowercase hex digits")
        return self


# The keys of each entry of welcome.methods and welcome.schema, with the JSON type each must have
# (an entry may hold more: a newer server may say more about a method or an option).
METHOD_KEYS = {"name": str, "label": str, "description": str, "available": bool, "reason": str}
SCHEMA_KEYS = {"name": str, "type": str, "label": str, "help": str}


@dataclass(frozen=True)
class Welcome(Message):
    """server -> client, answer to a good ``auth``. ``options``: the names of the per-job options the
    backend takes; ``schema``: those options described (name, type, default, label, help, and min/max or
    choices), to draw a form from; ``methods``: every backend this server knows, with a label, a plain
    description, whether this server runs it and, when not, the ``reason`` in words. ``features``: what
    this server can do beyond the core protocol (``FEATURE_PARTS``); a client uses only what is listed."""

    TYPE: ClassVar[str] = "welcome"
    VERSIONED: ClassVar[bool] = True
    OPEN: ClassVar[bool] = True
    server: str
    backend: str
    backends: List[str] = field(default_factory=list)
    device: str = "cpu"
    options: List[str] = field(default_factory=list)
    methods: List[Dict[str, Any]] = field(default_factory=list)
    schema: List[Dict[str, Any]] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    protocol: int = PROTOCOL_VERSION
    features: List[str] = field(default_factory=list)

    def validated(self) -> "Welcome":
        expect(isinstance(self.server, str) and isinstance(self.backend, str) and isinstance(self.device, str),
               "welcome.server, backend and device must be strings")
        expect(isinstance(self.backends, list) and all(isinstance(b, str) for b in self.backends),
               "welcome.backends must be a list of strings")
        expect(isinstance(self.options, list) and all(isinstance(o, str) for o in self.options),
               "welcome.options must be a list of strings")
        expect(isinstance(self.features, list) and all(isinstance(f, str) for f in self.features),
               "welcome.features must be a list of strings")
        _expect_entries("welcome.methods", self.methods, METHOD_KEYS)
        _expect_entries("welcome.schema", self.schema, SCHEMA_KEYS)
        expect(is_int(self.protocol), "welcome.protocol must be an integer")
        limits = self.limits if isinstance(self.limits, Limits) else Limits.from_json(self.limits)
        return Welcome(self.server, self.backend, self.backends, self.device, self.options, self.methods,
                       self.schema, limits, self.protocol, self.features)


def _expect_entries(where: str, entries: Any, keys: Dict[str, type]) -> None:
    """``entries`` is a list of objects, each with ``keys`` of their types."""
    expect(isinstance(entries, list) and all(isinstance(e, dict) for e in entries),
           f"{where} must be a list of objects")
    for entry in entries:
        for key, kind in keys.items():
            expect(isinstance(entry.get(key), kind),
                   f"each of {where} must have {key} ({'true/false' if kind is bool else 'a string'})")


@dataclass(frozen=True)
class Decompose(Message):
    """client -> server: start job ``job`` (an id the client picks, unique among its open jobs).

    The image and mask frames follow, in that order (``upload_frames``). ``format`` is the image's pixel
    format. ``backend``: None or the server's backend. ``options``: the backend's per-job options (JSON
    scalars). ``parts``: one object per separate part of the selection (only to a server whose welcome
    lists ``FEATURE_PARTS``; left out of the JSON when false, so older servers see what they always saw).
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
    parts: bool = field(default=False, metadata=OMIT_DEFAULT)

    def validated(self) -> "Decompose":
        job = self.job
        check_job("decompose", job)
        check_size("decompose", self.width, self.height, job)
        expect(isinstance(self.format, str), "decompose.format must be a string", job)
        fmt = PixelFormat.parse(self.format) if self.format in PixelFormat.__members__ else None
        expect(fmt in IMAGE_FORMATS,
               f"decompose.format {quote(self.format)} is not an image format; use one of "
               f"{', '.join(f.name for f in IMAGE_FORMATS)}", job)
        expect(self.backend is None or isinstance(self.backend, str), "decompose.backend must be a string or null", job)
        for name in ("margin", "grow"):  # their range is the library's rule (layerdecomp.options.check_geometry)
            expect(getattr(self, name) is None or is_int(getattr(self, name)),
                   f"decompose.{name} must be an integer or null", job)
        expect(isinstance(self.options, dict), "decompose.options must be an object", job)
        for key, value in self.options.items():
            expect(value is None or isinstance(value, (str, bool)) or is_number(value),
                   f"decompose.options.{quote_name(key)} must be a string, number, true/false or null", job)
        expect(isinstance(self.parts, bool), "decompose.parts must be true or false", job)
        return self


@dataclass(frozen=True)
class Progress(Message):
    """server -> client: ``stage`` (a short word: region, alpha, fill, step, layering, ...) is
    ``fraction`` (0..1) done. Stages arrive in the order they run."""

    TYPE: ClassVar[str] = "progress"
    job: int
    stage: str
    fraction: float

    def validated(self) -> "Progress":
        check_job("progress", self.job)
        expect(isinstance(self.stage, str), "progress.stage must be a string", self.job)
        expect(is_number(self.fraction), "progress.fraction must be a number", self.job)
        return self


@dataclass(frozen=True)
class Result(Message):
    """server -> client: job done; its binary frames follow (``result_frames``).

    ``width`` x ``height``: the uploaded image's size. ``box``: (x, y, w, h), the rectangle that holds
    every changed pixel. ``formats``: pixel format per role. ``metadata``: backend, timings, options, ...
    ``objects``: for a job that asked for ``parts`` and whose selection has 2 to ``MAX_OBJECTS`` parts,
    one ``{"box": [x, y, w, h]}`` per object layer, bottom to top, each inside ``box``; empty (and left
    out of the JSON) otherwise. Frames without objects: foreground, background, visibility at ``box``.
    With objects: each object's foreground and visibility at its own box, then one background at ``box``.
    """

    TYPE: ClassVar[str] = "result"
    job: int
    width: int
    height: int
    box: Tuple[int, int, int, int]
    formats: Dict[str, str]
    metadata: Dict[str, Any] = field(default_factory=dict)
    objects: List[Dict[str, Any]] = field(default_factory=list, metadata=OMIT_DEFAULT)

    def validated(self) -> "Result":
        job = self.job
        check_job("result", job)
        check_size("result", self.width, self.height, job)
        box = self.box
        expect(isinstance(box, (list, tuple)) and len(box) == 4 and all(is_int(v) and v >= 0 for v in box),
               "result.box must be [x, y, w, h], non-negative integers", job)
        x, y, w, h = box
        expect(w > 0 and h > 0 and x + w <= self.width and y + h <= self.height,
               "result.box must be a non-empty rectangle inside the image", job)
        roles = [r.label for r in RESULT_ROLES]
        expect(isinstance(self.formats, dict) and set(self.formats) == set(roles),
               f"result.formats must name the format of {', '.join(roles)}", job)
        for name in self.formats.values():
            expect(isinstance(name, str) and name in PixelFormat.__members__,
                   f"result.formats holds an unknown pixel format {quote(name)}", job)
        expect(isinstance(self.metadata, dict), "result.metadata must be an object", job)
        objects = self.objects
        expect(isinstance(objects, list) and (len(objects) == 0 or 2 <= len(objects) <= MAX_OBJECTS),
               f"result.objects must be a list of 2 to {MAX_OBJECTS} objects (or left out)", job)
        checked = []
        for entry in objects:
            expect(isinstance(entry, dict) and set(entry) == {"box"}, "each of result.objects must be {\"box\": "
                   "[x, y, w, h]}", job)
            ob = entry["box"]
            expect(isinstance(ob, (list, tuple)) and len(ob) == 4 and all(is_int(v) and v >= 0 for v in ob),
                   "each result.objects box must be [x, y, w, h], non-negative integers", job)
            ox, oy, ow, oh = ob
            expect(ow > 0 and oh > 0 and ox >= x and oy >= y and ox + ow <= x + w and oy + oh <= y + h,
                   "each result.objects box must be a non-empty rectangle inside result.box", job)
            checked.append({"box": [ox, oy, ow, oh]})
        return Result(job, self.width, self.height, (x, y, w, h), dict(self.formats), self.metadata, checked)


@dataclass(frozen=True)
class Error(Message):
    """server -> client. ``job`` is None for errors about the connection itself."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    job: Optional[int] = None

    def validated(self) -> "Error":
        expect(isinstance(self.code, str) and isinstance(self.message, str),
               "error.code and error.message must be strings")
        expect(self.job is None or is_int(self.job), "error.job must be an integer or null")
        return self


@dataclass(frozen=True)
class Cancel(Message):
    """client -> server: stop job ``job`` (uploading, queued or running)."""

    TYPE: ClassVar[str] = "cancel"
    job: int

    def validated(self) -> "Cancel":
        check_job(self.TYPE, self.job)
        return self


@dataclass(frozen=True)
class Cancelled(Message):
    """server -> client: job ``job`` stopped; nothing more will come for it."""

    TYPE: ClassVar[str] = "cancelled"
    job: int

    def validated(self) -> "Cancelled":
        check_job(self.TYPE, self.job)
        return self


def upload_frames(message: Decompose) -> List[FrameHeader]:
    """The frames a client sends after ``message``, in order: the image, then the mask."""
    return [
        FrameHeader(message.job, Role.IMAGE, PixelFormat[message.format], message.width, message.height),
        FrameHeader(message.job, Role.MASK, PixelFormat.A8, message.width, message.height),
    ]


def result_frames(message: Result) -> List[FrameHeader]:
    """The frames a server sends after ``message``, in order: foreground, background, visibility at its
    ``box``; or, with ``objects``, each object's foreground and visibility at the object's box (bottom
    to top), then the background at ``box``."""
    job, formats = message.job, message.formats

    def at(role: Role, box: Any) -> FrameHeader:
        x, y, w, h = box
        return FrameHeader(job, role, PixelFormat[formats[role.label]], w, h, x, y)

    if not message.objects:
        return [at(role, message.box) for role in RESULT_ROLES]
    frames = []
    for entry in message.objects:
        frames += [at(Role.FOREGROUND, entry["box"]), at(Role.VISIBILITY, entry["box"])]
    return [*frames, at(Role.BACKGROUND, message.box)]
