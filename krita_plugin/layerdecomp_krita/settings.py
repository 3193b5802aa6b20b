"""The plugin's settings: what they are, their defaults, and how they are kept in Krita's settings.

Krita keeps settings as strings (``Krita.readSetting(group, key, default)``); this module turns them
into typed values and back, and knows nothing about Qt.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Optional

from . import config
from .config import config_dir, token_path
from .protocol import DEFAULT_PORT

GROUP = "layerdecomp"
# Written by the installer (installer/serverconfig.py) next to the token: how to start the server.
SERVER_SETTINGS = "server.json"


@dataclass
class Settings:
    server_url: str = f"ws://127.0.0.1:{DEFAULT_PORT}"
    # Empty: the server's own token file (config.token_path, the rule the server follows).
    token_file: str = ""
    # Empty: whatever backend the server was started with.
    backend: str = ""
    # Backend options. 0 steps: the backend's default (not sent). Seed -1 ("random" in the dialog): a new
    # random seed for every job, sent like a chosen one, so the result's metadata says which it was.
    steps: int = 0
    seed: int = -1
    # Context around the selection sent with it, in pixels; -1: a quarter of the selection's size.
    margin: int = -1
    # Start `server_command` when nothing answers at a loopback address, and stop it when Krita quits.
    auto_start: bool = True
    server_command: str = "layerdecomp serve"

    def backend_options(self, accepted: Optional[list] = None) -> dict:
        """The options to send with a job; only those the server says its backend takes (``accepted``)."""
        options = {}
        if self.steps > 0:
            options["steps"] = self.steps
        options["seed"] = self.seed if self.seed >= 0 else random.randrange(2**31)
        if accepted is not None:
            options = {k: v for k, v in options.items() if k in accepted}
        return options

    def resolved_token_file(self) -> Path:
        return Path(os.path.expanduser(self.token_file)) if self.token_file.strip() else token_path()


def read_token(settings: Settings) -> Optional[str]:
    """The token, checked by the server's own rules (``config.read_token``: a regular file of this user,
    no link, at least 16 characters); None when the file does not exist yet (the server makes it on its
    first start). ``config.TokenFileError`` and other read errors propagate: never connect with nothing."""
    try:
        return config.read_token(settings.resolved_token_file())
    except FileNotFoundError:
        return None


def _parse(kind: type, text: str, default):
    if kind is bool:
        return text.strip().lower() in ("1", "true", "yes", "on")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            return default
    return text


def installed_defaults() -> Settings:
    """The defaults, taking the server command, address and backend from the ``server.json`` the
    installer writes into the server's config folder (when there is one and it can be read)."""
    defaults = Settings()
    path = config_dir() / SERVER_SETTINGS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return defaults
    if not isinstance(data, dict):
        return defaults
    command, host, port, backend = (data.get(k) for k in ("server_command", "host", "port", "backend"))
    if isinstance(command, str) and command.strip():
        defaults.server_command = command
    if isinstance(host, str) and host and isinstance(port, int) and not isinstance(port, bool):
        defaults.server_url = f"ws://{'[' + host + ']' if ':' in host else host}:{port}"
    if isinstance(backend, str):
        defaults.backend = backend
    return defaults


def load(read: Callable[[str, str, str], str]) -> Settings:
    """Settings from ``read(group, key, default)`` (``Krita.instance().readSetting``); what the artist
    never set comes from ``installed_defaults()``."""
    defaults = installed_defaults()
    values = {}
    for f in fields(Settings):
        default = getattr(defaults, f.name)
        kind = type(default)
        raw = read(GROUP, f.name, _format(default))
        values[f.name] = _parse(kind, raw, default) if raw is not None else default
    return Settings(**values)


def save(settings: Settings, write: Callable[[str, str, str], None]) -> None:
    """Store ``settings`` through ``write(group, key, value)`` (``Krita.instance().writeSetting``)."""
    for name, value in asdict(settings).items():
        write(GROUP, name, _format(value))


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
