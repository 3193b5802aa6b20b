"""Issue 23's floods on loopback, turned around: a server in its own process (its memory measured with
psutil), attacked by sockets that never authenticate and by a client with the token that sends what the
server refuses. Every loop is bounded in count and time."""

from __future__ import annotations

import collections
import socket
import struct
import sys
import threading
import time

import psutil
import pytest

import layerdecomp
from layerdecomp_server import protocol
from layerdecomp_server.client import Client

from .helpers import open_raw, picture
from .test_roundtrip import assert_same
from .test_serve_cli import start, stop

MiB = 1 << 20
UPGRADE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(process, url, token) of a classical server with the default limits, in its own process."""
    config = tmp_path_factory.mktemp("config")
    process, url = start([sys.executable, "-m", "layerdecomp", "serve", "--port", "0", "--backend", "classical"],
                         config)
    try:
        yield process, url, (config / "token").read_text().strip()
    finally:
        stop(process, 15)


class PeakRSS:
    """The most a process's resident memory grew over its value at the start, sampled every 5 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.growth = 0

    def __enter__(self) -> "PeakRSS":
        time.sleep(0.2)
        self.before = self.process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.is_set():
            self.growth = max(self.growth, self.process.memory_info().rss - self.before)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def upgraded(port: int) -> socket.socket:
    """A websocket that has done the upgrade, and nothing else."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(UPGRADE)
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def masked(opcode: int, payload: bytes) -> bytes:
    """One client frame (masked with a zero key, which leaves the payload as it is)."""
    if len(payload) < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload))
    elif len(payload) < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, len(payload))
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, len(payload))
    return head + b"\x00\x00\x00\x00" + payload


def test_1000_opens_a_second_without_hello_do_not_stop_8_real_jobs(served):
    """Issue 23: ~830 opens a second made 6 of 8 real jobs fail with busy. Silent sockets are evicted
    before a handshake under way, and a client retries busy during its handshake a few times."""
    process, url, token = served
    port = port_of(url)
    stop_flag = threading.Event()
    opened = [0]

    def flood() -> None:
        sockets: collections.deque = collections.deque()
        start_time = time.monotonic()
        while not stop_flag.is_set() and opened[0] < 30_000:  # bounded: 30 s at 1,000 a second
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                sock.setblocking(False)
                sock.send(UPGRADE)
                sockets.append(sock)
                opened[0] += 1
            except OSError:
                pass
            while len(sockets) > 500:
                sockets.popleft().close()
            ahead = opened[0] / 1000 - (time.monotonic() - start_time)
            if ahead > 0:
                time.sleep(ahead)
        for sock in sockets:
            sock.close()

    flooder = threading.Thread(target=flood)
    flooder.start()
    finished = 0
    try:
        while opened[0] < 1000:
            time.sleep(0.05)
        t0, opened0 = time.monotonic(), opened[0]
        image, mask = picture(seed=11)
        expected = layerdecomp.decompose(image, mask, backend="classical")
        for _ in range(8):
            with Client(url, token=token) as client:
                assert_same(client.decompose(image, mask, backend="classical"), expected)
                finished += 1
        during = opened[0] - opened0
        rate = during / (time.monotonic() - t0)
    finally:
        stop_flag.set()
        flooder.join(30)
    assert finished == 8
    # The flood aims at 1,000 opens a second; how many it reaches depends on the machine (the server's
    # accept loop is the limit: ~1,000 on 16 idle cores, 120-250 on 2 busy ones). Whatever the rate,
    # the pending budget (16) was overrun many times over while the jobs ran.
    print(f"flood: {during} opens, {rate:.0f} a second, during the 8 jobs")
    assert during > 20 * 16, f"the flood opened only {during} sockets ({rate:.0f} a second)"


def test_two_ping_flooding_sockets_keep_the_server_under_64_mb(served):
    """Issue 23: two sockets sending pings and never reading took the server from 95 MB to 525 MB in
    35 s (each ping queues a pong). Now a socket with more than 64 KiB unsent before authentication is
    aborted."""
    process, url, token = served
    port = port_of(url)
    pings = masked(0x9, b"p" * 125) * 512
    sent = [0, 0]

    def flood(index: int) -> None:
        sock = upgraded(port)
        sock.settimeout(0.5)
        deadline = time.monotonic() + 10  # bounded
        try:
            while time.monotonic() < deadline:
                sock.sendall(pings)
                sent[index] += len(pings)
        except OSError:  # aborted by the server
            pass
        sock.close()

    with PeakRSS(process.pid) as memory:
        flooders = [threading.Thread(target=flood, args=(i,)) for i in range(2)]
        for thread in flooders:
            thread.start()
        for thread in flooders:
            thread.join()
    print(f"ping flood: {sum(sent) / MiB:.0f} MiB of pings sent, the server grew by {memory.growth / MiB:.1f} MiB")
    assert memory.growth < 64 * MiB, f"the server grew by {memory.growth / MiB:.0f} MiB"
    image, mask = picture(seed=12)
    with Client(url, token=token) as client:
        assert_same(client.decompose(image, mask, backend="classical"),
                    layerdecomp.decompose(image, mask, backend="classical"))


def test_1500_refused_1_mb_decompose_messages_keep_the_server_under_128_mb(served):
    """Issue 23: refused jobs were kept whole for 60 s: 1,500 messages of 1 MB took the server to 1.5 GB."""
    process, url, token = served
    message = protocol.encode(protocol.Decompose(job=1, width=8, height=8, format="RGB8",
                                                 options={"steps": "x" * (MiB - 200)}))
    with PeakRSS(process.pid) as memory:
        ws = open_raw(url, token)
        codes = collections.Counter()
        for i in range(1500):
            ws.send(message.replace('"job":1,', f'"job":{i + 1},', 1))
            if i % 50 == 49:  # read what came back meanwhile (bounded wait)
                while True:
                    try:
                        codes[protocol.decode(ws.recv(timeout=0.01)).code] += 1
                    except TimeoutError:
                        break
        deadline = time.monotonic() + 30
        while sum(codes.values()) < 1500 and time.monotonic() < deadline:
            codes[protocol.decode(ws.recv(timeout=30)).code] += 1
        ws.close()
    assert codes == {"too_large": 1500}
    assert memory.growth < 128 * MiB, f"the server grew by {memory.growth / MiB:.0f} MiB"


def test_4_connections_of_256_mib_garbage_frames_stay_within_the_upload_budget(served):
    """Issue 23: 256 MiB frames for no job cost about twice their size while assembled (4 connections:
    2.2 GB): frames being received now count against the upload budget, and a frame no job reserved
    room for is cut off after a few MiB."""
    process, url, token = served
    size = 256 * MiB
    with PeakRSS(process.pid) as memory:
        sockets = []
        for _ in range(4):
            sockets.append(open_raw(url, token))
        cut_off = 0
        chunk = b"\x00" * MiB
        for ws in sockets:
            sock = ws.socket
            sock.sendall(struct.pack("!BBQ", 0x82, 0x80 | 127, size) + b"\x00\x00\x00\x00")
            try:
                for _ in range(size // MiB):  # bounded: the frame's length
                    sock.sendall(chunk)
            except OSError:
                cut_off += 1
        for ws in sockets:
            ws.socket.close()
    assert cut_off == 4
    assert memory.growth < 64 * MiB, f"the server grew by {memory.growth / MiB:.0f} MiB"
