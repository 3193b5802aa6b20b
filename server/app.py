"""The decomposition server's asyncio front end: websocket connections in, jobs through one loaded
backend, results out.

Every decision about what a client said (handshake, limits, jobs, cancels, timeouts) is made by the
socket-free ``server.session``; this module carries its actions out. One asyncio loop owns every socket;
jobs wait in one bounded queue and run in worker threads (``jobs`` at once, one by default: one model
on one device), so a ``cancel`` is read the moment it arrives and reaches the job through its
``threading.Event``. All pixel work (byte-order conversion, cropping, framing: ``jobs``)
happens in the job's thread, never on the loop. ``in_thread`` runs a server in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
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
from .origins import OriginPolicy
from .protocol import (
    DEFAULT_PORT,
    PRE_AUTH_MAX_BYTES,
    Channel,
    CloseCode,
    Limits,
    Progress,
    ProtocolError,
    Welcome,
    encode,
    endpoint,
    quote,
)
from .rules import JobRules
from .session import Action, Authenticated, Close, Enqueue, Hub, Job, Seal, Send, Session

log = logging.getLogger("layerdecomp.server")

# A backend may report progress thousands of times; the client needs a few per second per stage.
PROGRESS_INTERVAL_S = 0.05
# How often a connection whose jobs are running re-reads its deadline (recv() is safe to cancel).
JOB_WAIT_POLL_S = 1.0
# Before authentication a peer hears a challenge or an error (under 1 KB): it may leave this much unread
# (pongs to its pings included) and take this long to read one message, else its socket is aborted.
PRE_AUTH_UNSENT_BYTES = 64 * 1024
PRE_AUTH_SEND_TIMEOUT_S = 2.0
# Bytes of a message still arriving that no accepted upload has reserved: a text message, and what
# arrives of a job's first frame before its decompose is read. More, and the socket is aborted: frames
# being received count against the upload budget.
UNRESERVED_IN_FLIGHT_BYTES = 4 * 1024 * 1024
# The longest a closing handshake may take before the socket is simply aborted.
CLOSE_TIMEOUT_S = 2.0
# Binary frames larger than this are tagged and checked in a thread (hashing 256 MiB takes a while).
HASH_OFF_LOOP_BYTES = 1 << 20
# The longest the server waits for its token file to be read again (in a thread) before a hello.
TOKEN_READ_TIMEOUT_S = 2.0


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


def listen_hosts(host: str) -> list[str]:
    """The addresses to listen on: both loopback families for a loopback host (a client that reaches
    ``localhost`` as ``::1`` must find this server there, not another program), else ``host`` alone."""
    if host in ("localhost", "127.0.0.1", "::1"):
        return ["127.0.0.1", "::1"] if host != "::1" else ["::1", "127.0.0.1"]
    return [host]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def peer_of(ws: ServerConnection) -> str:
    return "%s:%s" % tuple(ws.remote_address[:2]) if ws.remote_address else "?"


@dataclass(eq=False)
class _Close:
    """Outbox item: close the connection once everything before it is sent; ``abort``: without a
    closing handshake (a peer that never authenticated is owed none)."""

    code: int
    reason: str
    abort: bool = False


class _GuardedConnection(ServerConnection):
    """A websocket that costs the server only what its peer is allowed: after every read, a socket
    whose unsent bytes (pongs to a ping flood included, which websockets queues by itself) or whose
    partly received message exceed the connection's ``budget()`` = (unsent, in flight) is aborted."""

    budget: Optional[Callable[[], tuple[int, int]]] = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.budget is None or self.transport.is_closing():
            return
        unsent, in_flight = self.budget()
        waiting, arriving = self.transport.get_write_buffer_size(), len(self.protocol.reader.buffer)
        if waiting > unsent or arriving > in_flight:
            log.info("aborting a connection: %d bytes unsent, %d bytes of a message arriving", waiting, arriving)
            self.transport.abort()


@dataclass(eq=False)
class _Sealed:
    """Outbox item: a message to send with its session tag (tags are made in the order messages leave)."""

    data: Union[str, bytes, bytearray]


# What a connection's sender takes: a text or binary frame, one to seal first, a request to close, or
# None (stop).
Outgoing = Union[str, bytes, bytearray, _Sealed, _Close, None]


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
        self.authenticated = False
        self.channel: Optional[Channel] = None  # the session's tags, once the client proved itself
        self.peer = peer_of(ws)
        if isinstance(ws, _GuardedConnection):
            ws.budget = self.budget

    def budget(self) -> tuple[int, int]:
        """(unsent bytes, bytes of messages arriving) this connection may hold in its socket's buffers."""
        in_flight = UNRESERVED_IN_FLIGHT_BYTES + self.session.bytes_to_come()
        if not self.authenticated:
            return PRE_AUTH_UNSENT_BYTES, in_flight
        return self.limits.max_outbox_bytes, in_flight

    def send(self, item: Outgoing) -> None:
        if self.dropped:
            return
        if isinstance(item, (str, bytes, bytearray)) and self.channel is not None:
            item = _Sealed(item)
        if isinstance(item, (str, bytes, bytearray, _Sealed)):
            self.outbox_bytes += _size(item)
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
                    if item.abort:
                        self.ws.transport.abort()
                        return
                    try:
                        await asyncio.wait_for(self.ws.close(item.code, item.reason), CLOSE_TIMEOUT_S)
                    except asyncio.TimeoutError:
                        self.ws.transport.abort()
                    return
                timeout = self.limits.send_timeout_s if self.authenticated else PRE_AUTH_SEND_TIMEOUT_S
                message = await self._sealed(item.data) if isinstance(item, _Sealed) else item
                try:
                    await asyncio.wait_for(self.ws.send(message), timeout)
                except asyncio.TimeoutError:
                    log.info("dropping %s: it read nothing for %g s", self.peer, timeout)
                    self.drop()
                    return
                self.outbox_bytes -= _size(item)
        except ConnectionClosed:
            pass


    async def _sealed(self, data: Union[str, bytes, bytearray]) -> Union[str, list[Union[bytes, bytearray]]]:
        """``data`` with its tag: a text frame with the tag in front; a binary one as two fragments of one
        message, the frame then its tag (no copy of the pixels)."""
        channel = self.channel
        assert channel is not None
        if isinstance(data, str):
            return channel.seal_text(data)
        if len(data) > HASH_OFF_LOOP_BYTES:
            return [data, await asyncio.to_thread(channel.binary_tag, data)]
        return [data, channel.binary_tag(data)]

    async def opened(self, data: Union[str, bytes]) -> Union[str, bytes, memoryview]:
        """A message received, its tag checked and taken off (``ProtocolError`` ``unauthentic``)."""
        channel = self.channel
        if channel is None:
            return data
        if isinstance(data, str):
            return channel.open_text(data)
        if len(data) > HASH_OFF_LOOP_BYTES:
            return await asyncio.to_thread(channel.open_binary, data)
        return channel.open_binary(data)


def _local_endpoint(ws: ServerConnection) -> str:
    """The address this connection reached (the proofs cover it: a relay elsewhere cannot pass)."""
    local = ws.local_address
    return endpoint(local[0], local[1]) if local else ""


def _size(item: Union[str, bytes, bytearray, _Sealed]) -> int:
    return len(item.data) if isinstance(item, _Sealed) else len(item)


class DecompositionServer:
    """``await server.serve(stop)`` serves until ``stop`` is set; the backend is loaded in ``__init__``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.limits = config.limits
        # The token file is read off the event loop (``_refresh_token``), so a file that hangs cannot stop it.
        self._token_watcher = TokenWatcher() if config.token is None else None
        watcher = self._token_watcher
        token = config.token if watcher is None else (lambda: watcher.current)
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
            features=jobs.FEATURES,
        )
        self.hub = Hub(token, self.limits, welcome, rules.check)
        self.origins = OriginPolicy(config.allowed_origins)
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
        options: dict[str, Any] = dict(
            process_request=self._admit,
            compression=None,  # raw pixels: deflate costs more than loopback saves
            max_size=PRE_AUTH_MAX_BYTES,  # lifted for each connection once it has authenticated
            max_queue=8,
            server_header=None,
            create_connection=_GuardedConnection,
            open_timeout=self.limits.hello_timeout_s,
            close_timeout=CLOSE_TIMEOUT_S,
        )
        first, *others = listen_hosts(self.config.host)
        async with contextlib.AsyncExitStack() as listening:
            ws_server = await listening.enter_async_context(serve(self._handle, first, self.config.port, **options))
            host, port = ws_server.sockets[0].getsockname()[:2]
            for other in others:
                await self._listen_too(listening, other, port, options)
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

    async def _listen_too(self, listening: contextlib.AsyncExitStack, host: str, port: int,
                          options: dict[str, Any]) -> None:
        """Hold the other loopback family's address on the same port, so no other program can answer
        there for us; a machine without it is served on the first alone."""
        try:
            await listening.enter_async_context(serve(self._handle, host, port, **options))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                log.info("not listening on %s (%s)", host, exc.strerror)
                return
            shown = f"[{host}]" if ":" in host else host
            raise OSError(exc.errno, f"another program holds {shown}:{port}, the other loopback address of this "
                          "port, and could answer clients in the server's name: stop it or choose another port "
                          "(--port)") from None
        log.info("also listening on %s", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")

    def stats(self) -> dict[str, int]:
        """For tests and logs: what is open right now."""
        return self.hub.stats()

    # ---------------------------------------------------------------------------------- connections

    def _admit(self, ws: ServerConnection, request: Any) -> Any:
        if self.hub.closing:
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "The layerdecomp server is shutting down.\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        origin = ws.request.headers.get("Origin") if ws.request is not None else None
        if not self.origins.admits(origin):
            await self._refuse_origin(ws, str(origin))
            return
        session, evicted = self.hub.connect(time.monotonic(), _local_endpoint(ws))
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

    async def _refuse_origin(self, ws: ServerConnection, origin: str) -> None:
        """Close a client whose Origin is not admitted, reading nothing it sent (origins.py says why the
        handshake completes first: the close reason is what the client can show)."""
        report = log.warning if self.origins.first_refusal(origin) else log.info
        report("refused a connection from %s: its Origin %s is not admitted (a web page, or a client to allow "
               "with --allow-origin)", peer_of(ws), quote(origin))
        await ws.close(CloseCode.POLICY_VIOLATION, OriginPolicy.close_reason(origin))

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
            if session.state == "hello":
                await self._refresh_token()
            try:
                data = await connection.opened(data)
            except ProtocolError as exc:
                self._carry_out(session, session.refuse_unauthentic(exc))
                continue
            now = time.monotonic()
            if isinstance(data, str):
                actions = session.receive_text(data, now)
            else:
                actions = session.receive_bytes(data, now)
            self._carry_out(session, actions)
        await pump

    async def _refresh_token(self) -> None:
        """Re-read a changed token file for the hello just received, in a thread and for a bounded time."""
        if self._token_watcher is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self._token_watcher.refresh), TOKEN_READ_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("reading the token file took over %g s; the previous token stays in force",
                        TOKEN_READ_TIMEOUT_S)

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
                # Refused before authentication: the error is sent, the socket aborted (no closing handshake
                # a flood could make the server wait on).
                connection.send(_Close(action.code, action.reason, abort=not connection.authenticated))
            elif isinstance(action, Seal):
                connection.channel = Channel(action.key, "server")
                connection.authenticated = True
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


async def serve_until_signalled(config: ServerConfig,
                                ready: Optional[Callable[[DecompositionServer], None]] = None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (jobs cancelled, clients told why).
    ``ready`` is called with the server once it listens (its url, backend and device are known then)."""
    import signal

    server = DecompositionServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, AttributeError, ValueError):  # Windows' loops lack signal handlers
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
    await server.serve(stop, None if ready is None else lambda url: ready(server))

