"""The protocol's version, port and byte budgets: plain numbers, no imports (the installer reads the port)."""

PROTOCOL_VERSION = 3
DEFAULT_PORT = 8765
MAX_JOB_ID = 2**32 - 1
# The most objects one result may carry (a decompose with ``parts``: one per separate part of the selection).
MAX_OBJECTS = 16

# The handshake (handshake.py, docs/protocol.md): each side proves it knows the token with an HMAC-SHA256
# over both sides' fresh nonces; the token itself never travels.
NONCE_BYTES = 32  # a nonce travels as 2 * NONCE_BYTES lowercase hex digits
PROOF_HEX_DIGITS = 64  # an HMAC-SHA256, lowercase hex
# After the handshake every message carries a session tag (channel.py): an HMAC-SHA256, 32 bytes at the
# end of a binary frame, 64 lowercase hex digits at the start of a text frame.
MAC_BYTES = 32
# The most a server reads in one message from a client that has not authenticated yet, and the most a
# client reads from a server that has not proved itself yet: a hello, a challenge or a welcome is far smaller.
PRE_AUTH_MAX_BYTES = 4096
CLIENT_PRE_AUTH_MAX_BYTES = 64 * 1024
# The most either side reads in one JSON text message once authenticated (pixels travel as binary frames).
MAX_TEXT_BYTES = 1024 * 1024
# How much of a peer's own text an error message quotes back.
ECHO_CHARS = 40
