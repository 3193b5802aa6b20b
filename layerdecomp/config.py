"""Where layerdecomp keeps its per-user settings, and the server's access token.

Standard library only: the installer reuses these helpers to write the token the plugin needs.
``LAYERDECOMP_CONFIG_DIR`` overrides the folder (tests, portable installs).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
import sys
from pathlib import Path

CONFIG_DIR_ENV = "LAYERDECOMP_CONFIG_DIR"
TOKEN_FILE = "token"
# A token is a secret both sides prove they know (docs/protocol.md); a short one could be guessed from
# one overheard proof. The server makes 43 characters (32 random bytes).
MIN_TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 1024

log = logging.getLogger("layerdecomp.config")


def config_dir() -> Path:
    """The per-user configuration folder (not created here)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / "layerdecomp"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "layerdecomp"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "layerdecomp"


def token_path() -> Path:
    return config_dir() / TOKEN_FILE


# Logs: each file is kept under LOG_MAX_BYTES, with LOG_BACKUPS older ones beside it (name.log.1, ...).
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3


def log_dir() -> Path:
    """The per-user folder for the plugin's and the server's logs (not created here): the user's data
    folder (``LAYERDECOMP_CONFIG_DIR``/logs where that is set, so a portable install keeps it together)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser() / "logs"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "layerdecomp" / "logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "layerdecomp"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "layerdecomp" / "logs"


def log_file_handler(path: Path) -> logging.Handler:
    """A handler writing to ``path`` (its folder made if needed), size-capped and rotated."""
    from logging.handlers import RotatingFileHandler

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    return handler


class TokenFileError(ValueError):
    """A token file that must not be used as it is; the message says what to do."""


def read_token(path: Path | None = None) -> str:
    """The token in ``path`` (default: ``token_path()``): the file's text without surrounding whitespace.

    FileNotFoundError when there is none yet. ``TokenFileError`` when the file is a symbolic link, not a
    regular file, someone else's, empty or shorter than ``MIN_TOKEN_CHARS``, or its folder is another
    user's or writable by others (``check_config_dir``). A file that others may read (POSIX) is made
    user-only again, with a warning: whoever read it may know the token, so the warning says how to make
    a new one. The file is opened without blocking, so a FIFO in its place is refused, not waited on.
    """
    path = Path(path) if path is not None else token_path()
    check_config_dir(path.parent)
    if path.is_symlink():  # (O_NOFOLLOW below closes the race where the platform has it)
        raise _symlink_error(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_error(path) from None
        raise
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TokenFileError(f"the token file {path} is not a regular file: remove it and start the server "
                                 "to make a new one")
        if os.name == "posix":
            if info.st_uid != os.getuid():
                raise TokenFileError(f"the token file {path} belongs to another user: remove it and start the "
                                     "server to make a new one")
            if stat.S_IMODE(info.st_mode) & 0o077:
                os.fchmod(fd, 0o600)
                log.warning("the token file %s could be read by other users; it is user-only again, but "
                            "whoever read it may know the token: delete the file and restart the server for "
                            "a new one", path)
        token = f.read(MAX_TOKEN_CHARS + 1).strip()
    if not token:
        raise TokenFileError(f"the token file {path} is empty: delete it and start the server to make a new one")
    if len(token) < MIN_TOKEN_CHARS or len(token) > MAX_TOKEN_CHARS:
        raise TokenFileError(f"the token in {path} has {len(token)} characters; it must have "
                             f"{MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS}: delete the file and start the server to "
                             "make a new one")
    return token


def _symlink_error(path: Path) -> TokenFileError:
    return TokenFileError(f"the token file {path} is a symbolic link, which layerdecomp does not follow: "
                          "replace it with the file itself")


def check_config_dir(folder: Path) -> None:
    """Refuse (``TokenFileError``) a token's folder that is another user's, or that others may write to
    and which is not ours to fix: whoever can write there can replace the token file (POSIX; a missing
    folder passes: the token file is then missing too)."""
    if os.name != "posix":
        return
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return
    if info.st_uid != os.getuid():
        raise TokenFileError(f"the layerdecomp config folder {folder} belongs to another user, who could replace "
                             f"the token: use a folder of your own ({CONFIG_DIR_ENV})")
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise TokenFileError(f"other users may write into the layerdecomp config folder {folder} and replace the "
                             f"token: make it yours alone (chmod 700 {folder}), then delete the token file and "
                             "start the server for a new one")


def make_config_dir(folder: Path | None = None) -> Path:
    """The config folder, created user-only (0700); an existing one of ours that others can enter is
    tightened, with a warning (POSIX). Another user's folder is refused (``check_config_dir``)."""
    folder = Path(folder) if folder is not None else config_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        info = folder.stat()
        if info.st_uid != os.getuid():
            check_config_dir(folder)
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(folder, 0o700)
            log.warning("the layerdecomp config folder %s was open to other users; it is user-only again", folder)
    return folder


def read_or_create_token(path: Path | None = None) -> str:
    """The server's token, created on first use as a random string in a file only this user can read
    (in a folder only this user can enter)."""
    path = Path(path) if path is not None else token_path()
    make_config_dir(path.parent)
    token = secrets.token_urlsafe(32)
    try:
        # O_EXCL: two processes starting at once must not both write a token (one would win silently);
        # O_NOFOLLOW: never write through a link someone planted.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        return read_token(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


class TokenWatcher:
    """The server's token, read again whenever its file changes: a new token is asked of connections
    that start after the change (connections already authenticated stay). A changed file that cannot
    be used (missing, a link, too short, ...) leaves the last good token in force, with a warning."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else token_path()
        self._token = read_or_create_token(self.path)
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple | None:
        try:
            info = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)

    @property
    def current(self) -> str:
        """The token in force, without touching the disk (the server's event loop asks this)."""
        return self._token

    def __call__(self) -> str:
        """``refresh()``, then the token in force."""
        self.refresh()
        return self._token

    def refresh(self) -> None:
        """Read the file again if it changed (file I/O: the server runs this off its event loop)."""
        stamp = self._read_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                token = read_token(self.path)
            except (OSError, ValueError) as exc:
                log.warning("the token file changed but cannot be used (%s); the previous token stays in force",
                            exc)
            else:
                if token != self._token:
                    log.warning("the token file changed: new connections must use the new token")
                self._token = token
