"""The server's per-user settings, through ``layerdecomp.config`` (the one place that knows its folder).

The installer must run from any Python, including one without numpy, and importing the ``layerdecomp``
package would import numpy; ``layerdecomp/config.py`` is standard library only, so it is loaded on its own.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

MANIFEST_NAME = "install-manifest.json"
SETTINGS_NAME = "server.json"


def _config_file() -> Path:
    spec = importlib.util.find_spec("layerdecomp")  # finds the package without running its __init__
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]) / "config.py"
    return Path(__file__).resolve().parent.parent / "layerdecomp" / "config.py"


def config_module() -> ModuleType:
    name = "layerdecomp.config"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location("_layerdecomp_config_for_installer", _config_file())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _protocol_constants() -> ModuleType:
    # server/protocol/constants.py imports nothing; loaded on its own for the same reason (importing the
    # ``layerdecomp_server`` package would import the core, and so numpy).
    path = Path(__file__).resolve().parent.parent / "server" / "protocol" / "constants.py"
    spec = importlib.util.spec_from_file_location("_layerdecomp_protocol_constants_for_installer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The server's port unless told otherwise (the one DEFAULT_PORT, in the protocol package).
DEFAULT_PORT: int = _protocol_constants().DEFAULT_PORT


def config_dir() -> Path:
    return config_module().config_dir()


def manifest_path() -> Path:
    return config_dir() / MANIFEST_NAME


def settings_path() -> Path:
    return config_dir() / SETTINGS_NAME


def settings_bytes(settings: dict) -> bytes:
    return (json.dumps(settings, indent=2, sort_keys=True) + "\n").encode()
