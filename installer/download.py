"""Download one file over HTTP(S): resumable (HTTP Range), checked (sha256, size), with a progress bar.

The bytes go to ``<file>.part`` and are renamed to ``<file>`` only once the checksum matches, so a file under
its final name is always a complete, verified one. An interrupted download keeps its ``.part`` and the next
call asks the server for the rest (``Range: bytes=N-``); a checksum mismatch deletes the ``.part`` (resuming
would keep the bad bytes). Standard library only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from .errors import InstallError, explain_os_error

CHUNK = 1 << 20
SPACE_MARGIN = 256 << 20  # keep some room free beyond the file itself


class HttpStatusError(InstallError):
    """The server answered with an error status (the caller may explain 401/403 better)."""

    def __init__(self, url: str, status: int, headers, message: str):
        super().__init__(message)
        self.url, self.status, self.headers = url, status, headers


class _SameHostAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never send the access token on to another host (the hub's CDN)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_SameHostAuthRedirect())


def human_size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


class Progress:
    """A one-line progress bar on stderr (a line every 10% when stderr is not a terminal)."""

    def __init__(self, label: str, total: int | None, done: int = 0, stream=None):
        self.label, self.total, self.done = label, total, done
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.started, self.start_done = time.monotonic(), done
        self.last_draw, self.last_decile = 0.0, -1

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.tty and now - self.last_draw < 0.2:
            return
        self.last_draw = now
        self._draw(now)

    def _draw(self, now: float, final: bool = False) -> None:
        rate = (self.done - self.start_done) / max(now - self.started, 1e-6)
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            decile = int(fraction * 10)
            if not self.tty and decile == self.last_decile and not final:
                return
            self.last_decile = decile
            bar = "#" * int(fraction * 30)
            text = (f"  {self.label} [{bar:<30}] {fraction:4.0%} {human_size(self.done)}/{human_size(self.total)}"
                    f" {human_size(rate)}/s")
        else:
            text = f"  {self.label} {human_size(self.done)} {human_size(rate)}/s"
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.monotonic(), final=True)
        if self.tty:
            self.stream.write("\n")


def file_sha256(path: Path, digest=None) -> "hashlib._Hash":
    digest = digest or hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest


def check_free_space(folder: Path, needed: int, disk_usage=shutil.disk_usage, option: str = "--weights-dir") -> None:
    free = disk_usage(folder).free
    if free < needed + SPACE_MARGIN:
        raise InstallError(
            f"not enough disk space in {folder}: {human_size(needed)} more is needed and {human_size(free)} is free; "
            f"free some space (or choose another folder with {option}) and run install again"
        )


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    size: int | None = None,
    headers: dict[str, str] | None = None,
    label: str | None = None,
    disk_usage: Callable = shutil.disk_usage,
    timeout: float = 60,
    stream=None,
) -> str:
    """Fetch ``url`` into ``dest``; returns the file's sha256. ``sha256=None`` only records it (trust on first use)."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    label = label or dest.name
    verified = _verified_copy(dest, sha256)
    if verified is not None:
        return verified
    have = _resume_point(part, size)
    if size is not None:
        check_free_space(dest.parent, size - have, disk_usage)
    response = _request(url, headers, have, label, timeout)
    try:
        digest = _receive(response, part, have, size, label, disk_usage, stream)
    except (http.client.IncompleteRead, ConnectionError, TimeoutError, urllib.error.URLError) as exc:
        raise InstallError(
            f"the download of {label} was interrupted ({exc.__class__.__name__}): run install again to resume it "
            f"(kept {human_size(part.stat().st_size if part.exists() else 0)} in {part})"
        ) from exc
    except OSError as exc:
        raise explain_os_error(exc, part, "downloading to") from exc
    actual = _check(part, size, sha256, digest.hexdigest(), label)
    os.replace(part, dest)
    return actual


def _verified_copy(dest: Path, sha256: str | None) -> str | None:
    """The sha256 of ``dest`` when it is already there and right; a changed one is deleted (fetched again)."""
    if not dest.is_file():
        return None
    if sha256 is None or file_sha256(dest).hexdigest() == sha256:
        return sha256 or file_sha256(dest).hexdigest()
    dest.unlink()
    return None


def _resume_point(part: Path, size: int | None) -> int:
    """How many bytes of an earlier try ``part`` holds to resume from (0: start afresh)."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        return 0
    return have


def _request(url: str, headers: dict[str, str] | None, have: int, label: str, timeout: float):
    """The server's response, asking for the bytes after ``have``; None when it has nothing more to send."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        return _opener().open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is already whole
            return None
        raise HttpStatusError(url, exc.code, exc.headers,
                              f"downloading {label} failed: the server answered {exc.code} {exc.reason}; "
                              "run install again later (what was downloaded is kept)") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(
            f"cannot reach {urllib.parse.urlsplit(url).netloc} to download {label} ({reason}): check the internet "
            "connection and run install again (or install from files on disk with --offline --weights DIR)"
        ) from exc


def _receive(response, part: Path, have: int, size: int | None, label: str, disk_usage: Callable,
             stream) -> "hashlib._Hash":
    """Append the response's bytes to ``part`` (after its ``have`` bytes), with a progress bar; the
    sha256 of the whole ``part``."""
    digest = hashlib.sha256()
    if response is None:
        return file_sha256(part, digest)
    with response:
        if response.status == 200 and have:  # the server ignored Range: start over
            have = 0
        if have:
            file_sha256(part, digest)
        total = size
        if total is None:
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            if total is not None:
                check_free_space(part.parent, total - have, disk_usage)
        progress = Progress(label, total, have, stream)
        with open(part, "ab" if have else "wb") as out:
            while block := response.read(CHUNK):
                out.write(block)
                digest.update(block)
                progress.update(len(block))
        progress.close()
    return digest


def _check(part: Path, size: int | None, sha256: str | None, actual: str, label: str) -> str:
    """``actual`` once ``part`` has the expected size and checksum; a damaged or oversized one is deleted."""
    got_size = part.stat().st_size
    if size is not None and got_size != size:
        if got_size < size:
            raise InstallError(f"the download of {label} stopped early ({human_size(got_size)} of "
                               f"{human_size(size)}): run install again to resume it")
        part.unlink()
        raise InstallError(f"{label} is larger than expected ({got_size} bytes, not {size}): the partial file was "
                           "deleted; run install again")
    if sha256 is not None and actual != sha256:
        part.unlink()
        raise InstallError(
            f"checksum mismatch for {label}: expected sha256 {sha256}, got {actual}. The damaged download was deleted; "
            "run install again to fetch it afresh (if it fails again, the file at the source has changed: report it)"
        )
    return actual
