"""The server's side of the conversation, without sockets, threads or clocks: events in, actions out.

``Hub`` holds what all connections share (the token, the limits, the slots and the job budget);
``Session`` is one connection. The asyncio front end (``app.py``) feeds a session what arrives
(``receive_text``, ``receive_bytes``), the passing of time (``expire``, with ``deadline`` saying when)
and the end of jobs (``finish``), and carries out the actions that come back:

    Send(data)          send this text or binary frame (in order; the front end keeps one outbox)
    Close(code, reason) send everything before it, then close
    Authenticated()     the peer proved itself: lift the message size cap to ``limits.max_message_bytes``
    Enqueue(job)        run this job (a worker later calls ``hub.start(job)`` and ``session.finish``)

A job's thread learns of a cancel through ``job.cancel`` (a ``threading.Event``), set here.

Everything a client can get wrong ends in an ``error`` message (or a close) decided here, so the
rules can be tested without a network (tests/server/test_session.py).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from layerdecomp.options import check_geometry

from .protocol import (
    MAX_TEXT_BYTES,
    PRE_AUTH_MAX_BYTES,
    Auth,
    Cancel as CancelMessage,
    Cancelled,
    Challenge,
    CloseCode,
    Decompose,
    Error,
    ErrorCode,
    FrameCollector,
    Hello,
    Limits,
    PixelFormat,
    ProtocolError,
    Welcome,
    decode,
    encode,
    new_nonce,
    proof,
    proof_matches,
    unpack_frame,
    upload_frames,
)

# ------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Send:
    data: Union[str, bytes, bytearray]


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, eq=False)
class Authenticated:
    """``displaced``: a connection the hub closes to make room (carry out its ``close_evicted()``)."""

    displaced: Optional["Session"] = None


@dataclass(frozen=True, eq=False)
class Enqueue:
    job: "Job"


Action = Union[Send, Close, Authenticated, Enqueue]


# ---------------------------------------------------------------------------------------------- jobs


@dataclass(eq=False)
class Job:
    session: "Session"
    message: Decompose
    collector: FrameCollector
    upload_bytes: int
    cancel: threading.Event = field(default_factory=threading.Event)
    # queued -> running -> done; queued -> cancelled; running -> cancelling (acknowledged, thread still busy)
    state: str = "queued"


@dataclass(eq=False)
class _Upload:
    """A job whose pixels are arriving. ``collector`` None: a refused or dropped job whose remaining
    ``left`` frames are swallowed quietly, so a client that sent everything at once gets one error."""

    message: Decompose
    deadline: float
    collector: Optional[FrameCollector]
    left: int
    upload_bytes: int = 0


def upload_bytes(message: Decompose) -> int:
    """What a job's pixels take while they wait: the image and the mask."""
    return message.width * message.height * (PixelFormat[message.format].channels + 1)


# ----------------------------------------------------------------------------------------------- hub


class Hub:
    """What every connection shares: token, limits, welcome, connection slots, the job budget.

    ``token``: the token, or a function that returns the one in force (``layerdecomp.config.TokenWatcher``:
    a changed token file counts for connections that say hello after the change).
    ``check_job(message)`` raises ``ProtocolError`` or a ``LayerDecompError`` (anything with ``code``)
    for a job this server will not run (the backend's option rules live with the backend:
    ``server.rules``). ``welcome`` is what an authenticated client hears.
    """

    def __init__(self, token: Union[str, Callable[[], str]], limits: Limits, welcome: Welcome,
                 check_job: Callable[[Decompose], None] = lambda message: None) -> None:
        self.token = token if callable(token) else (lambda: token)
        self.limits = limits
        self.welcome = welcome
        self.check_job = check_job
        self.closing = False
        self.pending: dict[Session, None] = {}  # not authenticated yet, oldest first
        self.authenticated: set[Session] = set()
        self.open_jobs = 0  # uploading + queued + running, all connections: bounded by max_queue
        self.open_bytes = 0  # the pixels those jobs hold: bounded by max_upload_bytes
        self.running = 0
        self._order = itertools.count()

    def connect(self, now: float) -> tuple["Session", list["Session"]]:
        """A new connection, and the connections to close to make room for it: when the budget for
        connections that have not authenticated is spent, the oldest of them goes (so hello-less
        sockets can delay a real client by one round trip at most, never lock it out)."""
        session = Session(self, now)
        evicted = []
        while len(self.pending) >= self.limits.max_pending:
            oldest = next(iter(self.pending))
            del self.pending[oldest]
            oldest.evicted = "too many connections are waiting to authenticate"
            evicted.append(oldest)
        self.pending[session] = None
        return session, evicted

    def _make_room(self, newcomer: "Session") -> Optional["Session"]:
        """An authenticated connection to close so ``newcomer`` fits: the one idle longest (no open
        job). None when there is room, ``newcomer`` itself when every slot is busy with jobs."""
        if len(self.authenticated) < self.limits.max_connections:
            return None
        idle = [s for s in self.authenticated if not s.uploads and not s.jobs]
        if not idle:
            return newcomer
        oldest = min(idle, key=lambda s: s.last_heard)
        oldest.evicted = "another client needed this connection's place (it was the longest idle)"
        return oldest

    def stats(self) -> dict[str, int]:
        sessions = [*self.pending, *self.authenticated]
        return {
            "connections": len(sessions),
            "pending": len(self.pending),
            "open_jobs": self.open_jobs,
            "queued": sum(1 for s in sessions for job in s.jobs.values() if job.state == "queued"),
            "running": self.running,
            "uploads": sum(1 for s in sessions for u in s.uploads.values() if u.collector is not None),
        }

    def start(self, job: Job) -> bool:
        """A worker takes ``job``: False when it was cancelled while it waited (skip it)."""
        if job.state != "queued":
            return False
        job.state = "running"
        self.running += 1
        return True

    def shutdown(self) -> dict["Session", list[Action]]:
        self.closing = True
        return {session: session.close_for_shutdown() for session in [*self.pending, *self.authenticated]}


# ------------------------------------------------------------------------------------------- session


class Session:
    """One connection: ``state`` is "hello" (waiting for hello), "auth" (challenge sent, waiting for
    auth), "open" (authenticated) or "closed"."""

    def __init__(self, hub: Hub, now: float) -> None:
        self.hub = hub
        self.limits = hub.limits
        self.state = "hello"
        self.client = ""
        self.opened = now
        self.last_heard = now  # the last message, or the end of the last job
        self.uploads: dict[int, _Upload] = {}
        self.jobs: dict[int, Job] = {}
        self.evicted: Optional[str] = None  # why the hub chose to close this connection
        self._client_nonce = ""
        self._server_nonce = ""
        self._token = ""  # the token in force when this connection said hello

    # ---------------------------------------------------------------------------------------- time

    @property
    def deadline(self) -> Optional[float]:
        """When ``expire`` must be called if nothing arrives before."""
        if self.state in ("hello", "auth"):
            return self.opened + self.limits.hello_timeout_s
        if self.state != "open":
            return None
        if self.uploads:
            return min(upload.deadline for upload in self.uploads.values())
        if self.jobs:
            return None  # waiting for its own result is not idling
        return self.last_heard + self.limits.idle_timeout_s

    def expire(self, now: float) -> list[Action]:
        if self.state in ("hello", "auth"):
            if now < self.opened + self.limits.hello_timeout_s:
                return []
            return self._refuse(ErrorCode.TIMEOUT, f"no authentication within {self.limits.hello_timeout_s:g} s",
                                CloseCode.POLICY_VIOLATION)
        if self.state != "open":
            return []
        actions: list[Action] = []
        for job_id, upload in list(self.uploads.items()):
            if upload.deadline <= now:
                if upload.collector is not None:
                    actions.append(self._error(ErrorCode.TIMEOUT, f"job {job_id}: its pixel frames did not all "
                                               f"arrive within {self.limits.upload_timeout_s:g} s", job_id))
                self._end_upload(job_id)
        if not self.uploads and not self.jobs and now >= self.last_heard + self.limits.idle_timeout_s:
            actions += self._refuse(ErrorCode.TIMEOUT, f"closing a connection idle for "
                                    f"{self.limits.idle_timeout_s:g} s", CloseCode.POLICY_VIOLATION)
        return actions

    # ------------------------------------------------------------------------------------ receiving

    def receive_text(self, text: str, now: float) -> list[Action]:
        """A text frame."""
        if self.state == "closed":
            return []
        self.last_heard = now
        if self.state != "open":
            return self._handshake(text, now)
        if len(text) > MAX_TEXT_BYTES:
            return [self._error(ErrorCode.TOO_LARGE, f"a text message of {len(text)} bytes; messages are at most "
                                f"{MAX_TEXT_BYTES} bytes (pixels travel in binary frames)")]
        try:
            message = decode(text)
            if isinstance(message, Decompose):
                return self._on_decompose(message, now)
            if isinstance(message, CancelMessage):
                return self._on_cancel(message.job)
            if isinstance(message, (Hello, Auth)):
                raise ProtocolError(ErrorCode.BAD_MESSAGE, "the handshake is over on this connection")
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a client does not send {message.TYPE} messages")
        except ProtocolError as exc:
            return [self._error(exc.code, exc.message, exc.job)]

    def receive_bytes(self, data: Union[bytes, bytearray, memoryview], now: float) -> list[Action]:
        """A binary frame."""
        if self.state == "closed":
            return []
        self.last_heard = now
        if self.state != "open":
            return self._refuse(ErrorCode.BAD_MESSAGE, "the first messages must be hello and auth text frames",
                                CloseCode.PROTOCOL_ERROR)
        try:
            return self._on_frame(data)
        except ProtocolError as exc:
            return [self._error(exc.code, exc.message, exc.job)]

    # ------------------------------------------------------------------------------------ handshake

    def _handshake(self, text: str, now: float) -> list[Action]:
        if len(text) > PRE_AUTH_MAX_BYTES:  # the front end's size cap normally stops these first
            return self._refuse(ErrorCode.TOO_LARGE, f"messages before authentication are at most "
                                f"{PRE_AUTH_MAX_BYTES} bytes", CloseCode.TOO_BIG)
        try:
            message = decode(text)
        except ProtocolError as exc:
            return self._refuse(exc.code, exc.message, CloseCode.PROTOCOL_ERROR)
        if self.state == "hello":
            if not isinstance(message, Hello):
                return self._refuse(ErrorCode.BAD_MESSAGE, f"the first message must be hello, not {message.TYPE}",
                                    CloseCode.PROTOCOL_ERROR)
            self.client = message.client[:64]
            self._client_nonce, self._server_nonce = message.nonce, new_nonce()
            self.state = "auth"
            self._token = self.hub.token()
            server_proof = proof(self._token, "server", self._client_nonce, self._server_nonce)
            return [Send(encode(Challenge(nonce=self._server_nonce, proof=server_proof)))]
        if not isinstance(message, Auth):
            return self._refuse(ErrorCode.BAD_MESSAGE, f"after challenge the client sends auth, not {message.TYPE}",
                                CloseCode.PROTOCOL_ERROR)
        if not proof_matches(self._token, "client", self._client_nonce, self._server_nonce, message.proof):
            return self._refuse(ErrorCode.UNAUTHORIZED,
                                "wrong token: copy the contents of the server's token file (layerdecomp serve "
                                "prints where it is) into the client's settings", CloseCode.POLICY_VIOLATION)
        if self.hub.closing:
            return self._refuse(ErrorCode.SHUTTING_DOWN, "the server is shutting down", CloseCode.GOING_AWAY)
        victim = self.hub._make_room(self)
        if victim is self:
            return self._refuse(ErrorCode.BUSY, f"the server has {self.limits.max_connections} connections, "
                                "all with jobs open; try again when one finishes", CloseCode.TRY_AGAIN_LATER)
        self.hub.pending.pop(self, None)
        self.hub.authenticated.add(self)
        self.state = "open"
        self.last_heard = now
        if victim is not None:
            self.hub.authenticated.discard(victim)
        return [Authenticated(victim), Send(encode(self.hub.welcome))]

    # ------------------------------------------------------------------------------------- messages

    def _on_decompose(self, message: Decompose, now: float) -> list[Action]:
        job = message.job
        if job in self.uploads or job in self.jobs:
            raise ProtocolError(ErrorCode.DUPLICATE_JOB, f"job {job} is already open on this connection; "
                                "use a new job id", job)
        hub, limits = self.hub, self.limits
        deadline = now + limits.upload_timeout_s
        expected = upload_frames(message)
        size = upload_bytes(message)
        try:
            if hub.closing:
                raise ProtocolError(ErrorCode.SHUTTING_DOWN, "the server is shutting down", job)
            limits.check_size(message.width, message.height, job)
            check_geometry(message.margin, message.grow, (message.width, message.height))  # the core's rule
            hub.check_job(message)
            mine = sum(1 for u in self.uploads.values() if u.collector is not None) + len(self.jobs)
            if mine >= limits.max_jobs_per_connection:
                raise ProtocolError(ErrorCode.BUSY, f"this connection has {mine} jobs open, the most one "
                                    "connection may have; wait for one to finish", job)
            if hub.open_jobs >= limits.max_queue:
                raise ProtocolError(ErrorCode.BUSY, f"the server has {limits.max_queue} jobs open, its "
                                    "maximum; try again when one finishes", job)
            if hub.open_bytes + size > limits.max_upload_bytes:
                raise ProtocolError(ErrorCode.BUSY, "the server holds as many uploaded pixels as it may; "
                                    "try again when a job finishes", job)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if not isinstance(code, str):
                raise
            # Swallow the job's frames that are surely on their way, so the client hears one error.
            self.uploads[job] = _Upload(message, deadline, None, len(expected))
            return [self._error(code, getattr(exc, "message", None) or str(exc), job)]
        self.uploads[job] = _Upload(message, deadline, FrameCollector(expected), len(expected), size)
        hub.open_jobs += 1
        hub.open_bytes += size
        return []

    def _on_cancel(self, job_id: int) -> list[Action]:
        upload = self.uploads.get(job_id)
        if upload is not None and upload.collector is not None:
            self._end_upload(job_id, swallow=upload.left)
            return [Send(encode(Cancelled(job=job_id)))]
        job = self.jobs.get(job_id)
        if job is None:
            raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"job {job_id} is not open (finished, cancelled or never "
                                "started)", job_id)
        job.cancel.set()
        if job.state == "queued":
            job.state = "cancelled"  # not started: the worker will skip it
            self._release(job)
        elif job.state == "running":
            # The backend stops at its next checkpoint, which may be a while: acknowledge now, and drop
            # whatever the thread returns.
            job.state = "cancelling"
        else:
            return []  # already acknowledged
        return [Send(encode(Cancelled(job=job_id)))]

    def _on_frame(self, data: Union[bytes, bytearray, memoryview]) -> list[Action]:
        try:
            header, payload = unpack_frame(data)
        except ProtocolError as exc:
            upload = self.uploads.get(exc.job) if exc.job is not None else None
            if upload is None:
                raise
            if upload.collector is None:
                self._swallow(exc.job)
                return []
            return self._fail_upload(exc.job, exc)
        upload = self.uploads.get(header.job)
        if upload is None:
            open_job = " (its frames are all in already)" if header.job in self.jobs else ""
            raise ProtocolError(ErrorCode.BAD_FRAME, f"a {header.role.label} frame for job {header.job}, which has "
                                f"no upload open{open_job}; send decompose first. The frame was ignored")
        if upload.collector is None:
            self._swallow(header.job)
            return []
        try:
            complete = upload.collector.add(header, payload)
        except ProtocolError as exc:
            return self._fail_upload(header.job, exc)
        upload.left -= 1
        if not complete:
            return []
        del self.uploads[header.job]
        job = Job(self, upload.message, upload.collector, upload.upload_bytes)
        self.jobs[header.job] = job
        return [Enqueue(job)]

    def _swallow(self, job_id: int) -> None:
        upload = self.uploads[job_id]
        upload.left -= 1
        if upload.left <= 0:
            del self.uploads[job_id]

    def _fail_upload(self, job_id: int, exc: ProtocolError) -> list[Action]:
        # The offending frame was one of the job's; the rest are dropped as they come.
        self._end_upload(job_id, swallow=self.uploads[job_id].left - 1)
        return [self._error(exc.code, f"{exc.message}; job {job_id} was dropped", job_id)]

    def _end_upload(self, job_id: int, swallow: int = 0) -> None:
        """Close an upload; its next ``swallow`` frames (already on their way) are then dropped quietly."""
        upload = self.uploads.pop(job_id)
        if upload.collector is not None:
            self.hub.open_jobs -= 1
            self.hub.open_bytes -= upload.upload_bytes
        if swallow > 0:
            self.uploads[job_id] = _Upload(upload.message, upload.deadline, None, swallow)

    def _release(self, job: Job) -> None:
        if self.jobs.get(job.message.job) is job:
            del self.jobs[job.message.job]
            self.hub.open_jobs -= 1
            self.hub.open_bytes -= job.upload_bytes

    # ----------------------------------------------------------------------------------------- jobs

    def finish(self, job: Job, outgoing: list[Union[str, bytes, bytearray]], now: float) -> list[Action]:
        """The job's thread returned ``outgoing`` (its answer): send it unless the job was cancelled.
        (A connection is idle from the end of its last job, not from its last message.)"""
        self.last_heard = max(self.last_heard, now)
        if job.state == "running" or job.state == "cancelling":
            self.hub.running -= 1
        acknowledged = job.state == "cancelling"
        job.state = "done"
        self._release(job)
        if acknowledged or self.state == "closed":
            return []
        return [Send(item) for item in outgoing]

    def progress_allowed(self, job: Job) -> bool:
        """Nothing more about a job once it was cancelled."""
        return job.state == "running" and self.state == "open"

    # -------------------------------------------------------------------------------------- closing

    def connection_lost(self) -> list[Action]:
        """The connection is gone (or going): cancel all it started and give its place back."""
        for job_id in list(self.uploads):
            self._end_upload(job_id)
        self.uploads.clear()
        for job in list(self.jobs.values()):
            job.cancel.set()
            if job.state == "queued":
                job.state = "cancelled"
                self._release(job)
        self.state = "closed"
        self.hub.pending.pop(self, None)
        self.hub.authenticated.discard(self)
        return []

    def close_for_shutdown(self) -> list[Action]:
        actions = self.connection_lost()
        return actions + [self._error(ErrorCode.SHUTTING_DOWN, "the server is shutting down; jobs in flight "
                                      "were cancelled"), Close(CloseCode.GOING_AWAY, "server shutting down")]

    def close_evicted(self) -> list[Action]:
        reason = self.evicted or "evicted"
        actions = self.connection_lost()
        return actions + [self._error(ErrorCode.BUSY, reason), Close(CloseCode.TRY_AGAIN_LATER, "make room")]

    # -------------------------------------------------------------------------------------- helpers

    def _error(self, code: str, message: str, job: Optional[int] = None) -> Send:
        return Send(encode(Error(code=code, message=message, job=job)))

    def _refuse(self, code: str, message: str, close_code: int) -> list[Action]:
        actions = self.connection_lost()
        return actions + [self._error(code, message), Close(close_code, code)]

