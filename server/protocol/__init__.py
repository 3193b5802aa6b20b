"""The layerdecomp wire protocol, sans I/O: messages <-> websocket frames, and their validation.

FOR THE KRITA PLUGIN: this package is the whole protocol. It is pure standard-library Python (3.9+),
imports nothing outside itself and owns no socket, so the plugin carries an exact copy of it (kept in
its tree; scripts/sync_plugin). The full description, with an example session, is docs/protocol.md.
In short:

    client                                          server
    hello {protocol, nonce, client}          ->
                                             <-     challenge {protocol, nonce, proof}
    auth {proof}                             ->     (only once the server's proof checked out)
                                             <-     welcome {protocol, server, backend, backends, device,
                                                             options, methods, schema, limits, features}
    decompose {job, width, height, format,   ->
               backend?, margin?, grow?, options, parts?}
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

With ``parts`` (sent only to a server whose welcome lists "parts") a selection of 2 or more separate
parts gives a result with ``objects`` [{box}, ...] (bottom to top), and its frames are instead: for each
object, foreground and visibility at the object's box; then one background at ``box``.

From the welcome on, every message both ways carries a session tag (``channel``: protocol 3), so nothing
can be changed, replayed, reordered, dropped or injected unnoticed. Control messages are JSON text frames
with a "type" field. Pixels travel as binary frames: a fixed
28-byte little-endian header (see ``FrameHeader``) followed by raw rows, top to bottom, no padding.
Results are cropped to the rectangle that changed (``box``); outside it the foreground is transparent,
the background equals the uploaded image and visibility is 0. Krita's integer pixel data is B, G, R, A,
so the plugin sends and asks for ``BGRA8`` and never swaps bytes itself: the server converts.

One concern a module:

    constants   PROTOCOL_VERSION, DEFAULT_PORT, nonce and proof sizes, byte budgets
    errors      ErrorCode, CloseCode, ProtocolError (every one carries a code and a sentence a person
                can act on; a server sends it back as an ``error`` message), quote
    frames      FrameHeader(...).pack(), pack_frame, unpack_frame -> (header, memoryview),
                FrameCollector(expected).add(header, pixels) -> True once all frames are in
    limits      Limits (sent in ``welcome``)
    messages    one class a message, registered by being defined, each checking itself;
                upload_frames(decompose) / result_frames(result) -> the frames to expect, in order
    codec       encode(message) -> str, decode(text) -> message (raises ProtocolError)
    handshake   new_nonce, proof, ClientHandshake (the client's half of the signed handshake)
    channel     session_key, Channel (protocol 3: every message after the handshake carries a session tag)
    jobs        ClientJob (one job as a client sees it, from decompose to its outcome)

Import the names from the package (``from layerdecomp_server.protocol import Decompose``); the modules
are its layout, not its interface.
"""

from .channel import Channel, message_tag, session_key
from .codec import decode, encode
from .constants import (
    CLIENT_PRE_AUTH_MAX_BYTES,
    DEFAULT_PORT,
    ECHO_CHARS,
    MAC_BYTES,
    MAX_JOB_ID,
    MAX_OBJECTS,
    MAX_TEXT_BYTES,
    NONCE_BYTES,
    PRE_AUTH_MAX_BYTES,
    PROOF_HEX_DIGITS,
    PROTOCOL_VERSION,
)
from .errors import CloseCode, ErrorCode, ProtocolError, quote, quote_name
from .frames import (
    FRAME_MAGIC,
    HEADER_SIZE,
    IMAGE_FORMATS,
    RESULT_ROLES,
    FrameCollector,
    FrameHeader,
    PixelFormat,
    Role,
    foreground_format,
    pack_frame,
    unpack_frame,
)
from .handshake import ClientHandshake, Refused, endpoint, new_nonce, proof, proof_matches
from .jobs import ClientJob
from .limits import Limits
from .messages import (
    FEATURE_PARTS,
    MESSAGE_TYPES,
    Auth,
    Cancel,
    Cancelled,
    Challenge,
    Decompose,
    Error,
    Hello,
    Message,
    Progress,
    Result,
    Welcome,
    result_frames,
    upload_frames,
)

__all__ = [
    "CLIENT_PRE_AUTH_MAX_BYTES", "DEFAULT_PORT", "ECHO_CHARS", "MAC_BYTES", "MAX_JOB_ID", "MAX_OBJECTS",
    "MAX_TEXT_BYTES", "NONCE_BYTES",
    "PRE_AUTH_MAX_BYTES", "PROOF_HEX_DIGITS", "PROTOCOL_VERSION",
    "CloseCode", "ErrorCode", "ProtocolError", "quote", "quote_name",
    "FRAME_MAGIC", "HEADER_SIZE", "IMAGE_FORMATS", "RESULT_ROLES", "FrameCollector", "FrameHeader", "PixelFormat",
    "Role", "foreground_format", "pack_frame", "unpack_frame",
    "Limits",
    "FEATURE_PARTS",
    "MESSAGE_TYPES", "Message", "Hello", "Challenge", "Auth", "Welcome", "Decompose", "Progress", "Result", "Error",
    "Cancel", "Cancelled", "upload_frames", "result_frames",
    "encode", "decode",
    "new_nonce", "proof", "proof_matches", "endpoint", "ClientHandshake", "Refused",
    "ClientJob",
    "Channel", "session_key", "message_tag",
]
