"""numpy arrays <-> the raw pixel frames of the protocol (server and Python client; never the plugin).

Byte order is handled here and only here: Krita sends and wants B, G, R, A; the library works in
R, G, B(, A). Frames are written straight into one preallocated buffer (header + pixels), so a big
result costs one copy, not three.
"""

from __future__ import annotations

import numpy as np

from .protocol import HEADER_SIZE, ErrorCode, FrameHeader, PixelFormat, ProtocolError

# BGRA <-> RGBA is the same swap both ways.
_SWAP_RB = [2, 1, 0, 3]


def frame_to_array(header: FrameHeader, pixels: memoryview) -> np.ndarray:
    """The frame's pixels as H×W×C uint8 in R, G, B(, A) order (A8: H×W). May be a read-only view."""
    fmt = PixelFormat(header.format)
    flat = np.frombuffer(pixels, dtype=np.uint8)
    if fmt == PixelFormat.A8:
        return flat.reshape(header.height, header.width)
    array = flat.reshape(header.height, header.width, fmt.channels)
    if fmt == PixelFormat.BGRA8:
        return array[..., _SWAP_RB]  # a copy in R, G, B, A order
    return array


def array_to_frame(header: FrameHeader, array: np.ndarray) -> bytearray:
    """One whole binary frame: ``header`` then ``array`` (R, G, B(, A) or single channel, uint8) in
    ``header.format``."""
    fmt = PixelFormat(header.format)
    expected = (header.height, header.width) if fmt == PixelFormat.A8 else (header.height, header.width, fmt.channels)
    if array.shape != expected or array.dtype != np.uint8:
        raise ProtocolError(ErrorCode.INTERNAL,
                            f"a {header.role.label} array of shape {array.shape} {array.dtype} does not fit a "
                            f"{header.width} x {header.height} {fmt.name} frame", header.job)
    buffer = bytearray(HEADER_SIZE + header.payload_size)
    buffer[:HEADER_SIZE] = header.pack()
    target = np.frombuffer(buffer, dtype=np.uint8, offset=HEADER_SIZE).reshape(expected)
    if fmt == PixelFormat.BGRA8:
        for dst, src in enumerate(_SWAP_RB):
            target[..., dst] = array[..., src]
    else:
        target[...] = array
    return buffer


def image_format(array: np.ndarray) -> PixelFormat:
    """The format a Python client uploads an RGB or RGBA image in."""
    return PixelFormat.RGBA8 if array.ndim == 3 and array.shape[2] == 4 else PixelFormat.RGB8
