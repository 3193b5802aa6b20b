"""A server on its own event loop in a daemon thread: for tests, benchmarks and embedding."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Optional

from .app import DecompositionServer, ServerConfig


class ThreadedServer:
    """A server on its own loop in a daemon thread (tests, benchmarks, embedding):

        with ThreadedServer(ServerConfig(port=0, token="t")) as server:
            Client(server.url, token="t").decompose(...)
    """

    def __init__(self, config: ServerConfig) -> None:
        self.server = DecompositionServer(config)
        self._loop = asyncio.new_event_loop()
        self._stop: Optional[asyncio.Event] = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="layerdecomp-server", daemon=True)
        self._error: Optional[BaseException] = None

    @property
    def url(self) -> str:
        assert self.server.url is not None
        return self.server.url

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._stop = asyncio.Event()
            self._loop.run_until_complete(self.server.serve(self._stop, lambda url: self._ready.set()))
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def start(self) -> "ThreadedServer":
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the server's loop and return its result (to read state safely)."""
        async def wrapper() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def stats(self) -> dict[str, int]:
        return self.call(self.server.stats)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> "ThreadedServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
