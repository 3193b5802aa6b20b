"""The decomposition server: websocket connections in, jobs through one loaded backend, results out.

One asyncio loop owns every socket. Each connection's receive loop only parses and routes messages;
jobs wait in one bounded queue and run in worker threads (``jobs`` at once, one by default: one model
on one device), so a ``cancel`` is read the moment it arrives and reaches the job through its
``threading.Event``. All pixel work (byte-order conversion, cropping, framing: ``jobs``)
happens in the job's thread, never on the loop. ``background`` runs a server in a thread.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Optional, Union

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import layerdecomp
from layerdecomp import backends
from layerdecomp.config import read_or_create_token
from layerdecomp.errors import InvalidInput, LayerDecompError

from . import jobs
from .protocol import (
    DEFAULT_PORT,
    PROTOCOL_VERSION,
    Cancel,
    CloseCode,
    Decompose,
    Error,
    ErrorCode,
    FrameCollector,
    Hello,
    Limits,
    Progress,
    ProtocolError,
    Welcome,
    decode,
    encode,
    unpack_frame,
    upload_frames,
)
from .protocol import Cancelled as CancelledMessage

log = logging.getLogger("layerdecomp.server")

# A backend may report progress thousands of times; the client needs a few per second per stage.
PROGRESS_INTERVAL_S = 0.05


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port (see DecompositionServer.url)
    backend: str = "auto"
    # Options from the command line: the backend's load options (weights, device, ...) and defaults
    # for its per-job options. Clients may set per-job options only.
    options: dict[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    allowed_origins: tuple[str, ...] = ()
    token: Optional[str] = None  # None: the user's token file, created on first run
    jobs: int = 1  # jobs run at once


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)
class _Close:
    """Outbox item: close the connection once everything before it is sent."""

    code: int
    reason: str


@dataclass(eq=False)
class _Upload:
    """A job whose pixels are arriving. ``collector`` None: a refused or dropped job whose remaining
    ``left`` frames are swallowed quietly, so a client that sent everything at once gets one error."""

    message: Decompose
    deadline: float
    collector: Optional[FrameCollector]
    left: int


@dataclass(eq=False)
class _Job:
    connection: "_Connection"
    message: Decompose
    collector: FrameCollector
    cancel: threading.Event = field(default_factory=threading.Event)
    # queued -> running -> done; queued -> cancelled; running -> cancelling (acknowledged, thread still busy)
    state: str = "queued"


# What a connection's sender takes: a text or binary frame, a request to close, or None (stop).
Outgoing = Union[str, bytes, bytearray, _Close, None]


class _Connection:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.uploads: dict[int, _Upload] = {}
        self.jobs: dict[int, _Job] = {}
        self.peer = "%s:%s" % tuple(ws.remote_address[:2]) if ws.remote_address else "?"

    def send(self, item: Outgoing) -> None:
        self.outbox.put_nowait(item)

    def send_error(self, code: str, message: str, job: Optional[int] = None) -> None:
        self.send(encode(Error(code=code, message=message, job=job)))

    async def pump(self) -> None:
        """Send the outbox in order; one sender per connection keeps frames of a result together."""
        try:
            while True:
                item = await self.outbox.get()
                if item is None:
                    return
                if isinstance(item, _Close):
                    await self.ws.close(item.code, item.reason)
                    return
                await self.ws.send(item)
        except ConnectionClosed:
            pass


class DecompositionServer:
    """``await server.serve(stop)`` serves until ``stop`` is set; the backend is loaded in ``__init__``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.token = config.token if config.token is not None else read_or_create_token()
        t0 = time.perf_counter()
        # Every job runs on this loaded backend; nothing resolves or looks for the model on disk again.
        self.decomposer = layerdecomp.Decomposer(config.backend, **config.options).load()
        self.backend_class, self.engine = self.decomposer.backend_class, self.decomposer.engine
        self.load_options, self.default_options = self.decomposer.load_options, self.decomposer.default_options
        log.info("loaded the %s backend in %.1f s", self.backend_class.name, time.perf_counter() - t0)
        # What the backend runs on, for the welcome message: its own word if it has one, else the option.
        self.device = str(getattr(self.engine, "device", None) or self.load_options.get("device") or "cpu")
        self.url: Optional[str] = None
        self.connections: set[_Connection] = set()
        self.open_jobs = 0  # uploading + queued + running, all connections: bounded by max_queue
        self.running = 0
        self.closing = False
        self._queue: Optional[asyncio.Queue[_Job]] = None
        self._executor = ThreadPoolExecutor(max(1, config.jobs), thread_name_prefix="layerdecomp-job")

    # ------------------------------------------------------------------------------------ lifecycle

    async def serve(self, stop: asyncio.Event, ready: Optional[Callable[[str], None]] = None) -> None:
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        workers = [loop.create_task(self._worker()) for _ in range(max(1, self.config.jobs))]
        if not is_loopback(self.config.host):
            log.warning(
                "\n%s\nWARNING: listening on %s, not on loopback: anyone who can reach this address and knows the "
                "token can use this machine's %s, and pictures and the token travel unencrypted.\n"
                "Use --host 127.0.0.1 unless you know why you need this.\n%s",
                "!" * 78, self.config.host, self.device, "!" * 78,
            )
        async with serve(
            self._handle,
            self.config.host,
            self.config.port,
            origins=[None, *self.config.allowed_origins],  # None: native clients send no Origin
            process_request=self._admit,
            compression=None,  # raw pixels: deflate costs more than loopback saves
            max_size=self.limits.max_message_bytes,
            max_queue=8,
            server_header=None,
            close_timeout=5,
        ) as ws_server:
            host, port = ws_server.sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            self.url = f"ws://{shown}:{port}"
            log.info("serving the %s backend on %s (%s)", self.backend_class.name, self.url, self.device)
            if ready is not None:
                ready(self.url)
            await stop.wait()
            await self._shutdown()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        # Running jobs were told to cancel; wait for their threads to reach a checkpoint.
        await asyncio.to_thread(self._executor.shutdown, True)
        log.info("server stopped")

    async def _shutdown(self) -> None:
        self.closing = True
        for connection in list(self.connections):
            self._drop_jobs(connection)
            connection.send_error(ErrorCode.SHUTTING_DOWN, "the server is shutting down; jobs in flight were cancelled")
            connection.send(_Close(CloseCode.GOING_AWAY, "server shutting down"))

    def stats(self) -> dict[str, int]:
        """For tests and logs: what is open right now."""
        return {
            "connections": len(self.connections),
            "open_jobs": self.open_jobs,
            "queued": self._queue.qsize() if self._queue is not None else 0,
            "running": self.running,
            "uploads": sum(len(c.uploads) for c in self.connections),
        }

    # ---------------------------------------------------------------------------------- connections

    def _admit(self, ws: ServerConnection, request: Any) -> Any:
        if self.closing:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "The layerdecomp server is shutting down.\n")
        if len(self.connections) >= self.limits.max_connections:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                              f"The layerdecomp server has its maximum of {self.limits.max_connections} "
                              "connections open; close one and try again.\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        connection = _Connection(ws)
        self.connections.add(connection)
        pump: Optional[asyncio.Task[None]] = None
        try:
            if not await self._handshake(connection):
                return
            pump = asyncio.create_task(connection.pump())
            await self._receive(connection, pump)
        except ConnectionClosed:
            pass
        finally:
            self._drop_jobs(connection)
            self.connections.discard(connection)
            if pump is not None and not pump.done():
                connection.send(None)
                try:
                    await asyncio.wait_for(pump, 5)
                except (asyncio.TimeoutError, ConnectionClosed):
                    pump.cancel()

    async def _refuse(self, ws: ServerConnection, code: str, message: str, close_code: int) -> bool:
        log.info("refused %s: %s", ws.remote_address, message)
        await ws.send(encode(Error(code=code, message=message)))
        await ws.close(close_code, code)
        return False

    async def _handshake(self, connection: _Connection) -> bool:
        ws = connection.ws
        try:
            first = await asyncio.wait_for(ws.recv(), self.limits.hello_timeout_s)
        except asyncio.TimeoutError:
            return await self._refuse(ws, ErrorCode.BAD_MESSAGE,
                                      f"no hello within {self.limits.hello_timeout_s:g} s", CloseCode.POLICY_VIOLATION)
        if not isinstance(first, str):
            return await self._refuse(ws, ErrorCode.BAD_MESSAGE, "the first message must be a hello text frame",
                                      CloseCode.PROTOCOL_ERROR)
        try:
            hello = decode(first)
        except ProtocolError as exc:
            return await self._refuse(ws, exc.code, exc.message, CloseCode.PROTOCOL_ERROR)
        if not isinstance(hello, Hello):
            return await self._refuse(ws, ErrorCode.BAD_MESSAGE,
                                      f"the first message must be hello, not {hello.TYPE}", CloseCode.PROTOCOL_ERROR)
        if hello.protocol != PROTOCOL_VERSION:
            return await self._refuse(
                ws, ErrorCode.UNSUPPORTED_VERSION,
                f"this server speaks protocol {PROTOCOL_VERSION}, the client {hello.protocol}: "
                "install matching versions of the plugin and the server",
                CloseCode.PROTOCOL_ERROR,
            )
        if not hmac.compare_digest(hello.token.encode(), self.token.encode()):
            return await self._refuse(
                ws, ErrorCode.UNAUTHORIZED,
                "wrong or missing token: copy the contents of the server's token file "
                "(layerdecomp serve prints where it is) into the client's settings",
                CloseCode.POLICY_VIOLATION,
            )
        log.info("client %r connected from %s", hello.client, connection.peer)
        await ws.send(encode(Welcome(
            server=f"layerdecomp {layerdecomp.__version__}",
            backend=self.backend_class.name,
            backends=[self.backend_class.name],
            device=self.device,
            options=sorted(self.backend_class.run_options),
            limits=self.limits,
        )))
        return True

    def _receive_timeout(self, connection: _Connection) -> Optional[float]:
        if connection.uploads:
            soonest = min(upload.deadline for upload in connection.uploads.values())
            return max(0.0, soonest - time.monotonic())
        if connection.jobs:
            return None  # waiting for its own result is not idling
        return self.limits.idle_timeout_s

    async def _receive(self, connection: _Connection, pump: asyncio.Task[None]) -> None:
        while not pump.done():
            timeout = self._receive_timeout(connection)
            try:
                data = await asyncio.wait_for(connection.ws.recv(), timeout)
            except asyncio.TimeoutError:
                if connection.uploads:
                    self._expire_uploads(connection)
                    continue
                connection.send_error(ErrorCode.TIMEOUT,
                                      f"closing a connection idle for {self.limits.idle_timeout_s:g} s")
                connection.send(_Close(CloseCode.POLICY_VIOLATION, "idle"))
                await pump
                return
            try:
                if isinstance(data, str):
                    self._on_text(connection, data)
                else:
                    self._on_frame(connection, data)
            except ProtocolError as exc:
                connection.send_error(exc.code, exc.message, exc.job)

    def _expire_uploads(self, connection: _Connection) -> None:
        now = time.monotonic()
        for job_id, upload in list(connection.uploads.items()):
            if upload.deadline <= now:
                if upload.collector is not None:
                    connection.send_error(ErrorCode.TIMEOUT,
                                          f"job {job_id}: its pixel frames did not all arrive within "
                                          f"{self.limits.upload_timeout_s:g} s", job_id)
                self._end_upload(connection, job_id)

    # ------------------------------------------------------------------------------------- messages

    def _on_text(self, connection: _Connection, text: str) -> None:
        message = decode(text)
        if isinstance(message, Decompose):
            self._on_decompose(connection, message)
        elif isinstance(message, Cancel):
            self._on_cancel(connection, message.job)
        elif isinstance(message, Hello):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "hello was already said on this connection")
        else:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a client does not send {message.TYPE} messages")

    def _on_decompose(self, connection: _Connection, message: Decompose) -> None:
        job = message.job
        if job in connection.uploads or job in connection.jobs:
            raise ProtocolError(ErrorCode.DUPLICATE_JOB, f"job {job} is already open on this connection; "
                                "use a new job id", job)
        deadline = time.monotonic() + self.limits.upload_timeout_s
        expected = upload_frames(message)
        try:
            if self.closing:
                raise ProtocolError(ErrorCode.SHUTTING_DOWN, "the server is shutting down", job)
            self.limits.check_size(message.width, message.height, job)
            self._check_job_options(message)
            if self.open_jobs >= self.limits.max_queue:
                raise ProtocolError(ErrorCode.BUSY, f"the server has {self.limits.max_queue} jobs open, its "
                                    "maximum; try again when one finishes", job)
        except (ProtocolError, LayerDecompError) as exc:
            # Swallow the job's frames that are surely on their way, so the client hears one error.
            connection.uploads[job] = _Upload(message, deadline, None, len(expected))
            connection.send_error(exc.code, str(exc), job)
            return
        connection.uploads[job] = _Upload(message, deadline, FrameCollector(expected), len(expected))
        self.open_jobs += 1

    def _check_job_options(self, message: Decompose) -> None:
        cls = self.backend_class
        if message.backend not in (None, "auto", cls.name):
            raise layerdecomp.BackendUnavailable(
                f"this server runs the {cls.name} backend, not {message.backend}; "
                f"start it with layerdecomp serve --backend {message.backend}")
        load_only = sorted(set(message.options) & cls.load_options)
        if load_only:
            raise InvalidInput(f"{', '.join(load_only)} can only be set when the server starts "
                               f"(layerdecomp serve -O {load_only[0]}=...), not per job")
        backends.split_options(cls, message.options)  # unknown options: a clear InvalidInput

    def _on_cancel(self, connection: _Connection, job_id: int) -> None:
        upload = connection.uploads.get(job_id)
        if upload is not None and upload.collector is not None:
            self._end_upload(connection, job_id, swallow=upload.left)
            connection.send(encode(CancelledMessage(job=job_id)))
            return
        job = connection.jobs.get(job_id)
        if job is None:
            raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"job {job_id} is not open (finished, cancelled or never "
                                "started)", job_id)
        job.cancel.set()
        if job.state == "queued":
            # Not started: the worker will skip it.
            job.state = "cancelled"
            self._finish(job)
        elif job.state == "running":
            # The backend stops at its next checkpoint (between stages; every step for diffusion), which
            # may be a while: acknowledge now, and let the worker drop whatever the thread returns.
            job.state = "cancelling"
        else:
            return  # already acknowledged
        connection.send(encode(CancelledMessage(job=job_id)))

    def _on_frame(self, connection: _Connection, data: bytes) -> None:
        try:
            header, payload = unpack_frame(data)
        except ProtocolError as exc:
            upload = connection.uploads.get(exc.job) if exc.job is not None else None
            if upload is None:
                raise
            if upload.collector is None:
                self._swallow(connection, exc.job)
            else:
                self._fail_upload(connection, exc.job, exc)
            return
        upload = connection.uploads.get(header.job)
        if upload is None:
            open_job = " (its frames are all in already)" if header.job in connection.jobs else ""
            raise ProtocolError(ErrorCode.BAD_FRAME, f"a {header.role.label} frame for job {header.job}, which has "
                                f"no upload open{open_job}; send decompose first. The frame was ignored")
        if upload.collector is None:
            self._swallow(connection, header.job)
            return
        try:
            complete = upload.collector.add(header, payload)
        except ProtocolError as exc:
            self._fail_upload(connection, header.job, exc)
            return
        upload.left -= 1
        if complete:
            del connection.uploads[header.job]
            job = _Job(connection, upload.message, upload.collector)
            connection.jobs[header.job] = job
            assert self._queue is not None
            self._queue.put_nowait(job)

    def _swallow(self, connection: _Connection, job_id: int) -> None:
        upload = connection.uploads[job_id]
        upload.left -= 1
        if upload.left <= 0:
            del connection.uploads[job_id]

    def _fail_upload(self, connection: _Connection, job_id: int, exc: ProtocolError) -> None:
        # The offending frame was one of the job's; the rest are dropped as they come.
        self._end_upload(connection, job_id, swallow=connection.uploads[job_id].left - 1)
        connection.send_error(exc.code, f"{exc.message}; job {job_id} was dropped", job_id)

    def _end_upload(self, connection: _Connection, job_id: int, swallow: int = 0) -> None:
        """Close an upload; its next ``swallow`` frames (already on their way) are then dropped quietly."""
        upload = connection.uploads.pop(job_id)
        if upload.collector is not None:
            self.open_jobs -= 1
        if swallow > 0:
            connection.uploads[job_id] = _Upload(upload.message, upload.deadline, None, swallow)

    def _drop_jobs(self, connection: _Connection) -> None:
        """The connection is going: cancel all it started."""
        for job_id in list(connection.uploads):
            self._end_upload(connection, job_id)
        for job in list(connection.jobs.values()):
            job.cancel.set()
            if job.state == "queued":
                job.state = "cancelled"
                self._finish(job)

    def _finish(self, job: _Job) -> None:
        if job.connection.jobs.get(job.message.job) is job:
            del job.connection.jobs[job.message.job]
            self.open_jobs -= 1

    # ----------------------------------------------------------------------------------------- jobs

    async def _worker(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            try:
                if job.state != "queued":
                    continue
                job.state = "running"
                self.running += 1
                try:
                    outgoing = await loop.run_in_executor(self._executor, self._run, job, loop)
                finally:
                    self.running -= 1
                acknowledged = job.state == "cancelling"
                job.state = "done"
                self._finish(job)
                if not acknowledged:
                    for item in outgoing:
                        job.connection.send(item)
            finally:
                self._queue.task_done()

    def _run(self, job: _Job, loop: asyncio.AbstractEventLoop) -> list[Outgoing]:
        return jobs.run(
            job.message,
            job.collector.frames,
            decomposer=self.decomposer,
            progress=self._progress_sender(job, loop),
            cancel=job.cancel,
        )

    def _progress_sender(self, job: _Job, loop: asyncio.AbstractEventLoop) -> Callable[[str, float], None]:
        last = {"stage": None, "time": 0.0}
        connection = job.connection

        def progress(stage: str, fraction: float) -> None:
            now = time.monotonic()
            if stage == last["stage"] and 0.0 < fraction < 1.0 and now - last["time"] < PROGRESS_INTERVAL_S:
                return
            last["stage"], last["time"] = stage, now
            text = encode(Progress(job=job.message.job, stage=stage, fraction=float(fraction)))
            loop.call_soon_threadsafe(forward, text)

        def forward(text: str) -> None:  # on the loop: nothing more about a job once it was cancelled
            if job.state == "running":
                connection.send(text)

        return progress


async def serve_until_signalled(config: ServerConfig, ready: Optional[Callable[[str], None]] = None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (jobs cancelled, clients told why)."""
    import signal

    server = DecompositionServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, AttributeError, ValueError):  # Windows' loops lack signal handlers
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
    await server.serve(stop, ready)

