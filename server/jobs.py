"""One job, in a worker thread: pixel frames in, the server's loaded ``Decomposer``, the framed result out.

No sockets and no event loop here: ``run`` returns the messages to send (a ``result`` and its frames,
or one ``error`` / ``cancelled``), so every way a job can end becomes exactly one answer.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Union

from layerdecomp import Decomposer, Decomposition
from layerdecomp.errors import Cancelled, LayerDecompError
from layerdecomp.types import CancelToken

from . import pixels
from .protocol import (
    FEATURE_PARTS,
    Decompose,
    Error,
    ErrorCode,
    PixelFormat,
    ProtocolError,
    Result,
    Role,
    encode,
    foreground_format,
    result_frames,
    upload_frames,
)
from .protocol import Cancelled as CancelledMessage

log = logging.getLogger("layerdecomp.server")

Frame = Union[str, bytearray]

# What this server does beyond the core protocol (``welcome.features``): it splits a selection into parts.
FEATURES = [FEATURE_PARTS]


def run(message: Decompose, frames: dict[Role, memoryview], *, decomposer: Decomposer,
        progress: Callable[[str, float], None], cancel: CancelToken) -> list[Frame]:
    """Decompose the job's uploaded ``frames`` (emptied as soon as they are decoded, so the received
    bytes can go) on the server's loaded backend, with the job's options over the server's defaults, and
    return what to send back."""
    job = message.job
    started = time.perf_counter()
    try:
        image_header, mask_header = upload_frames(message)
        image = pixels.frame_to_array(image_header, frames[Role.IMAGE])
        mask = pixels.frame_to_array(mask_header, frames[Role.MASK])
        frames.clear()
        result = decomposer.decompose(
            image, mask,
            margin=message.margin,
            grow=message.grow,
            progress=progress,
            cancel=cancel,
            split_parts=message.parts,
            **message.options,
        )
        del image, mask
        if cancel.is_set():
            raise Cancelled("cancelled after the last checkpoint")
        log.info("job %s done in %.1f s: %dx%d, result box %s", job, time.perf_counter() - started,
                 image_header.width, image_header.height, result.box)
        return frame_result(message, result)
    except Cancelled:
        log.info("job %s cancelled after %.1f s", job, time.perf_counter() - started)
        return [encode(CancelledMessage(job=job))]
    except LayerDecompError as exc:
        log.warning("job %s failed (%s): %s", job, exc.code, exc)
        return [encode(Error(code=exc.code, message=str(exc), job=job))]
    except ProtocolError as exc:
        log.warning("job %s refused (%s): %s", job, exc.code, exc.message)
        return [encode(Error(code=exc.code, message=exc.message, job=job))]
    except MemoryError:
        log.warning("job %s ran out of memory", job)
        return [encode(Error(code=ErrorCode.TOO_LARGE, message="the server ran out of memory on this job: "
                             "select a smaller region", job=job))]
    except Exception as exc:  # a bug: say what it was, keep serving
        log.exception("job %s failed", job)
        return [encode(Error(code=ErrorCode.INTERNAL, message=f"the server failed: {type(exc).__name__}: {exc}",
                             job=job))]


def frame_result(message: Decompose, result: Decomposition) -> list[Frame]:
    """The ``result`` message and its frames: each layer cropped to ``result.box`` (outside it nothing
    changed), the foreground and background in the upload's byte order. With 2 or more objects (a job
    that asked for ``parts``): each object's foreground and visibility cut to its own box, then the plate."""
    image_format = PixelFormat[message.format]
    box = result.box
    objects = [layer for layer in (result.objects or []) if layer.box.w and layer.box.h] if message.parts else []
    if len(objects) < 2:
        objects = []  # one part: exactly the single-object result
    reply = Result(
        job=message.job,
        width=message.width,
        height=message.height,
        box=box.as_tuple(),
        formats={
            "foreground": foreground_format(image_format).name,
            "background": image_format.name,
            "visibility": PixelFormat.A8.name,
        },
        metadata=result.metadata,
        objects=[{"box": list(layer.box.as_tuple())} for layer in objects],
    )
    if objects:
        crops = [crop for layer in objects for crop in (layer.foreground, layer.visibility)]
        crops.append(result.background[box.slices])
    else:
        crops = [result.foreground[box.slices], result.background[box.slices], result.visibility[box.slices]]
    # In result_frames' order; array_to_frame refuses a crop that does not fit its header.
    return [encode(reply), *(pixels.array_to_frame(header, crop)
                             for header, crop in zip(result_frames(reply), crops, strict=True))]
