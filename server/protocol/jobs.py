"""The client's job state machine, without a socket (``ClientJob``): what to send, then every message
and frame from the server fed in, in order, until the job has its outcome."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

from .constants import MAC_BYTES
from .errors import ErrorCode, ProtocolError
from .frames import HEADER_SIZE, FrameCollector, FrameHeader, Role
from .messages import Cancel, Cancelled, Decompose, Error, Message, Progress, Result, result_frames, upload_frames


class ClientJob:
    """One job as a client sees it, without a socket: what to send, then every message and binary frame
    from the server fed in, in order, until ``done``.

        job = ClientJob(Decompose(...))
        send(encode(job.request)); send each of job.upload_headers packed with its pixels
        while not job.done:
            progress = job.receive(decode(text))  or  job.receive(unpack_frame(data))
            (and, to stop it: message = job.cancel(); if message: send(encode(message)))
        job.outcome: "result" (job.result, job.received), "error" (job.error) or "cancelled"

    Messages about other jobs (late answers to earlier ones) are ignored. ``result_max_bytes`` is the
    largest binary frame the server may send for this job: a client reads no more than that.
    """

    def __init__(self, request: Decompose) -> None:
        self.request = request
        self.upload_headers = upload_frames(request)
        self.result: Optional[Result] = None
        self.error: Optional[Error] = None
        self.outcome: Optional[str] = None
        self.cancel_sent = False
        self._collector: Optional[FrameCollector] = None

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def result_max_bytes(self) -> int:
        return HEADER_SIZE + self.request.width * self.request.height * 4 + MAC_BYTES

    @property
    def frames(self) -> Dict[Role, memoryview]:
        """The result's frames by role (for a result without objects, where no role repeats)."""
        return self._collector.frames if self._collector is not None else {}

    @property
    def received(self) -> List[Tuple[FrameHeader, memoryview]]:
        """The result's frames in arrival order, each with its header (``result_frames(job.result)``)."""
        return self._collector.received if self._collector is not None else []

    def cancel(self) -> Optional[Cancel]:
        """The ``cancel`` message to send, once (None when sent already or the job is over)."""
        if self.cancel_sent or self.done:
            return None
        self.cancel_sent = True
        return Cancel(job=self.request.job)

    def receive(self, item: Union[Message, Tuple[FrameHeader, memoryview]]) -> Optional[Progress]:
        """Take the next thing the server sent; returns it when it is this job's progress."""
        if self.done:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"job {self.request.job} is over; nothing more was expected")
        job = self.request.job
        if isinstance(item, tuple):
            header, pixels = item
            if self._collector is None:
                raise ProtocolError(ErrorCode.BAD_FRAME, "the server sent pixels before a result message")
            if self._collector.add(header, pixels):
                self.outcome = "cancelled" if self.cancel_sent else "result"
            return None
        if self._collector is not None:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"the server sent {item.TYPE} in the middle of a result's frames")
        if isinstance(item, Error) and item.job is None:
            self.error, self.outcome = item, "error"  # about the connection: it is going
        elif getattr(item, "job", None) != job:
            pass  # about an earlier job (e.g. unknown_job for a cancel that crossed its result)
        elif isinstance(item, Progress):
            return None if self.cancel_sent else item
        elif isinstance(item, Cancelled):
            self.outcome = "cancelled"
        elif isinstance(item, Error):
            # After a cancel, unknown_job means the job had ended already (its result crossed the cancel).
            cancelled = self.cancel_sent and item.code == ErrorCode.UNKNOWN_JOB
            self.error, self.outcome = (None, "cancelled") if cancelled else (item, "error")
        elif isinstance(item, Result):
            expected = self.request
            if (item.width, item.height) != (expected.width, expected.height):
                raise ProtocolError(ErrorCode.BAD_MESSAGE, f"the result of job {job} is {item.width} x {item.height}; "
                                    f"the upload was {expected.width} x {expected.height}")
            self.result, self._collector = item, FrameCollector(result_frames(item))
        else:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"a server does not send {item.TYPE} during a job")
        return None
