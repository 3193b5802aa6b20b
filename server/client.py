"""A Python client for ``layerdecomp serve``: the same ``decompose`` as the library, run by a server.

    from layerdecomp_server.client import Client
    with Client("ws://127.0.0.1:8765") as client:       # token: the user's token file by default
        result = client.decompose(image, mask, progress=print, steps=28)

``result`` is the ``Decomposition`` the in-process ``layerdecomp.decompose`` returns, bit for bit
(full-size layers rebuilt from the server's crop and offset; metadata as the server measured it).
Only the region the library works on travels (see ``Client.upload_region_only``), as with the plugin.
Speaks ``layerdecomp_server.protocol``, like the Krita plugin; one job at a time per ``Client``.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Optional, Union

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from layerdecomp.config import read_token
from layerdecomp.errors import BackendUnavailable, Cancelled, InvalidInput, LayerDecompError
from layerdecomp.layering import from_crop_layers
from layerdecomp.crop import crop_rect
from layerdecomp.options import check_geometry
from layerdecomp.parts import whole_object
from layerdecomp.region import selection_bounds
from layerdecomp.types import Box, CancelToken, Decomposition, ObjectLayer, ProgressCallback
from layerdecomp.validate import validate

from . import pixels, protocol
from .protocol import DEFAULT_PORT, ErrorCode, Role

DEFAULT_URL = f"ws://127.0.0.1:{DEFAULT_PORT}"
# How often a waiting decompose looks at its cancel token.
CANCEL_POLL_S = 0.05
# A server flooded by sockets that never authenticate may evict a handshake under way (busy, or the
# socket aborted): try again this many times in all, waiting a little longer each time.
HANDSHAKE_TRIES = 4
HANDSHAKE_RETRY_S = 0.05


class ServerError(LayerDecompError):
    """The server refused or failed a job, or the connection broke. ``code``: the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_ERRORS = {
    ErrorCode.INVALID_INPUT: InvalidInput,
    ErrorCode.BACKEND_UNAVAILABLE: BackendUnavailable,
    ErrorCode.CANCELLED: Cancelled,
}


def _error(code: str, message: str) -> LayerDecompError:
    cls = _ERRORS.get(code)
    return cls(message) if cls is not None else ServerError(code, message)


class Client:
    def __init__(self, url: str = DEFAULT_URL, token: Optional[str] = None, *, name: str = "layerdecomp_server.client",
                 open_timeout: float = 10.0, upload_region_only: bool = True) -> None:
        """``upload_region_only``: send only the crop the server will work on (the selection's bounds plus
        margin, as the library plans it) rather than the whole picture; the result is the same, bit for
        bit, and a big canvas costs what its selection costs. False sends everything (for benchmarks)."""
        self.url = url
        self.upload_region_only = upload_region_only
        if token is None:
            try:
                token = read_token()
            except FileNotFoundError:
                raise ServerError(ErrorCode.UNAUTHORIZED, "no token file yet: start the server once "
                                  "(layerdecomp serve) or pass token=...") from None
        self._token = token
        self._name = name
        self._open_timeout = open_timeout
        self._ws: Optional[ClientConnection] = None
        self._job_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.welcome: Optional[protocol.Welcome] = None
        self._channel: Optional[protocol.Channel] = None  # the session's tags (protocol 3)

    # ---------------------------------------------------------------------------------- connection

    def connect(self) -> protocol.Welcome:
        """Open the connection and authenticate both ways (``decompose`` does this on first use, and again
        when the server closed an idle connection)."""
        if self._ws is not None and self.welcome is not None:
            if self._ws.protocol.state is State.OPEN:
                return self.welcome
            self.close()
        for attempt in range(HANDSHAKE_TRIES):
            try:
                return self._open()
            except ServerError as exc:
                if exc.code not in (ErrorCode.BUSY, "closed") or attempt == HANDSHAKE_TRIES - 1:
                    raise
            time.sleep(HANDSHAKE_RETRY_S * 2**attempt)
        raise AssertionError("unreachable")

    def _open(self) -> protocol.Welcome:
        try:
            # Until the server has proved it knows the token, read no more than a handshake needs.
            ws = connect(self.url, compression=None, max_size=protocol.CLIENT_PRE_AUTH_MAX_BYTES,
                         open_timeout=self._open_timeout)
        except (OSError, InvalidURI, TimeoutError) as exc:
            raise ServerError("unreachable", f"cannot reach the layerdecomp server at {self.url} ({exc}); "
                              "start it with: layerdecomp serve") from None
        except InvalidStatus as exc:
            body = exc.response.body.decode(errors="replace").strip()[:200]
            raise ServerError("refused", f"the server at {self.url} refused the connection "
                              f"(HTTP {exc.response.status_code}: {body})") from None
        # The address the socket really reached, not the URL's name: the proofs cover it.
        peer = ws.socket.getpeername()
        handshake = protocol.ClientHandshake(self._token, client=self._name, address=protocol.endpoint(*peer[:2]))
        try:
            ws.send(protocol.encode(handshake.hello))
            ws.send(protocol.encode(handshake.answer(self._decode(ws.recv(timeout=self._open_timeout)))))
            assert handshake.channel is not None
            welcome = handshake.welcome(self._decode(ws.recv(timeout=self._open_timeout), handshake.channel))
        except ConnectionClosed as exc:
            ws.close()
            raise ServerError("closed", f"the server closed the connection during the handshake ({exc})") from None
        except TimeoutError:
            ws.close()
            raise ServerError(ErrorCode.TIMEOUT, f"the server did not answer the handshake within "
                              f"{self._open_timeout:g} s") from None
        except protocol.Refused as exc:
            ws.close()
            raise _error(exc.code, exc.message) from None
        except protocol.ProtocolError as exc:
            ws.close()
            raise ServerError(exc.code, exc.message) from None
        ws.protocol.max_size = protocol.MAX_TEXT_BYTES
        self._ws, self.welcome, self._channel = ws, welcome, handshake.channel
        return welcome

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
            self.welcome = None

    def __enter__(self) -> "Client":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def _decode(data: Any, channel: Optional[protocol.Channel] = None) -> protocol.Message:
        if not isinstance(data, str):
            raise ServerError(ErrorCode.BAD_FRAME, "the server sent pixels where a message was expected")
        try:
            return protocol.decode(channel.open_text(data) if channel is not None else data)
        except protocol.ProtocolError as exc:
            raise ServerError(exc.code, f"the server sent a bad message: {exc.message}") from None

    # ---------------------------------------------------------------------------------------- jobs

    def decompose(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        backend: str = "auto",
        *,
        margin: Optional[int] = None,
        grow: Optional[int] = None,
        progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None,
        split_parts: bool = False,
        **options: Any,
    ) -> Decomposition:
        """As :func:`layerdecomp.decompose`, on the server. ``cancel.is_set()`` stops the job
        (raises :class:`~layerdecomp.Cancelled` once the server confirms). ``split_parts``: one object
        layer per separate part (``Decomposition.objects``), from a server whose welcome lists "parts"."""
        image, mask = validate(image, mask)  # the library's own checks and messages, before any upload
        with self._lock:
            welcome = self.connect()
            assert self._ws is not None
            if split_parts and protocol.FEATURE_PARTS not in welcome.features:
                raise ServerError("unsupported", f"the server at {self.url} ({welcome.server}) cannot split a "
                                  "selection into parts: update it, or leave split_parts off")
            try:
                outcome = self._run(self._ws, image, mask, backend, margin, grow, progress, cancel, options,
                                    split_parts)
            except ConnectionClosed as exc:
                self.close()
                raise ServerError("closed", f"the server closed the connection ({exc})") from None
            except BaseException:
                # Anything else mid-job (the progress callback raised, Ctrl+C, a confused server) leaves
                # unread messages behind: start afresh next time rather than read someone else's answer.
                self.close()
                raise
        if isinstance(outcome, LayerDecompError):
            raise outcome  # the job's own end (refused, failed, cancelled): the connection is fine
        return outcome

    def _run(self, ws: ClientConnection, image: np.ndarray, mask: np.ndarray, backend: str,
             margin: Optional[int], grow: Optional[int], progress: Optional[ProgressCallback],
             cancel: Optional[CancelToken], options: dict[str, Any],
             split_parts: bool = False) -> Union[Decomposition, LayerDecompError]:
        """Send one job and follow it to its end: the result, or the error the server ended it with."""
        region = self._upload_region(mask, margin, grow) if self.upload_region_only else None
        region = region or Box(0, 0, mask.shape[1], mask.shape[0])
        request = protocol.Decompose(
            job=next(self._job_ids), width=region.w, height=region.h, format=pixels.image_format(image).name,
            backend=None if backend == "auto" else backend, margin=margin, grow=grow, options=options,
            parts=split_parts,
        )
        job = protocol.ClientJob(request)
        image_header, mask_header = job.upload_headers
        channel = self._channel
        assert channel is not None
        ws.protocol.max_size = max(protocol.MAX_TEXT_BYTES, job.result_max_bytes)
        ws.send(channel.seal_text(protocol.encode(request)))
        for header, array in ((image_header, image), (mask_header, mask)):
            frame = pixels.array_to_frame(header, np.ascontiguousarray(array[region.slices]))
            ws.send([frame, channel.binary_tag(frame)])  # one message in two fragments: no copy of the pixels

        while not job.done:
            if cancel is not None and cancel.is_set():
                message = job.cancel()
                if message is not None:
                    ws.send(channel.seal_text(protocol.encode(message)))
            try:
                data = ws.recv(timeout=CANCEL_POLL_S if cancel is not None and not job.cancel_sent else None)
            except TimeoutError:
                continue
            try:
                # A message or frame without the session's tag is refused before it is read.
                item = (protocol.decode(channel.open_text(data)) if isinstance(data, str)
                        else protocol.unpack_frame(channel.open_binary(data)))
                update = job.receive(item)
            except protocol.ProtocolError as exc:
                raise ServerError(exc.code, f"the server sent something wrong: {exc.message}") from None
            if update is not None and progress is not None:
                progress(update.stage, update.fraction)
        if job.outcome == "cancelled":
            return Cancelled("the decomposition was cancelled")
        if job.outcome == "error":
            assert job.error is not None
            if job.error.job is None:
                raise _error(job.error.code, job.error.message)  # about the connection: it is going
            return _error(job.error.code, job.error.message)
        assert job.result is not None
        result = self._assemble(job, image, region)
        if split_parts and result.objects is None:
            result.objects = [whole_object(result)]  # one part: the library's one-layer list
        return result

    @staticmethod
    def _upload_region(mask: np.ndarray, margin: Optional[int], grow: Optional[int]) -> Optional[Box]:
        """The crop the library will work on, when sending only it gives the same result; else None.

        The library's region is the selection's bounds plus grow and margin (``crop_rect``); planned again on
        exactly that crop it is the whole crop, with the same hole, so the backend sees the same input. Two
        checks would differ on the crop (a mask that fills it; a crop under 2 px), so those send everything.
        """
        canvas = (0, 0, mask.shape[1], mask.shape[0])
        try:
            grow_used = check_geometry(margin, grow)
        except InvalidInput:
            return None  # a negative margin or grow: let the server say so
        box = Box(*crop_rect(selection_bounds(mask).as_tuple(), canvas, margin, grow_used))
        if (box.w, box.h) == (mask.shape[1], mask.shape[0]) or box.w < 2 or box.h < 2:
            return None
        if mask[box.slices].min() == 255:
            return None
        return box

    @staticmethod
    def _assemble(job: protocol.ClientJob, image: np.ndarray, region: Box) -> Decomposition:
        result = job.result
        assert result is not None
        x, y, w, h = result.box
        box = Box(region.x + x, region.y + y, w, h)  # from the uploaded crop's coordinates to the picture's
        arrays = [(header, pixels.frame_to_array(header, view)) for header, view in job.received]
        metadata = dict(result.metadata)
        if "box" in metadata:
            metadata["box"] = list(box.as_tuple())
        if not result.objects:
            crops = {header.role: array for header, array in arrays}
            # The server sends only the box; outside it the layers are "transparent / the input / not visible".
            return from_crop_layers(image, box, crops[Role.FOREGROUND], crops[Role.BACKGROUND],
                                    crops[Role.VISIBILITY], metadata)
        # Objects: (foreground, visibility) per object at its own box, bottom to top, then the plate at the box.
        objects = [ObjectLayer(np.array(fg), np.array(vis), Box(region.x + at.x, region.y + at.y, at.width, at.height))
                   for (at, fg), (_, vis) in zip(arrays[0:-1:2], arrays[1:-1:2])]
        if "parts" in metadata:
            metadata["parts"] = [{"box": list(layer.box.as_tuple())} for layer in objects]
        decomposition = from_crop_layers(image, box, np.zeros((h, w, 4), np.uint8), arrays[-1][1],
                                         np.zeros((h, w), np.uint8), metadata)
        for layer in objects:
            layer.paste(decomposition.foreground, decomposition.visibility)
        decomposition.objects = objects
        return decomposition
