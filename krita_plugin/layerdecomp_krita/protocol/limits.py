"""``Limits``: what a server accepts, announced in ``welcome`` so a client can check before uploading."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Dict, Optional

from .errors import ErrorCode, ProtocolError
from .frames import HEADER_SIZE


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
