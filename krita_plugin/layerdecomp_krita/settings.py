"""The plugin's settings: what they are, their defaults, and how they are kept in Krita's settings.

Krita keeps settings as strings (``Krita.readSetting(group, key, default)``); this module turns them
into typed values and back, and knows nothing about Qt.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

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
    # The per-job options the artist set, by name (the server's welcome.schema says which there are). A
    # seed option left out: a new random seed for every job, sent like a chosen one, so the result's
    # metadata says which it was.
    options: dict = field(default_factory=dict)
    # Context around the selection sent with it, in pixels; -1: a quarter of the selection's size.
    margin: int = -1
    # "One layer per separate part": a selection of separate parts gives one Object layer per part over one
    # clean plate (asked of servers that announce it).
    split_parts: bool = True
    # Start `server_command` when nothing answers at a loopback address, and stop it when Krita quits.
    auto_start: bool = True
    server_command: str = "layerdecomp serve"
    # What the server said about itself when last asked (``announced``): its backend, methods and option
    # schema, so the settings can draw the method's options without a connection.
    announced: dict = field(default_factory=dict)

    def backend_options(self, schema: list) -> dict:
        """The options to send with a job: of those the server's backend takes (``schema``, its welcome's),
        the ones the artist set with a value of the right kind, and a fresh seed for a seed left unset."""
        options = {}
        for entry in schema:
            name, kind = entry.get("name"), entry.get("type")
            value = self.options.get(name)
            if value is not None and fits(entry, value):
                options[name] = value
            elif kind == "seed":
                low = int(entry.get("min", 0))
                options[name] = random.randint(low, max(low, min(int(entry.get("max", SEED_MAX)), SEED_MAX)))
        return options

    def resolved_token_file(self) -> Path:
        return Path(os.path.expanduser(self.token_file)) if self.token_file.strip() else token_path()


# The largest seed the plugin draws (and its spin box shows: Qt's are 32-bit signed).
SEED_MAX = 2**31 - 1


def fits(entry: dict, value: Any) -> bool:
    """Whether ``value`` is one the schema ``entry`` allows (its type, range or choices)."""
    kind = entry.get("type")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "choice":
        return value in [c.get("value") for c in entry.get("choices", [])]
    if kind in ("int", "seed", "float"):
        ok = number and (kind == "float" or isinstance(value, int))
        low, high = entry.get("min"), entry.get("max")
        return ok and (low is None or value >= low) and (high is None or value <= high)
    return False


def announced_by(welcome: Any) -> dict:
    """What to keep of a server's ``welcome`` (Settings.announced)."""
    return {"backend": welcome.backend, "methods": list(welcome.methods), "schema": list(welcome.schema)}


def remember_announced(announced: dict, write: Callable[[str, str, str], None]) -> None:
    """Keep what a server announced (``Settings.announced``) for the settings dialog, without a save of
    the rest (the artist may have the dialog open)."""
    write(GROUP, "announced", _format(announced))


def read_token(settings: Settings) -> Optional[str]:
    """The token, checked by the server's own rules (``config.read_token``: a regular file of this user,
    no link, at least 16 characters); None when the file does not exist yet (the server makes it on its
    first start). ``config.TokenFileError`` and other read errors propagate: never connect with nothing."""
    try:
        return config.read_token(settings.resolved_token_file())
    except FileNotFoundError:
        return None


def _parse(kind: type, text: str, default):
    if kind is dict:
        try:
            value = json.loads(text)
        except ValueError:
            return default
        return value if isinstance(value, dict) else default
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
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
