"""The signed handshake: each side proves it knows the token with an HMAC over both sides' fresh nonces,
and the client's half of it without a socket (``ClientHandshake``); the server's half is the session's."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Optional

from .constants import NONCE_BYTES, PROTOCOL_VERSION
from .errors import ErrorCode, ProtocolError
from .messages import Auth, Challenge, Error, Hello, Message, Welcome


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
