"""The small type checks every message's validation is made of; each failure is ``bad_message``."""

from __future__ import annotations

import math
from typing import Any, Optional

from .constants import MAX_JOB_ID
from .errors import ErrorCode, ProtocolError


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def is_hex(value: Any, digits: int) -> bool:
    return isinstance(value, str) and len(value) == digits and all(c in "0123456789abcdef" for c in value)


def expect(ok: bool, what: str, job: Optional[int] = None) -> None:
    if not ok:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, what, job)


def check_job(kind: str, job: Any) -> None:
    expect(is_int(job) and 0 <= job <= MAX_JOB_ID, f"{kind}.job must be an integer from 0 to {MAX_JOB_ID}")


def check_size(kind: str, width: Any, height: Any, job: Optional[int]) -> None:
    expect(is_int(width) and is_int(height) and width > 0 and height > 0,
           f"{kind}.width and {kind}.height must be positive integers", job)
