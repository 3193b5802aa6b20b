"""After everything (jobs, cancels, bad input, vanished clients) the queue is empty and memory is flat."""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc

import layerdecomp
from layerdecomp_server.client import Client
from layerdecomp_server import protocol
from layerdecomp_server.protocol import PixelFormat, Role

from .helpers import TOKEN, expect_error, frame, idle, open_raw, picture, recv_until, send_job, wait_for
from .test_roundtrip import assert_same

ROUNDS = 6
# Python-level allocations that may outlive a round, all threads together (tracemalloc sees numpy's
# buffers too): a leaked picture or frame would be >= 20 KB a round.
MAX_GROWTH_BYTES = 64 * 1024


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_round(server, image, mask, expected) -> None:
    with Client(server.url, token=TOKEN) as client:
        for _ in range(3):
            assert_same(client.decompose(image, mask), expected)
        cancel = threading.Event()
        try:
            client.decompose(image, mask, hold=True, cancel=cancel,
                             progress=lambda stage, _: stage == "hold" and cancel.set())
        except layerdecomp.Cancelled:
            pass
        else:
            raise AssertionError("the held job was not cancelled")
    height, width = mask.shape
    ws = open_raw(server.url)
    ws.send("{broken")
    expect_error(ws, "bad_message")
    ws.send(protocol.encode(protocol.Decompose(job=1, width=width, height=height, format="RGB8")))
    ws.send(frame(1, Role.IMAGE, PixelFormat.RGB8, width, height, image.tobytes())[:-1])
    expect_error(ws, "bad_frame", job=1)
    send_job(ws, 2, image, mask)
    recv_until(ws, lambda m: isinstance(m, protocol.Result))
    ws.close()  # with result frames unread
    ws = open_raw(server.url)
    ws.send(protocol.encode(protocol.Decompose(job=1, width=width, height=height, format="RGB8")))
    ws.send(frame(1, Role.IMAGE, PixelFormat.RGB8, width, height, image.tobytes()))
    wait_for(lambda: server.stats()["uploads"] == 1, what="the upload to open")
    ws.close()  # gone mid-upload
    wait_for(lambda: idle(server) and server.stats()["connections"] == 0, what="an idle server")


def test_queue_empty_and_memory_flat(server):
    image, mask = picture(seed=50, height=96, width=128)
    expected = layerdecomp.decompose(image, mask, backend="test_gated")
    tracemalloc.start()
    try:
        for _ in range(2):  # warm up: caches, thread pools, lazily imported modules
            one_round(server, image, mask, expected)
        gc.collect()
        traced_before, rss_before = tracemalloc.get_traced_memory()[0], rss_bytes()
        for _ in range(ROUNDS):
            one_round(server, image, mask, expected)
        gc.collect()
        traced_after, rss_after = tracemalloc.get_traced_memory()[0], rss_bytes()
    finally:
        tracemalloc.stop()
    assert server.stats() == {"connections": 0, "pending": 0, "open_jobs": 0, "queued": 0, "running": 0, "uploads": 0}
    growth = traced_after - traced_before
    assert growth < MAX_GROWTH_BYTES, f"traced memory grew by {growth} bytes over {ROUNDS} rounds"
    # RSS moves with the allocator's whims; only a gross leak (a picture per job) shows here.
    assert rss_after - rss_before < 16 * 2**20, f"RSS grew by {(rss_after - rss_before) >> 20} MiB"
