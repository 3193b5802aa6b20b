"""The decomposition server's asyncio front end: websocket connections in, jobs through one loaded
backend, results out.

Every decision about what a client said (handshake, limits, jobs, cancels, timeouts) is made by the
socket-free ``server.session``; this module carries its actions out. One asyncio loop owns every socket;
jobs wait in one bounded queue and run in worker threads (``jobs`` at once, one by default: one model
on one device), so a ``cancel`` is read the moment it arrives and reaches the job through its
``threading.Event``. All pixel work (byte-order conversion, cropping, framing: ``jobs``)
happens in the job's thread, never on the loop. ``background`` runs a server in a thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Optional, Union

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import layerdecomp
from layerdecomp.config import TokenWatcher

from . import jobs
from .protocol import DEFAULT_PORT, PRE_AUTH_MAX_BYTES, CloseCode, Limits, Progress, Welcome, encode, quote
from .rules import JobRules
from .session import Action, Authenticated, Close, Enqueue, Hub, Job, Send, Session

log = logging.getLogger("layerdecomp.server")

# A backend may report progress thousands of times; the client needs a few per second per stage.
PROGRESS_INTERVAL_S = 0.05
# How often a connection whose jobs are running re-reads its deadline (recv() is safe to cancel).
JOB_WAIT_POLL_S = 1.0


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
    token: Optional[str] = None  # None: the user's token file (created on first run, re-read when it changes)
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


# What a connection's sender takes: a text or binary frame, a request to close, or None (stop).
Outgoing = Union[str, bytes, bytearray, _Close, None]


class _Connection:
    """One websocket and its outbox. One sender per connection keeps the frames of a result together;
    a client that does not read is dropped (a send over ``send_timeout_s``, or an outbox over
    ``max_outbox_bytes``) instead of making the server hold its answers without end."""

    def __init__(self, ws: ServerConnection, session: Session, limits: Limits) -> None:
        self.ws = ws
        self.session = session
        self.limits = limits
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.outbox_bytes = 0
        self.dropped = False
        self.peer = "%s:%s" % tuple(ws.remote_address[:2]) if ws.remote_address else "?"

    def send(self, item: Outgoing) -> None:
        if self.dropped:
            return
        if isinstance(item, (str, bytes, bytearray)):
            self.outbox_bytes += len(item)
            if self.outbox_bytes > self.limits.max_outbox_bytes:
                log.info("dropping %s: %d bytes wait unread", self.peer, self.outbox_bytes)
                self.drop()
                return
        self.outbox.put_nowait(item)

    def drop(self) -> None:
        """End the connection at once, without a closing handshake (the peer is not reading)."""
        self.dropped = True
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.outbox.put_nowait(None)
        self.ws.transport.abort()

    async def pump(self) -> None:
        try:
            while True:
                item = await self.outbox.get()
                if item is None:
                    return
                if isinstance(item, _Close):
                    await self.ws.close(item.code, item.reason)
                    return
                try:
                    await asyncio.wait_for(self.ws.send(item), self.limits.send_timeout_s)
                except asyncio.TimeoutError:
                    log.info("dropping %s: it read nothing for %g s", self.peer, self.limits.send_timeout_s)
                    self.drop()
                    return
                self.outbox_bytes -= len(item)
        except ConnectionClosed:
            pass


class DecompositionServer:
    """``await server.serve(stop)`` serves until ``stop`` is set; the backend is loaded in ``__init__``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.limits = config.limits
        token = config.token if config.token is not None else TokenWatcher()
        t0 = time.perf_counter()
        # Every job runs on this loaded backend; nothing resolves or looks for the model on disk again.
        self.decomposer = layerdecomp.Decomposer(config.backend, **config.options).load()
        self.backend_class, self.engine = self.decomposer.backend_class, self.decomposer.engine
        self.load_options, self.default_options = self.decomposer.load_options, self.decomposer.default_options
        log.info("loaded the %s backend in %.1f s", self.backend_class.name, time.perf_counter() - t0)
        # What the backend runs on, for the welcome message: its own word if it has one, else the option.
        self.device = str(getattr(self.engine, "device", None) or self.load_options.get("device") or "cpu")
        rules = JobRules(self.backend_class, self.default_options)
        welcome = Welcome(
            server=f"layerdecomp {layerdecomp.__version__}",
            backend=self.backend_class.name,
            backends=[self.backend_class.name],
            device=self.device,
            options=sorted(self.backend_class.run_options),
            methods=rules.methods(),
            schema=rules.schema(),
            limits=self.limits,
        )
        self.hub = Hub(token, self.limits, welcome, rules.check)
        self.url: Optional[str] = None
        self.connections: dict[Session, _Connection] = {}
        self._queue: Optional[asyncio.Queue[Job]] = None
        self._executor = ThreadPoolExecutor(max(1, config.jobs), thread_name_prefix="layerdecomp-job")

    # ------------------------------------------------------------------------------------ lifecycle

    async def serve(self, stop: asyncio.Event, ready: Optional[Callable[[str], None]] = None) -> None:
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        workers = [loop.create_task(self._worker()) for _ in range(max(1, self.config.jobs))]
        if not is_loopback(self.config.host):
            log.warning(
                "\n%s\nWARNING: listening on %s, not on loopback: anyone who can reach this address and knows the "
                "token can use this machine's %s, and pictures travel unencrypted.\n"
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
            max_size=PRE_AUTH_MAX_BYTES,  # lifted for each connection once it has authenticated
            max_queue=8,
            server_header=None,
            open_timeout=self.limits.hello_timeout_s,
            close_timeout=5,
        ) as ws_server:
            host, port = ws_server.sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            self.url = f"ws://{shown}:{port}"
            log.info("serving the %s backend on %s (%s)", self.backend_class.name, self.url, self.device)
            if ready is not None:
                ready(self.url)
            await stop.wait()
            for session, actions in self.hub.shutdown().items():
                self._carry_out(session, actions)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        # Running jobs were told to cancel; wait for their threads to reach a checkpoint.
        await asyncio.to_thread(self._executor.shutdown, True)
        log.info("server stopped")

    def stats(self) -> dict[str, int]:
        """For tests and logs: what is open right now."""
        return self.hub.stats()

    # ---------------------------------------------------------------------------------- connections

    def _admit(self, ws: ServerConnection, request: Any) -> Any:
        if self.hub.closing:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "The layerdecomp server is shutting down.\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        session, evicted = self.hub.connect(time.monotonic())
        connection = _Connection(ws, session, self.limits)
        self.connections[session] = connection
        for other in evicted:
            self._carry_out(other, other.close_evicted())
        pump = asyncio.create_task(connection.pump())
        try:
            await self._receive(connection, pump)
        except ConnectionClosed:
            pass
        finally:
            session.connection_lost()
            del self.connections[session]
            if not pump.done():
                connection.send(None)
                try:
                    await asyncio.wait_for(pump, 5)
                except (asyncio.TimeoutError, ConnectionClosed):
                    pump.cancel()

    async def _receive(self, connection: _Connection, pump: asyncio.Task[None]) -> None:
        session = connection.session
        while not pump.done() and session.state != "closed":
            deadline = session.deadline
            if deadline is None:
                # Waiting for its own jobs: look again now and then, for their end starts the idle clock.
                timeout = JOB_WAIT_POLL_S if session.jobs else None
            else:
                timeout = max(0.0, deadline - time.monotonic())
            try:
                # Before authentication, websockets refuses any message over PRE_AUTH_MAX_BYTES (1009)
                # from its header, before reading it; so nothing large is ever decoded for a stranger.
                data = await asyncio.wait_for(connection.ws.recv(), timeout)
            except asyncio.TimeoutError:
                self._carry_out(session, session.expire(time.monotonic()))
                continue
            now = time.monotonic()
            if isinstance(data, str):
                actions = session.receive_text(data, now)
            else:
                actions = session.receive_bytes(data, now)
            self._carry_out(session, actions)
        await pump

    def _carry_out(self, session: Session, actions: list[Action]) -> None:
        connection = self.connections.get(session)
        for action in actions:
            if isinstance(action, Enqueue):
                assert self._queue is not None
                self._queue.put_nowait(action.job)
            elif connection is None:
                continue  # the connection is gone: nothing to send
            elif isinstance(action, Send):
                connection.send(action.data)
            elif isinstance(action, Close):
                if action.code != CloseCode.NORMAL:
                    log.info("closing %s (%s)", connection.peer, action.reason)
                connection.send(_Close(action.code, action.reason))
            elif isinstance(action, Authenticated):
                connection.ws.protocol.max_size = self.limits.max_message_bytes
                log.info("client %s connected from %s", quote(session.client), connection.peer)
                if action.displaced is not None:
                    self._carry_out(action.displaced, action.displaced.close_evicted())

    # ----------------------------------------------------------------------------------------- jobs

    async def _worker(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            try:
                if not self.hub.start(job):
                    continue
                try:
                    outgoing = await loop.run_in_executor(self._executor, self._run, job, loop)
                except BaseException:
                    job.session.finish(job, [], time.monotonic())
                    raise
                self._carry_out(job.session, job.session.finish(job, outgoing, time.monotonic()))
            finally:
                self._queue.task_done()

    def _run(self, job: Job, loop: asyncio.AbstractEventLoop) -> list[Union[str, bytearray]]:
        return jobs.run(
            job.message,
            job.collector.frames,
            decomposer=self.decomposer,
            progress=self._progress_sender(job, loop),
            cancel=job.cancel,
        )

    def _progress_sender(self, job: Job, loop: asyncio.AbstractEventLoop) -> Callable[[str, float], None]:
        last = {"stage": None, "time": 0.0}

        def progress(stage: str, fraction: float) -> None:
            now = time.monotonic()
            if stage == last["stage"] and 0.0 < fraction < 1.0 and now - last["time"] < PROGRESS_INTERVAL_S:
                return
            last["stage"], last["time"] = stage, now
            text = encode(Progress(job=job.message.job, stage=stage, fraction=float(fraction)))
            loop.call_soon_threadsafe(forward, text)

        def forward(text: str) -> None:  # on the loop
            if job.session.progress_allowed(job):
                self._carry_out(job.session, [Send(text)])

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

