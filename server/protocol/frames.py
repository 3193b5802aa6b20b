"""Binary frames: pixels with a fixed 28-byte little-endian header that ties them to a job.

The header (``FrameHeader``): magic ``LDPX``, protocol version, role, pixel format, a reserved 0 byte,
then job, x, y, width and height as u32. The pixels follow, rows top to bottom, no padding.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from .constants import PROTOCOL_VERSION
from .errors import ErrorCode, ProtocolError, quote

# The 4 bytes that open every binary frame; a frame without them is not ours.
FRAME_MAGIC = b"LDPX"
# magic, protocol version, role, pixel format, reserved (0), job, x, y, width, height
_HEADER = struct.Struct("<4sBBBBIIIII")
HEADER_SIZE = _HEADER.size  # 28

class Role(enum.IntEnum):
    """What a binary frame holds (JSON spells these in lower case)."""

    IMAGE = 1
    MASK = 2
    FOREGROUND = 3
    BACKGROUND = 4
    VISIBILITY = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class PixelFormat(enum.IntEnum):
    """Raw 8-bit pixel layouts (JSON spells them by name: "RGBA8", ...)."""

    RGBA8 = 1
    BGRA8 = 2  # Krita's integer layout
    A8 = 3  # one byte a pixel: masks, visibility
    RGB8 = 4

    @property
    def channels(self) -> int:
        return {PixelFormat.RGBA8: 4, PixelFormat.BGRA8: 4, PixelFormat.A8: 1, PixelFormat.RGB8: 3}[self]

    @classmethod
    def parse(cls, name: str) -> "PixelFormat":
        try:
            return cls[name]
        except KeyError:
            known = ", ".join(f.name for f in cls)
            raise ProtocolError(ErrorCode.BAD_MESSAGE,
                                f"unknown pixel format {quote(name)}; use one of {known}") from None


# Pixel formats a client may upload an image in; the foreground comes back in the 4-channel layout
# of the same byte order, the background in the image's own format.
IMAGE_FORMATS = (PixelFormat.RGBA8, PixelFormat.BGRA8, PixelFormat.RGB8)


def foreground_format(image_format: PixelFormat) -> PixelFormat:
    return PixelFormat.BGRA8 if image_format == PixelFormat.BGRA8 else PixelFormat.RGBA8


# What a server sends back after a ``result``, in this order.
RESULT_ROLES = (Role.FOREGROUND, Role.BACKGROUND, Role.VISIBILITY)


@dataclass(frozen=True)
class FrameHeader:
    """The header that ties a binary frame to its job: the pixels are ``width`` x ``height`` at ``(x, y)``
    of the job's image, in ``format``, rows top to bottom without padding."""

    job: int
    role: Role
    format: PixelFormat
    width: int
    height: int
    x: int = 0
    y: int = 0

    @property
    def payload_size(self) -> int:
        return self.width * self.height * PixelFormat(self.format).channels

    def pack(self) -> bytes:
        return _HEADER.pack(FRAME_MAGIC, PROTOCOL_VERSION, int(self.role), int(self.format), 0,
                            self.job, self.x, self.y, self.width, self.height)


def pack_frame(header: FrameHeader, pixels: Union[bytes, bytearray, memoryview]) -> bytes:
    """A whole binary frame. (To avoid a copy of big buffers, write ``header.pack()`` and the pixels
    into one preallocated ``bytearray`` of ``HEADER_SIZE + header.payload_size`` bytes instead.)"""
    if len(pixels) != header.payload_size:
        raise ValueError(f"{header.role.label} frame: {len(pixels)} bytes of pixels, expected {header.payload_size}")
    return header.pack() + bytes(pixels)


def unpack_frame(data: Union[bytes, bytearray, memoryview]) -> Tuple[FrameHeader, memoryview]:
    """The header and the pixel bytes (a view, no copy) of a binary frame; ``ProtocolError(bad_frame)``
    when the frame is not one."""
    view = memoryview(data)
    if len(view) < HEADER_SIZE:
        raise ProtocolError(ErrorCode.BAD_FRAME,
                            f"a binary frame of {len(view)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, version, role, fmt, _reserved, job, x, y, width, height = _HEADER.unpack_from(view)
    if magic != FRAME_MAGIC:
        raise ProtocolError(ErrorCode.BAD_FRAME, "a binary frame does not start with the LDPX header")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.BAD_FRAME,
                            f"a binary frame says protocol {version}; this side speaks {PROTOCOL_VERSION}", job)
    if role not in Role._value2member_map_:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"a binary frame has unknown role {role}", job)
    if fmt not in PixelFormat._value2member_map_:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"a binary frame has unknown pixel format {fmt}", job)
    header = FrameHeader(job, Role(role), PixelFormat(fmt), width, height, x, y)
    pixels = view[HEADER_SIZE:]
    if len(pixels) != header.payload_size:
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"the {header.role.label} frame of job {job} holds {len(pixels)} bytes of pixels; "
            f"{width} x {height} {header.format.name} needs {header.payload_size}",
            job,
        )
    return header, pixels


class FrameCollector:
    """Gathers the binary frames of one job, checking each against the frame expected next.

    ``received``: every frame taken, in arrival order (a result with objects has several frames of one
    role); ``frames``: the last one taken of each role (all of them when no role repeats)."""

    def __init__(self, expected: List[FrameHeader]) -> None:
        self._expected = list(expected)
        self.received: List[Tuple[FrameHeader, memoryview]] = []
        self.frames: Dict[Role, memoryview] = {}

    @property
    def complete(self) -> bool:
        return not self._expected

    @property
    def next_expected(self) -> Optional[FrameHeader]:
        return self._expected[0] if self._expected else None

    def add(self, header: FrameHeader, pixels: memoryview) -> bool:
        """Take one frame (as from ``unpack_frame``); True once every expected frame is in."""
        want = self.next_expected
        if want is None:
            raise ProtocolError(ErrorCode.BAD_FRAME,
                                f"an extra binary frame for job {header.job}, which has all its frames",
                                header.job)
        if header != want:
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"job {header.job} expected its {want.role.label} frame, {want.width} x {want.height} "
                f"{want.format.name} at ({want.x}, {want.y}); got a frame for {header.role.label}, "
                f"{header.width} x {header.height} {header.format.name} at ({header.x}, {header.y})",
                header.job,
            )
        self.received.append((header, pixels))
        self.frames[header.role] = pixels
        self._expected.pop(0)
        return self.complete
