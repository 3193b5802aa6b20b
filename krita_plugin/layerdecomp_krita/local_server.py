"""Starting ``layerdecomp serve`` on this computer when nothing answers, and stopping it again.

Only a server this plugin started is ever stopped by it. The process gets its own session (so a
Ctrl+C in the terminal Krita was started from does not hit it twice). It logs to ``server.log`` in the
user's log folder (``serve --log-file``: size-capped and rotated), and what it prints (its address, or a
crash before its logging starts) goes to ``server-output.log`` there, started afresh each time; the last
lines of that are logged when it fails to start.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import subprocess
import threading
from pathlib import Path
from typing import List, Optional
from urllib.parse import urlsplit

from .config import log_dir
from .protocol import DEFAULT_PORT

log = logging.getLogger("layerdecomp_krita")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SERVER_LOG = "server.log"
OUTPUT_LOG = "server-output.log"


def is_local(url: str) -> bool:
    try:
        return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
    except ValueError:
        return False


def serve_arguments(command: str, url: str, backend: str = "") -> List[str]:
    """The command line: the configured command, plus the host and port of ``url`` and the backend."""
    parts = urlsplit(url)
    argv = shlex.split(command, posix=os.name != "nt")
    if not argv:
        raise ValueError("the server command is empty")
    argv += ["--host", parts.hostname or "127.0.0.1", "--port", str(parts.port or DEFAULT_PORT)]
    if backend and backend != "auto":
        argv += ["--backend", backend]
    return argv


class LocalServer:
    """The one server process this plugin may have started (thread-safe: started from the worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.process: Optional[subprocess.Popen] = None
        self.log_path: Optional[Path] = None

    def running(self) -> bool:
        with self._lock:
            return self.process is not None and self.process.poll() is None

    def start(self, argv: List[str]) -> subprocess.Popen:
        """Start ``argv`` unless our server is already running. Raises OSError when it cannot start."""
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                return self.process
            folder = log_dir()
            folder.mkdir(parents=True, exist_ok=True)
            self.log_path = folder / OUTPUT_LOG
            argv = list(argv) + ["--log-file", str(folder / SERVER_LOG)]
            env = dict(os.environ)
            # Krita's embedded Python may set these for itself (its own home and module folders); the
            # server runs in its own interpreter and environment.
            for variable in ("PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE"):
                env.pop(variable, None)
            kwargs = {}
            if os.name == "nt":
                kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
            else:
                kwargs["start_new_session"] = True
            with open(self.log_path, "wb") as out:
                self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                env=env, **kwargs)
            log.info("started the local server (pid %d): %s; its output: %s", self.process.pid, " ".join(argv),
                     self.log_path)
            return self.process

    def exit_code(self) -> Optional[int]:
        with self._lock:
            return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 5) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " / ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server if this plugin started it (SIGTERM, then kill after ``timeout`` seconds)."""
        with self._lock:
            process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        log.info("stopping the local server (pid %d)", process.pid)
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


# The plugin's one instance: Krita's quit stops it (see extension.py), atexit covers the rest.
LOCAL = LocalServer()
atexit.register(LOCAL.stop)
