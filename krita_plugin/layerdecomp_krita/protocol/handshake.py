"""The signed handshake: each side proves it knows the token with an HMAC over both sides' fresh nonces,
and the client's half of it without a socket (``ClientHandshake``); the server's half is the session's."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from typing import Optional

from .channel import Channel, session_key
from .constants import NONCE_BYTES, PROTOCOL_VERSION
from .errors import ErrorCode, ProtocolError
from .messages import Auth, Challenge, Error, Hello, Message, Welcome


def new_nonce() -> str:
    """A fresh nonce for ``hello`` or ``challenge``: NONCE_BYTES random bytes as lowercase hex."""
    return secrets.token_hex(NONCE_BYTES)


def endpoint(host: str, port: int) -> str:
    """The server's address as both sides name it in their proofs: the IP literal the connection really
    reached (an IPv4-mapped IPv6 address as IPv4) and the port, ``127.0.0.1:8765`` or ``[::1]:8765``."""
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return f"[{ip.compressed}]:{port}" if ip.version == 6 else f"{ip.compressed}:{port}"


def proof(token: str, side: str, client_nonce: str, server_nonce: str, address: str = "") -> str:
    """What ``side`` ("server" or "client") sends to prove it knows ``token``: HMAC-SHA256 keyed with the
    token's UTF-8 bytes, over the ASCII bytes ``"layerdecomp-v3 " + side + " " + client_nonce + " " +
    server_nonce + " " + address``, as 64 lowercase hex digits. The side's name keeps one side's proof
    from passing as the other's; the two fresh nonces keep an old proof from passing at all; the server's
    ``address`` (``endpoint``: the one the client's socket reached, the one the server's socket accepted
    on) keeps a program at another address from relaying the handshake to the real server."""
    if side not in ("server", "client"):
        raise ValueError(f"side must be 'server' or 'client', not {side!r}")
    text = f"layerdecomp-v{PROTOCOL_VERSION} {side} {client_nonce} {server_nonce} {address}"
    return hmac.new(token.encode("utf-8"), text.encode("ascii"), hashlib.sha256).hexdigest()


def proof_matches(token: str, side: str, client_nonce: str, server_nonce: str, claimed: str,
                  address: str = "") -> bool:
    return hmac.compare_digest(proof(token, side, client_nonce, server_nonce, address), claimed)


class Refused(ProtocolError):
    """The peer answered with an ``error`` message (``code``, ``message`` are its own)."""


class ClientHandshake:
    """The client's half of the handshake, without a socket:

        handshake = ClientHandshake(token, client="my-client")
        send(encode(handshake.hello))
        send(encode(handshake.answer(decode(receive()))))   # raises unless the server proved itself
        welcome = handshake.welcome(decode(handshake.channel.open_text(receive())))
        then: send(handshake.channel.seal_text(encode(message))), open every message received likewise

    Nothing that depends on the token leaves the client until the server's proof checked out, so a
    process squatting on the port learns neither the token nor any picture; from ``welcome`` on, every
    message both ways carries a session tag (``channel``), so a program relaying the handshake to a real
    server can neither read the client's requests as the server's nor answer them itself. Raises
    ``Refused`` when the server answered with an error, ``ProtocolError`` (``server_unverified``,
    ``bad_message``, ``unauthentic``) else. Read at most ``CLIENT_PRE_AUTH_MAX_BYTES`` a message until
    ``welcome`` has arrived. An empty token is refused (``ValueError``): never prove anything with nothing.
    """

    def __init__(self, token: str, client: str = "", nonce: Optional[str] = None, address: str = "") -> None:
        """``address``: ``endpoint()`` of the address the client's socket is connected to (its peer)."""
        if not token:
            raise ValueError("no token: a client must not connect without the server's token")
        self._token = token
        self._address = address
        self.channel: Optional[Channel] = None
        self.hello = Hello(nonce=nonce or new_nonce(), client=client)
        self._server_nonce: Optional[str] = None

    def answer(self, message: Message) -> Auth:
        """The ``auth`` to send for the server's ``challenge``."""
        _raise_if_error(message)
        if not isinstance(message, Challenge):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"the server answered hello with {message.TYPE}, not challenge")
        if not proof_matches(self._token, "server", self.hello.nonce, message.nonce, message.proof, self._address):
            raise ProtocolError(ErrorCode.SERVER_UNVERIFIED,
                                "the program answering at this address could not prove it knows the token: "
                                "it is not your layerdecomp server (or it relays one from another address), or "
                                "it uses another token file")
        self._server_nonce = message.nonce
        self.channel = Channel(session_key(self._token, self.hello.nonce, message.nonce, self._address), "client")
        return Auth(proof=proof(self._token, "client", self.hello.nonce, message.nonce, self._address))

    def welcome(self, message: Message) -> Welcome:
        """The server's ``welcome`` (after ``answer``; opened with ``channel`` first)."""
        if self._server_nonce is None:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "welcome before the server proved itself")
        _raise_if_error(message)
        if not isinstance(message, Welcome):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"the server answered auth with {message.TYPE}, not welcome")
        return message


def _raise_if_error(message: Message) -> None:
    if isinstance(message, Error):
        raise Refused(message.code, message.message, message.job)
