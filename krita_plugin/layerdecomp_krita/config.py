"""Where layerdecomp keeps its per-user settings, and the server's access token.

Standard library only: the installer reuses these helpers to write the token the plugin needs.
``LAYERDECOMP_CONFIG_DIR`` overrides the folder (tests, portable installs).
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from pathlib import Path

CONFIG_DIR_ENV = "LAYERDECOMP_CONFIG_DIR"
TOKEN_FILE = "token"


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


def read_token(path: Path | None = None) -> str:
    """The token in ``path`` (default: ``token_path()``); FileNotFoundError when there is none yet."""
    path = Path(path) if path is not None else token_path()
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ValueError(f"the token file {path} is empty: delete it and start the server to make a new one")
    return token


def read_or_create_token(path: Path | None = None) -> str:
    """The server's token, created on first use as a random string in a file only this user can read."""
    path = Path(path) if path is not None else token_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        # O_EXCL: two processes starting at once must not both write a token (one would win silently).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _tighten(path)
        return read_token(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def _tighten(path: Path) -> None:
    """Make an existing token file user-only again if something loosened it (POSIX only)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)
