"""Cancel is read while a job runs: acknowledged at once, and the next job works."""

from __future__ import annotations

import threading
import time

import pytest

import layerdecomp
from layerdecomp_server.client import Client
from layerdecomp_server import protocol

from .helpers import TOKEN, expect_error, idle, open_raw, picture, recv_message, recv_until, send_job, wait_for
from .test_roundtrip import assert_same

PROMPT_S = 2.0  # the server answers at once; the client polls every 50 ms (generous: CI machines are busy)


def test_cancel_a_running_job_then_run_the_next(server):
    image, mask = picture(seed=20)
    cancel = threading.Event()
    asked = {}

    def progress(stage, fraction):
        if stage == "hold":  # the job is surely running in the backend now
            asked["at"] = time.monotonic()
            cancel.set()

    with Client(server.url, token=TOKEN) as client:
        with pytest.raises(layerdecomp.Cancelled):
            client.decompose(image, mask, hold=True, progress=progress, cancel=cancel)
        assert time.monotonic() - asked["at"] < PROMPT_S
        wait_for(lambda: idle(server), what="the cancelled job to leave")
        assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="test_gated"))


def test_cancel_a_queued_job_while_another_runs(server):
    image, mask = picture(seed=21)
    holder, waiter = open_raw(server.url), open_raw(server.url)
    try:
        send_job(holder, 1, image, mask, hold=True)
        recv_until(holder, lambda m: isinstance(m, protocol.Progress) and m.stage == "hold")
        send_job(waiter, 1, image, mask)  # same job id on another connection: its own job
        wait_for(lambda: server.stats()["queued"] == 1, what="the second job to queue")
        started = time.monotonic()
        waiter.send(protocol.encode(protocol.Cancel(job=1)))
        assert recv_until(waiter, lambda m: True) == protocol.Cancelled(job=1)
        assert time.monotonic() - started < PROMPT_S
        holder.send(protocol.encode(protocol.Cancel(job=1)))
        assert recv_until(holder, lambda m: not isinstance(m, protocol.Progress)) == protocol.Cancelled(job=1)
        # Cancelling again once the job is gone: the server says so.
        wait_for(lambda: idle(server), what="the held job to stop")
        holder.send(protocol.encode(protocol.Cancel(job=1)))
        expect_error(holder, "unknown_job", job=1)
    finally:
        holder.close()
        waiter.close()
    wait_for(lambda: idle(server), what="an idle server")


def test_cancel_during_upload_then_the_frames_are_dropped_quietly(server):
    image, mask = picture(seed=22)
    ws = open_raw(server.url)
    try:
        height, width = mask.shape
        ws.send(protocol.encode(protocol.Decompose(job=3, width=width, height=height, format="RGB8")))
        ws.send(protocol.encode(protocol.Cancel(job=3)))
        assert recv_until(ws, lambda m: True) == protocol.Cancelled(job=3)
        image_header, mask_header = protocol.upload_frames(
            protocol.Decompose(job=3, width=width, height=height, format="RGB8"))
        ws.send(protocol.pack_frame(image_header, image.tobytes()))
        ws.send(protocol.pack_frame(mask_header, mask.tobytes()))
        # No error for those frames: the next thing heard is job 4's result.
        send_job(ws, 4, image, mask)
        result = recv_until(ws, lambda m: not isinstance(m, protocol.Progress))
        assert isinstance(result, protocol.Result) and result.job == 4
    finally:
        ws.close()
    wait_for(lambda: idle(server), what="an idle server")


def test_a_client_that_leaves_cancels_its_running_job(server):
    image, mask = picture(seed=23)
    ws = open_raw(server.url)
    send_job(ws, 1, image, mask, hold=True)
    recv_until(ws, lambda m: isinstance(m, protocol.Progress) and m.stage == "hold")
    ws.close()
    wait_for(lambda: idle(server), timeout=PROMPT_S + 1, what="the abandoned job to stop")
    with Client(server.url, token=TOKEN) as client:
        assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="test_gated"))


def test_cancel_is_acknowledged_before_the_backend_reaches_a_checkpoint(server):
    """A backend stage may run for seconds without looking at the token: the answer does not wait for it,
    the job's late result is dropped, and the next job on the connection gets its own result."""
    image, mask = picture(seed=24)
    busy_s = 2.5
    ws = open_raw(server.url)
    try:
        send_job(ws, 1, image, mask, busy_s=busy_s)
        recv_until(ws, lambda m: isinstance(m, protocol.Progress) and m.stage == "busy")
        started = time.monotonic()
        ws.send(protocol.encode(protocol.Cancel(job=1)))
        assert recv_until(ws, lambda m: not isinstance(m, protocol.Progress)) == protocol.Cancelled(job=1)
        assert time.monotonic() - started < PROMPT_S < busy_s
        ws.send(protocol.encode(protocol.Cancel(job=1)))  # a second cancel: already answered, ignored
        send_job(ws, 2, image, mask)
        # Nothing more about job 1 (no progress, no result): the next message is job 2's.
        message = recv_message(ws, timeout=busy_s + 10)
        assert message.job == 2, message
        result = recv_until(ws, lambda m: isinstance(m, protocol.Result))
        assert result.job == 2
    finally:
        ws.close()
    wait_for(lambda: idle(server), what="an idle server")
