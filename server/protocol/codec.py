"""Messages <-> JSON text frames: ``encode`` and ``decode`` (which refuses anything that is not a valid
message with ``ProtocolError``)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import Any, Dict, Union

from .checks import is_int
from .constants import PROTOCOL_VERSION
from .errors import ErrorCode, ProtocolError, quote, quote_name
from .limits import Limits
from .messages import MESSAGE_TYPES, Message


def encode(message: Message) -> str:
    """The JSON text frame for ``message``."""
    data: Dict[str, Any] = {"type": message.TYPE}
    for f in fields(message):  # type: ignore[arg-type]  # every Message is a dataclass
        value = getattr(message, f.name)
        if f.metadata.get("omit_default") and value == _default(f):
            continue  # a field older peers do not know, left out while it says nothing new
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

    Unknown fields are refused (a new field means a new protocol version), except in an ``OPEN``
    message (``welcome``), where a newer server may announce more than this client knows.
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
    if cls.VERSIONED and is_int(version) and version != PROTOCOL_VERSION:
        # Checked before the fields: another version's hello may well have other fields.
        raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                            f"this side speaks protocol {PROTOCOL_VERSION}, the other side {quote(version)}: "
                            "install matching versions of the plugin and the server")
    job = data.get("job") if is_int(data.get("job")) else None
    declared = fields(cls)  # type: ignore[arg-type]
    known = {f.name for f in declared}
    extra = set(data) - known
    if extra and not cls.OPEN:
        names = sorted(quote_name(name) for name in extra)
        raise ProtocolError(ErrorCode.BAD_MESSAGE,
                            f"{kind} has unknown field(s) {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}",
                            job)
    values = {name: data[name] for name in known if name in data}
    try:
        message = cls(**values)
    except TypeError:
        missing = sorted(f.name for f in declared if f.name not in data and _required(f))
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"{kind} lacks field(s) {', '.join(missing)}", job) from None
    return message.validated()


def _default(f: Any) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING
