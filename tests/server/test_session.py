"""The server's session logic without a socket, a thread or a clock: events in, actions out (fast)."""

from __future__ import annotations

import pytest

from layerdecomp.errors import InvalidInput
from layerdecomp_server import protocol
from layerdecomp_server.protocol import CloseCode, Decompose, ErrorCode, Limits, PixelFormat, Role
from layerdecomp_server.session import Authenticated, Close, Enqueue, Hub, Send, Session

TOKEN = "session-test-token-0123456789"
LIMITS = Limits(max_side=64, max_pixels=64 * 64, max_message_bytes=protocol.HEADER_SIZE + 64 * 64 * 4,
                max_queue=4, max_jobs_per_connection=2, max_upload_bytes=3 * 8 * 8 * 5, max_connections=2,
                max_pending=3, idle_timeout_s=100.0, upload_timeout_s=10.0, hello_timeout_s=5.0)


def refuse_colour(message: Decompose) -> None:
    if "colour" in message.options:
        raise InvalidInput("no colour option")


def make_hub(**changes) -> Hub:
    limits = Limits(**{**LIMITS.to_json(), **changes})
    return Hub(TOKEN, limits, protocol.Welcome(server="test", backend="test", limits=limits), refuse_colour)


def sent(actions) -> list:
    """The messages among ``actions``, decoded (binary frames as bytes)."""
    return [protocol.decode(a.data) if isinstance(a.data, str) else a.data for a in actions if isinstance(a, Send)]


def closes(actions) -> list[int]:
    return [a.code for a in actions if isinstance(a, Close)]


def authenticated(hub: Hub, now: float = 0.0) -> Session:
    session, _ = hub.connect(now)
    handshake = protocol.ClientHandshake(TOKEN)
    [challenge] = sent(session.receive_text(protocol.encode(handshake.hello), now))
    actions = session.receive_text(protocol.encode(handshake.answer(challenge)), now)
    assert isinstance(actions[0], Authenticated)
    handshake.welcome(sent(actions)[0])
    assert session.state == "open"
    return session


def upload(session: Session, job: int, now: float = 0.0, size: int = 8, **fields) -> list:
    message = Decompose(job=job, width=size, height=size, format="RGB8", **fields)
    actions = session.receive_text(protocol.encode(message), now)
    for header in protocol.upload_frames(message):
        actions += session.receive_bytes(protocol.pack_frame(header, bytes(header.payload_size)), now)
    return actions


# ------------------------------------------------------------------------------------------- handshake


def test_the_handshake_proves_both_sides_and_lifts_the_cap():
    hub = make_hub()
    session = authenticated(hub)
    assert hub.stats()["pending"] == 0 and session in hub.authenticated


@pytest.mark.parametrize("first, code, close", [
    ('{"type": "auth", "proof": "%s"}' % ("0" * 64), ErrorCode.BAD_MESSAGE, CloseCode.PROTOCOL_ERROR),
    ('{"type": "hello", "protocol": 1, "token": "t"}', ErrorCode.UNSUPPORTED_VERSION, CloseCode.PROTOCOL_ERROR),
    ("x" * 5000, ErrorCode.TOO_LARGE, CloseCode.TOO_BIG),
    ("[" * 3000, ErrorCode.BAD_MESSAGE, CloseCode.PROTOCOL_ERROR),
])
def test_a_bad_first_message_is_refused_and_closed(first, code, close):
    hub = make_hub()
    session, _ = hub.connect(0.0)
    actions = session.receive_text(first, 0.0)
    [error] = sent(actions)
    assert error.code == code and closes(actions) == [close] and session.state == "closed"
    assert len(error.message) < 300
    assert hub.stats()["connections"] == 0


def test_a_wrong_proof_is_unauthorized_and_binary_before_auth_is_refused():
    hub = make_hub()
    session, _ = hub.connect(0.0)
    session.receive_text(protocol.encode(protocol.Hello(nonce=protocol.new_nonce())), 0.0)
    actions = session.receive_text(protocol.encode(protocol.Auth(proof="0" * 64)), 0.0)
    assert sent(actions)[0].code == ErrorCode.UNAUTHORIZED and closes(actions) == [CloseCode.POLICY_VIOLATION]
    other, _ = hub.connect(0.0)
    actions = other.receive_bytes(b"LDPX" + bytes(100), 0.0)
    assert sent(actions)[0].code == ErrorCode.BAD_MESSAGE and closes(actions) == [CloseCode.PROTOCOL_ERROR]


def test_no_authentication_in_time_is_closed():
    hub = make_hub()
    session, _ = hub.connect(0.0)
    assert session.deadline == LIMITS.hello_timeout_s
    assert session.expire(1.0) == []
    actions = session.expire(LIMITS.hello_timeout_s)
    assert sent(actions)[0].code == ErrorCode.TIMEOUT and closes(actions) == [CloseCode.POLICY_VIOLATION]


def test_the_oldest_unauthenticated_connection_makes_room_for_a_newcomer():
    hub = make_hub()
    waiting = [hub.connect(float(t))[0] for t in range(LIMITS.max_pending)]
    newcomer, evicted = hub.connect(10.0)
    assert evicted == [waiting[0]]
    actions = waiting[0].close_evicted()
    assert sent(actions)[0].code == ErrorCode.BUSY and closes(actions) == [CloseCode.TRY_AGAIN_LATER]
    assert hub.stats()["pending"] == LIMITS.max_pending
    authenticated(hub)  # still gets in


def test_a_newcomer_displaces_the_longest_idle_authenticated_connection_never_a_busy_one():
    hub = make_hub()
    busy = authenticated(hub, 0.0)
    upload(busy, 1)
    idle = authenticated(hub, 1.0)
    newcomer = authenticated(hub, 2.0)
    assert idle not in hub.authenticated and busy in hub.authenticated and newcomer in hub.authenticated
    upload(newcomer, 1)
    # Every slot has a job: the next one is told to come back later.
    session, _ = hub.connect(3.0)
    handshake = protocol.ClientHandshake(TOKEN)
    [challenge] = sent(session.receive_text(protocol.encode(handshake.hello), 3.0))
    actions = session.receive_text(protocol.encode(handshake.answer(challenge)), 3.0)
    assert sent(actions)[0].code == ErrorCode.BUSY and closes(actions) == [CloseCode.TRY_AGAIN_LATER]


# ------------------------------------------------------------------------------------------------ jobs


def test_a_job_is_enqueued_once_its_frames_are_in_and_its_answer_is_sent():
    hub = make_hub()
    session = authenticated(hub)
    [enqueue] = upload(session, 7)
    assert isinstance(enqueue, Enqueue) and enqueue.job.message.job == 7
    assert set(enqueue.job.collector.frames) == {Role.IMAGE, Role.MASK}
    assert hub.stats() == {"connections": 1, "pending": 0, "open_jobs": 1, "queued": 1, "running": 0, "uploads": 0}
    assert hub.start(enqueue.job) and session.progress_allowed(enqueue.job)
    answer = protocol.encode(protocol.Cancelled(job=7))  # whatever the thread returned
    assert sent(session.finish(enqueue.job, [answer], 1.0)) == [protocol.Cancelled(job=7)]
    assert hub.stats()["open_jobs"] == 0 and hub.open_bytes == 0


def test_cancel_while_queued_running_and_uploading():
    hub = make_hub()
    session = authenticated(hub)
    [queued] = upload(session, 1)
    assert sent(session.receive_text(protocol.encode(protocol.Cancel(job=1)), 0.0)) == [protocol.Cancelled(job=1)]
    assert queued.job.cancel.is_set() and not hub.start(queued.job)
    [running] = upload(session, 2)
    hub.start(running.job)
    assert sent(session.receive_text(protocol.encode(protocol.Cancel(job=2)), 0.0)) == [protocol.Cancelled(job=2)]
    assert not session.progress_allowed(running.job)
    assert session.finish(running.job, ["late result"], 1.0) == []  # dropped: the client heard "cancelled"
    session.receive_text(protocol.encode(Decompose(job=3, width=8, height=8, format="RGB8")), 0.0)
    assert sent(session.receive_text(protocol.encode(protocol.Cancel(job=3)), 0.0)) == [protocol.Cancelled(job=3)]
    assert hub.stats()["open_jobs"] == 0
    [error] = sent(session.receive_text(protocol.encode(protocol.Cancel(job=3)), 0.0))
    assert error.code == ErrorCode.UNKNOWN_JOB


@pytest.mark.parametrize("fields, code", [
    ({"grow": 10**9}, ErrorCode.INVALID_INPUT),
    ({"options": {"colour": 1}}, ErrorCode.INVALID_INPUT),
    ({"width": 1000}, ErrorCode.TOO_LARGE),
])
def test_refused_jobs_get_one_precise_error_and_their_frames_are_swallowed(fields, code):
    hub = make_hub()
    session = authenticated(hub)
    message = Decompose(**{"job": 1, "width": 8, "height": 8, "format": "RGB8", **fields})
    actions = session.receive_text(protocol.encode(message), 0.0)
    for header in protocol.upload_frames(message):
        actions += session.receive_bytes(protocol.pack_frame(header, bytes(header.payload_size)), 0.0)
    [error] = sent(actions)
    assert error.code == code and error.job == 1
    assert hub.stats()["open_jobs"] == 0 and not session.uploads


def test_one_connection_gets_its_share_and_the_upload_budget_holds():
    hub = make_hub()
    first, second = authenticated(hub), authenticated(hub)
    upload(first, 1)
    upload(first, 2)
    [error] = sent(first.receive_text(protocol.encode(Decompose(job=3, width=8, height=8)), 0.0))
    assert error.code == ErrorCode.BUSY and "one connection" in error.message
    upload(second, 1)  # 3 jobs of 8 x 8 x (3 + 1) bytes: within 3 * 8 * 8 * 5
    [error] = sent(second.receive_text(protocol.encode(Decompose(job=2, width=8, height=8, format="RGBA8")), 0.0))
    assert error.code == ErrorCode.BUSY and "uploaded pixels" in error.message


def test_uploads_time_out_and_idle_connections_close():
    hub = make_hub()
    session = authenticated(hub)
    session.receive_text(protocol.encode(Decompose(job=1, width=8, height=8)), 0.0)
    assert session.deadline == LIMITS.upload_timeout_s
    [error] = sent(session.expire(LIMITS.upload_timeout_s))
    assert error.code == ErrorCode.TIMEOUT and error.job == 1 and hub.stats()["open_jobs"] == 0
    # Nothing heard since the decompose at 0: idle from then on.
    assert session.deadline == LIMITS.idle_timeout_s
    actions = session.expire(LIMITS.idle_timeout_s)
    assert sent(actions)[0].code == ErrorCode.TIMEOUT and closes(actions) == [CloseCode.POLICY_VIOLATION]


def test_a_lost_connection_cancels_its_jobs_and_gives_back_its_place():
    hub = make_hub()
    session = authenticated(hub)
    [queued] = upload(session, 1)
    [running] = upload(session, 2)
    hub.start(running.job)
    session.connection_lost()
    assert queued.job.cancel.is_set() and running.job.cancel.is_set()
    assert session.finish(running.job, ["result"], 1.0) == []
    assert hub.stats() == {"connections": 0, "pending": 0, "open_jobs": 0, "queued": 0, "running": 0, "uploads": 0}


def test_bad_frames_and_messages_keep_the_connection():
    hub = make_hub()
    session = authenticated(hub)
    [error] = sent(session.receive_bytes(b"junk", 0.0))
    assert error.code == ErrorCode.BAD_FRAME
    [error] = sent(session.receive_text('{"type": "welcome"}', 0.0))
    assert error.code == ErrorCode.BAD_MESSAGE
    [error] = sent(session.receive_text("x" * (protocol.MAX_TEXT_BYTES + 1), 0.0))
    assert error.code == ErrorCode.TOO_LARGE
    message = Decompose(job=1, width=8, height=8, format="RGB8")
    session.receive_text(protocol.encode(message), 0.0)
    wrong = protocol.FrameHeader(1, Role.MASK, PixelFormat.A8, 8, 8)
    [error] = sent(session.receive_bytes(protocol.pack_frame(wrong, bytes(64)), 0.0))
    assert error.code == ErrorCode.BAD_FRAME and error.job == 1
    assert session.state == "open" and upload(session, 2)


def test_idleness_counts_from_the_end_of_the_last_job():
    hub = make_hub()
    session = authenticated(hub)
    [enqueue] = upload(session, 1, now=0.0)
    assert session.deadline is None  # waiting for its own result is not idling
    hub.start(enqueue.job)
    session.finish(enqueue.job, [], now=500.0)  # a long job
    assert session.deadline == 500.0 + LIMITS.idle_timeout_s
    assert session.expire(500.0 + LIMITS.idle_timeout_s - 1) == []
