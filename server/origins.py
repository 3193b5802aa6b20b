"""Which websocket handshakes the server admits by their ``Origin`` header, and what a refusal says.

A web page must never drive the user's GPU, and every browser sends an ``Origin``: web pages
(``http:``/``https:``), sandboxed frames and pages opened from disk (``null``, ``file://``). Native
clients (the Krita plugin, ``layerdecomp_server.client``) send none. Photoshop's UXP plugins are not web
pages: where UXP sends an ``Origin`` it is under its own ``uxp:`` scheme, which no browser can send
(docs/photoshop.md, *Origin*, has the evidence). Anything else is admitted only when named exactly with
``--allow-origin``; every admitted client must still prove it knows the token.

A refused client is closed at once with ``POLICY_VIOLATION`` and a short reason before anything it sends
is read: a close reason is the one thing a WebSocket API (UXP's included) hands its caller, so the
plugin can tell the artist "refused, and why" instead of "not reachable".
"""

from __future__ import annotations

from typing import Optional

# Every UXP plugin's scheme; a browser sends only its page's scheme (http, https, file) or "null".
UXP_SCHEME = "uxp:"
# A websocket close reason may hold 123 bytes; the origin is cut so the advice always fits.
ORIGIN_CHARS_IN_REASON = 40


class OriginPolicy:
    def __init__(self, allowed: tuple[str, ...] = ()) -> None:
        self.allowed = frozenset(allowed)
        self._reported: set[str] = set()

    def admits(self, origin: Optional[str]) -> bool:
        if origin is None or origin in self.allowed:
            return True
        return origin.lower().startswith(UXP_SCHEME)

    @staticmethod
    def close_reason(origin: str) -> str:
        """What the refused client reads (a websocket close reason: at most 123 bytes)."""
        shown = origin.encode("ascii", "backslashreplace").decode("ascii")
        if len(shown) > ORIGIN_CHARS_IN_REASON:
            shown = shown[:ORIGIN_CHARS_IN_REASON] + "..."
        return f"origin {shown} refused; to allow it: layerdecomp serve --allow-origin ORIGIN"

    def first_refusal(self, origin: str) -> bool:
        """True the first time ``origin`` is refused (the log warns once per origin, then notes it)."""
        if origin in self._reported or len(self._reported) > 100:
            return False
        self._reported.add(origin)
        return True
