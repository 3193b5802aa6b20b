"""The one error the installer raises: a message a person can act on (what went wrong, what to do)."""

from __future__ import annotations

import errno
import os


class InstallError(Exception):
    """Shown to the user as one clear message; the command exits with status 2."""


def explain_os_error(exc: OSError, path: os.PathLike | str, doing: str) -> InstallError:
    """Turn a low-level OSError while ``doing`` something to ``path`` into an InstallError that says what to do."""
    if exc.errno == errno.ENOSPC:
        return InstallError(f"no space left on the disk while {doing} {path}: free some space and run install again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(exc, PermissionError):
        return InstallError(
            f"cannot write to {path} while {doing} (permission denied or read-only): make the folder writable "
            "for your user (or pick another one with --krita-dir / --kritarc) and run install again"
        )
    return InstallError(f"{doing} {path} failed: {exc.strerror or exc}")
