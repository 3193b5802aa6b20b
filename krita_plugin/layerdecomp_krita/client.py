"""One decomposition job over the websocket: connect (starting the local server if configured), send
the crop, follow progress, collect the result. Runs in a worker thread, never on Krita's GUI thread.

Plain Python plus ``protocol`` (the server's own sans-I/O protocol package, an exact copy kept in
this tree: scripts/sync_plugin) and the pure-Python ``websockets`` package (its synchronous client),
which the packaging puts under ``_vendor``. Every failure comes out as a ``messages.UserError``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import messages
from . import protocol as P
from ._vendor.websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from ._vendor.websockets.sync.client import ClientConnection, connect
from .config import TokenFileError
from .local_server import LOCAL, LocalServer, is_local, serve_arguments
from .settings import Settings, announced_by, read_token

log = logging.getLogger("layerdecomp_krita")

CLIENT_NAME = "layerdecomp-krita/0.1"
# How often the receive loop looks at the cancel flag.
POLL_S = 0.05
# How long to wait for the server's "cancelled" before hanging up anyway.
CANCEL_GRACE_S = 2.0
# A server flooded by sockets that never authenticate may evict a handshake under way (busy, or the
# socket dropped): try again this many times in all, waiting a little longer each time.
HANDSHAKE_TRIES = 4
HANDSHAKE_RETRY_S = 0.05

_job_ids = itertools.count(1)
# The status once the picture is sent, until the server's first progress report.
# What a job's status says (messages.py; the docker reads them without the network modules).
WORKING = messages.WORKING
STARTING_SERVER = messages.STARTING_SERVER

# report(kind, payload): ("status", "sentence") or ("progress", (stage, fraction)).
Report = Callable[[str, Any], None]


@dataclass
class JobRequest:
    """The crop to decompose: ``image`` BGRA8 and ``mask`` A8, ``width`` x ``height``, rows top to bottom."""

    width: int
    height: int
    image: bytes
    mask: bytes
    margin: int
    grow: int


@dataclass
class ObjectResult:
    """One object of a several-part result: ``box`` (x, y, w, h) inside the crop, ``foreground`` BGRA8 and
    ``visibility`` A8 over it (transparent and 0 where another object's pixels are)."""

    box: tuple
    foreground: bytes
    visibility: bytes


@dataclass
class JobResult:
    """``box`` (x, y, w, h) inside the crop; ``foreground``/``background`` BGRA8 and ``visibility`` A8 over it.
    ``objects``: for a selection of separate parts split one layer per part, the object layers bottom to
    top (``foreground`` and ``visibility`` then hold all of them, for the checks made on the whole result)."""

    box: tuple
    foreground: bytes
    background: bytes
    visibility: bytes
    metadata: dict = field(default_factory=dict)
    objects: list = field(default_factory=list)


def with_objects(box: tuple, background: bytes, objects: list, metadata: Optional[dict] = None) -> JobResult:
    """The ``JobResult`` of a several-object answer: the objects' pixels gathered over ``box`` too. Objects
    never share a pixel, and each is zero outside its own, so gathering is a bitwise OR, row by row."""
    bx, by, bw, bh = box
    gathered = {4: bytearray(bw * bh * 4), 1: bytearray(bw * bh)}
    for obj in objects:
        ox, oy, ow, oh = obj.box
        for size, data in ((4, obj.foreground), (1, obj.visibility)):
            target = gathered[size]
            for row in range(oh):
                start = ((oy - by + row) * bw + ox - bx) * size
                end = start + ow * size
                piece = data[row * ow * size:(row + 1) * ow * size]
                merged = int.from_bytes(target[start:end], "little") | int.from_bytes(piece, "little")
                target[start:end] = merged.to_bytes(end - start, "little")
    return JobResult(tuple(box), bytes(gathered[4]), background, bytes(gathered[1]), dict(metadata or {}),
                     list(objects))


class _Unreachable(Exception):
    pass


def _connect(url: str) -> ClientConnection:
    try:
        # No compression: raw pixels on loopback. Until the server has proved it knows the token, read
        # no more than a handshake needs (raised per job to the size of its result frames).
        return connect(url, open_timeout=10, close_timeout=2, max_size=P.CLIENT_PRE_AUTH_MAX_BYTES,
                       compression=None, user_agent_header=CLIENT_NAME)
    except InvalidURI as exc:
        raise messages.bad_address(url, str(exc)) from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise messages.server_confused(f"the address answered HTTP {status} instead of a websocket") from None
    except InvalidHandshake as exc:
        raise messages.server_confused(f"the websocket handshake failed: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise _Unreachable(str(exc)) from None


def _token(settings: Settings) -> Optional[str]:
    """The token (None: no token file yet); a file the server's rules refuse is the artist's to fix."""
    try:
        return read_token(settings)
    except (TokenFileError, OSError) as exc:
        raise messages.bad_token(str(exc)) from None


def _starts_the_server(settings: Settings) -> bool:
    """Whether the plugin may start the server, and the token file it then waits for is the server's own."""
    return settings.auto_start and is_local(settings.server_url.strip()) and not settings.token_file.strip()


def connect_or_start(settings: Settings, cancel: threading.Event, report: Report,
                     server: LocalServer = LOCAL, startup_timeout: float = 120.0,
                     start_first: bool = False) -> ClientConnection:
    """A connection to the server; starts ``settings.server_command`` first when nothing answers at a
    local address and automatic start is on. ``start_first``: there is no token file yet, so whatever
    answers now cannot be told from an impostor: start the server (which makes the file) and connect only
    once the file is there (a program on the port then fails the handshake, or our server cannot start)."""
    url = settings.server_url.strip()
    token_file = settings.resolved_token_file()
    if not start_first:
        report("status", "Connecting to the server…")
        try:
            return _connect(url)
        except _Unreachable as exc:
            log.info("nothing answers at %s (%s)", url, exc)
            if not settings.auto_start:
                raise messages.unreachable(url) from None
            if not is_local(url):
                raise messages.unreachable(url, remote=True) from None
    report("status", STARTING_SERVER)
    command = settings.server_command
    try:
        server.start(serve_arguments(command, url, settings.backend))
    except (OSError, ValueError) as exc:
        raise messages.server_start_failed(command, str(exc)) from None
    deadline = time.monotonic() + startup_timeout
    while True:
        if cancel.is_set():
            raise messages.cancelled()
        code = server.exit_code()
        if code is not None:
            raise messages.server_start_failed(command, f"it stopped at once (exit code {code}): {server.log_tail()}")
        if not start_first or token_file.exists():
            try:
                return _connect(url)
            except _Unreachable:
                pass
        if time.monotonic() > deadline:
            raise messages.server_start_failed(
                command, f"it did not answer within {startup_timeout:.0f} seconds: {server.log_tail()}")
        cancel.wait(0.25)


def run_job(settings: Settings, request: JobRequest, cancel: threading.Event, report: Report,
            server: LocalServer = LOCAL) -> JobResult:
    """Decompose ``request`` on the configured server. Raises ``messages.UserError`` on any failure,
    including ``cancelled`` once ``cancel`` is set. Without a token nothing is sent (never an empty token)."""
    token = _token(settings)
    if token is None and not _starts_the_server(settings):
        raise messages.no_token(str(settings.resolved_token_file()), starts_by_itself=False)
    for attempt in range(HANDSHAKE_TRIES):
        ws = connect_or_start(settings, cancel, report, server, start_first=token is None and attempt == 0)
        conversation = _Conversation(ws, settings, cancel, report)
        try:
            with _closing_as_user_errors(ws, "connection lost during the handshake", close=False):
                token = token or _token(settings)
                if token is None:
                    raise messages.no_token(str(settings.resolved_token_file()), starts_by_itself=True)
                welcome = conversation._authenticate(token)
            break
        except messages.UserError as exc:
            ws.close()
            if exc.code not in ("busy", "server_lost") or attempt == HANDSHAKE_TRIES - 1:
                raise
            log.info("handshake refused (%s); trying again", exc.code)
        cancel.wait(HANDSHAKE_RETRY_S * 2**attempt)
    with _closing_as_user_errors(ws, "connection lost"):
        return conversation.run(request, welcome)


def asks_for_parts(settings: Settings, welcome: P.Welcome) -> bool:
    """One layer per separate part: the artist's setting, and only from a server that announced it (an older
    server refuses a decompose with a field it does not know)."""
    return settings.split_parts and P.FEATURE_PARTS in welcome.features


def check_connection(settings: Settings) -> P.Welcome:
    """Connect and prove the token both ways, nothing more (the settings dialog's Test connection): the
    server's welcome, or a ``messages.UserError``. Never starts a server."""
    url = settings.server_url.strip()
    token = _token(settings)
    if token is None:
        raise messages.no_token(str(settings.resolved_token_file()), _starts_the_server(settings))
    try:
        ws = _connect(url)
    except _Unreachable as exc:
        log.info("connection test: nothing answers at %s (%s)", url, exc)
        raise messages.nothing_answers(url, settings.auto_start and is_local(url)) from None
    with _closing_as_user_errors(ws, "connection test: connection lost"):
        return _Conversation(ws, settings, threading.Event(), lambda kind, payload: None)._authenticate(token)


@contextlib.contextmanager
def _closing_as_user_errors(ws: ClientConnection, lost: str, close: bool = True):
    """Close ``ws`` at the end (``close``); a dropped connection or a message that breaks the protocol
    becomes the ``messages.UserError`` an artist reads (the drop logged as ``lost``)."""
    try:
        yield
    except ConnectionClosed as exc:
        log.info("%s: %s", lost, exc)
        raise messages.server_lost() from None
    except P.ProtocolError as exc:
        if exc.code == P.ErrorCode.UNAUTHENTIC:
            log.warning("%s", exc.message)
            raise messages.for_server_error(exc.code, exc.message) from None
        raise messages.server_confused(exc.message) from None
    finally:
        if close:
            ws.close()


class _Conversation:
    def __init__(self, ws: ClientConnection, settings: Settings, cancel: threading.Event, report: Report) -> None:
        self.ws = ws
        self.settings = settings
        self.cancel = cancel
        self.report = report
        self.channel: Optional[P.Channel] = None  # the session's tags, once the server proved itself

    def _error(self, message: P.Error) -> messages.UserError:
        log.info("server error %s: %s", message.code, message.message)
        return messages.for_server_error(message.code, message.message, str(self.settings.resolved_token_file()))

    def _next(self, timeout: Optional[float] = None):
        """The next message or binary frame; None when nothing came within ``timeout``."""
        try:
            data = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        # After the handshake nothing is read, a result frame least of all, unless its tag checks out.
        if isinstance(data, str):
            return P.decode(self.channel.open_text(data) if self.channel is not None else data)
        return P.unpack_frame(self.channel.open_binary(data) if self.channel is not None else data)

    def _send(self, message: P.Message) -> None:
        self.ws.send(self.channel.seal_text(P.encode(message)))

    def run(self, request: JobRequest, welcome: P.Welcome) -> JobResult:
        self.report("announced", announced_by(welcome))  # for the settings to draw its options
        try:
            welcome.limits.check_size(request.width, request.height)
        except P.ProtocolError as exc:
            raise messages.for_server_error(exc.code, exc.message) from None

        parts = asks_for_parts(self.settings, welcome)
        # With parts and the automatic margin, each part's context is its own (a quarter of its size, as
        # the library does), not the whole selection's: the crop sent holds all of them either way.
        margin = None if parts and self.settings.margin < 0 else request.margin
        start = P.Decompose(job=next(_job_ids), width=request.width, height=request.height,
                            format=P.PixelFormat.BGRA8.name, backend=self.settings.backend.strip() or None,
                            margin=margin, grow=request.grow,
                            options=self.settings.backend_options(welcome.schema), parts=parts)
        job = P.ClientJob(start)
        log.info("job %d: %d x %d on %s (%s backend), margin %d", start.job, request.width, request.height,
                 self.settings.server_url, start.backend or welcome.backend, request.margin)
        self.report("status", "Sending the picture…")
        self.ws.protocol.max_size = max(P.MAX_TEXT_BYTES, job.result_max_bytes)
        self._send(start)
        for header, pixels in zip(job.upload_headers, (request.image, request.mask)):
            self.ws.send(self.channel.seal_binary(header.pack() + bytes(pixels)))
        self.report("status", WORKING)
        return self._receive(job)

    def _authenticate(self, token: str) -> P.Welcome:
        """Both sides prove they know the token; nothing depending on it leaves before the server's proof."""
        # The address the socket really reached, not the settings' name for it: both proofs cover it.
        peer = self.ws.socket.getpeername()
        handshake = P.ClientHandshake(token, client=CLIENT_NAME, address=P.endpoint(peer[0], peer[1]))
        try:
            self.ws.send(P.encode(handshake.hello))
            self.ws.send(P.encode(handshake.answer(self._expect_message())))
            self.channel = handshake.channel
            welcome = handshake.welcome(self._expect_message())
        except P.Refused as exc:
            raise self._error(P.Error(code=exc.code, message=exc.message)) from None
        except P.ProtocolError as exc:
            if exc.code == P.ErrorCode.SERVER_UNVERIFIED:
                log.warning("%s: %s", self.settings.server_url, exc.message)
                raise messages.for_server_error(exc.code, exc.message,
                                                str(self.settings.resolved_token_file())) from None
            raise
        self.ws.protocol.max_size = P.MAX_TEXT_BYTES
        return welcome

    def _expect_message(self) -> P.Message:
        item = self._next(timeout=30.0)
        if item is None:
            raise messages.server_confused("no answer to the handshake within 30 seconds")
        if isinstance(item, tuple):
            raise messages.server_confused("pixels during the handshake")
        return item

    def _receive(self, job: P.ClientJob) -> JobResult:
        while not job.done:
            if self.cancel.is_set():
                self._cancel(job)
                raise messages.cancelled()
            item = self._next(timeout=POLL_S)
            if item is None:
                continue
            update = job.receive(item)
            if update is not None:
                self.report("progress", (update.stage, update.fraction))
        if job.outcome == "cancelled":
            raise messages.cancelled()
        if job.outcome == "error":
            raise self._error(job.error)
        wanted = {"foreground": "BGRA8", "background": "BGRA8", "visibility": "A8"}
        if job.result.formats != wanted:
            raise messages.server_confused(f"result formats {job.result.formats}, expected {wanted}")
        if job.result.objects:
            return self._finish_objects(job.result, job.received)
        return self._finish(job.result, job.frames)

    def _finish_objects(self, result: P.Result, received: list) -> JobResult:
        """Frames: each object's foreground and visibility at its box (bottom to top), then the plate."""
        log.info("job %d: done, %d objects%s", result.job, len(result.objects),
                 f", seed {result.metadata['seed']}" if "seed" in result.metadata else "")
        objects = [ObjectResult((fg.x, fg.y, fg.width, fg.height), bytes(fg_pixels), bytes(vis_pixels))
                   for (fg, fg_pixels), (_vis, vis_pixels) in zip(received[0:-1:2], received[1:-1:2])]
        return with_objects(tuple(result.box), bytes(received[-1][1]), objects, result.metadata)

    def _finish(self, result: P.Result, got: dict) -> JobResult:
        if "seed" in result.metadata:  # what "random" drew, to make the same result again
            log.info("job %d: done with seed %s", result.job, result.metadata["seed"])
        return JobResult(
            box=tuple(result.box),
            foreground=bytes(got[P.Role.FOREGROUND]),
            background=bytes(got[P.Role.BACKGROUND]),
            visibility=bytes(got[P.Role.VISIBILITY]),
            metadata=dict(result.metadata),
        )

    def _cancel(self, job: P.ClientJob) -> None:
        """Tell the server to stop, and give it a moment to say so (so the next job finds it idle)."""
        try:
            message = job.cancel()
            if message is not None:
                self._send(message)
            deadline = time.monotonic() + CANCEL_GRACE_S
            while not job.done and time.monotonic() < deadline:
                item = self._next(timeout=POLL_S)
                if item is not None:
                    job.receive(item)
        except (ConnectionClosed, P.ProtocolError, OSError):
            pass
        log.info("job %d cancelled", job.request.job)
