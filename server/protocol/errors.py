"""What goes wrong on the wire: the ``error`` message's codes, websocket close codes, ``ProtocolError``,
and how a refusal quotes the peer's own text back (briefly)."""

from __future__ import annotations

from typing import Any, Optional

from .constants import ECHO_CHARS


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
