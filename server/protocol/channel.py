"""The authenticated session (protocol 3): every message after the handshake carries a MAC.

Both sides derive a session key from the token and the handshake's two nonces; each message a side sends
is tagged with HMAC-SHA256(key, sender || 0 || sequence number || kind || its bytes). A side counts what
it sent and what it received, from 0 for the first message after ``auth`` (the server's ``welcome``,
the client's first request), so a message replayed, dropped, reordered, reflected back to its sender or
injected by anyone without the token fails its tag. docs/protocol.md, "The authenticated session".

    text frame    64 lowercase hex digits of the tag, then the JSON message
    binary frame  the frame (header and pixels), then the 32 bytes of the tag
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Union

from .constants import MAC_BYTES, PROTOCOL_VERSION
from .errors import ErrorCode, ProtocolError

SIDES = ("server", "client")
_TEXT, _BINARY = b"t", b"b"

Bytes = Union[bytes, bytearray, memoryview]


def session_key(token: str, client_nonce: str, server_nonce: str, address: str = "") -> bytes:
    """HMAC-SHA256 keyed with the token's UTF-8 bytes over the ASCII bytes
    ``"layerdecomp-v3 session " + client_nonce + " " + server_nonce + " " + address`` (32 raw bytes)."""
    text = f"layerdecomp-v{PROTOCOL_VERSION} session {client_nonce} {server_nonce} {address}"
    return hmac.new(token.encode("utf-8"), text.encode("ascii"), hashlib.sha256).digest()


def message_tag(key: bytes, sender: str, sequence: int, kind: bytes, payload: Bytes) -> bytes:
    """The 32-byte tag of the ``sequence``-th message ``sender`` sent after the handshake."""
    mac = hmac.new(key, sender.encode("ascii") + b"\x00" + sequence.to_bytes(8, "big") + kind, hashlib.sha256)
    mac.update(payload)
    return mac.digest()


class Channel:
    """One side's half of an authenticated session: ``seal_*`` what it sends, in the order it sends it;
    ``open_*`` what it receives, in the order it arrives (``ProtocolError`` ``unauthentic`` when the tag is
    wrong: the connection must then be closed, for the counts no longer agree)."""

    def __init__(self, key: bytes, side: str) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be 'server' or 'client', not {side!r}")
        self._key = key
        self._side = side
        self._peer = SIDES[1 - SIDES.index(side)]
        self.sent = 0
        self.received = 0

    def _next_tag(self, kind: bytes, payload: Bytes) -> bytes:
        tag = message_tag(self._key, self._side, self.sent, kind, payload)
        self.sent += 1
        return tag

    def seal_text(self, text: str) -> str:
        return self._next_tag(_TEXT, text.encode("utf-8")).hex() + text

    def binary_tag(self, frame: Bytes) -> bytes:
        """The tag to send right after ``frame`` in the same binary message (``frame + tag``)."""
        return self._next_tag(_BINARY, frame)

    def seal_binary(self, frame: Bytes) -> bytes:
        return bytes(frame) + self.binary_tag(frame)

    def open_text(self, wire: str) -> str:
        claimed, text = wire[: 2 * MAC_BYTES], wire[2 * MAC_BYTES:]
        payload = text.encode("utf-8", "surrogatepass")
        self._check(_TEXT, payload, claimed.encode("ascii", "replace"), hexed=True)
        return text

    def open_binary(self, wire: Bytes) -> memoryview:
        """The frame without its tag (a view, no copy)."""
        view = memoryview(wire)
        if len(view) < MAC_BYTES:
            self._check(_BINARY, b"", b"", hexed=False)
        frame = view[: len(view) - MAC_BYTES]
        self._check(_BINARY, frame, bytes(view[len(view) - MAC_BYTES:]), hexed=False)
        return frame

    def _check(self, kind: bytes, payload: Bytes, claimed: bytes, hexed: bool) -> None:
        expected = message_tag(self._key, self._peer, self.received, kind, payload)
        if not hmac.compare_digest(expected.hex().encode("ascii") if hexed else expected, claimed):
            raise ProtocolError(ErrorCode.UNAUTHENTIC,
                                f"message {self.received} from the {self._peer} does not carry its session tag: "
                                "it was changed, replayed, reordered or injected; the connection is closed")
        self.received += 1
