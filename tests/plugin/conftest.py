"""Shared fixtures for the plugin tests.

The plugin is always tested as packaged (``installer.package.stage_plugin``): with the copy of
server/protocol/ and the bundled websockets that the zip carries. The fast tests load its logic
modules against the fake ``krita`` module in fake_krita/ without running the package's ``__init__``
(which registers the extension and pulls in Qt); the Qt-facing modules are imported under PyQt6 in a
subprocess (test_qt6.py) and run for real in Krita (test_krita_*.py).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from installer.package import PLUGIN_NAME, stage_plugin

from .krita_versions import SYSTEM_PATH, KritaInstall, check_available, describe, installs

HERE = Path(__file__).resolve().parent
FAKE_KRITA = HERE / "fake_krita"
REPO = HERE.parent.parent


def pytest_generate_tests(metafunc):
    """A test that takes ``krita_install`` runs once in each Krita release (krita_versions.py)."""
    if "krita_install" in metafunc.fixturenames:
        found = installs()
        metafunc.parametrize("krita_install", found, ids=[k.id for k in found], indirect=True)


@pytest.fixture
def krita_install(request):
    """The Krita release this run of the test uses; the test fails if the machine lacks it."""
    check_available(request.param)
    return request.param


@pytest.fixture(scope="session")
def staged_plugin(tmp_path_factory) -> Path:
    """A folder holding the plugin exactly as the zip lays it out."""
    return stage_plugin(tmp_path_factory.mktemp("staged") / "plugin")


@pytest.fixture(scope="session")
def plugin(staged_plugin):
    """The plugin package (``layerdecomp_krita``) with its logic modules importable, extension not registered."""
    sys.path.insert(0, str(FAKE_KRITA))
    package = types.ModuleType(PLUGIN_NAME)
    package.__path__ = [str(staged_plugin / PLUGIN_NAME)]
    sys.modules[PLUGIN_NAME] = package
    for name in ("region", "messages", "settings", "local_server", "client", "canvas", "controller"):
        importlib.import_module(f"{PLUGIN_NAME}.{name}")
    yield package
    for name in [n for n in sys.modules if n == PLUGIN_NAME or n.startswith(PLUGIN_NAME + ".")]:
        del sys.modules[name]
    sys.modules.pop("krita", None)
    sys.path.remove(str(FAKE_KRITA))


@pytest.fixture
def krita(plugin, tmp_path_factory, monkeypatch):
    """A fresh fake Krita instance (and an empty server config folder, whatever this machine has)."""
    import krita as fake

    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path_factory.mktemp("layerdecomp-config")))

    fake.Krita._instance = None
    return fake.Krita.instance()


class KritaLauncher:
    """How the tests start real Krita: headless through ``kritarunner`` (no window) and with its GUI under
    Xvfb. Every real-Krita test goes through the ``krita_launcher`` fixture, which is parametrised over
    the Krita releases in krita_versions.py (this machine's, and 5.2/5.3 in chroots): ``version`` names
    the one a run uses, and the test id says it (``[krita-5.2.9]``)."""

    def __init__(self, install: KritaInstall) -> None:
        self.install = install
        self.name = install.suite
        self.version = install.version
        self.krita = install.tool("krita")
        for tool in ("kritarunner", "xvfb-run", "xauth"):
            install.tool(tool)

    def headless(self, args: list, env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        """``kritarunner ARGS`` (``-s MODULE -f FUNCTION ...``); env from ``clean_env``."""
        return subprocess.run(self.install.command("kritarunner", *args), env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=timeout)

    def gui(self, env: dict, cwd: Path, log) -> subprocess.Popen:
        """Krita's GUI on a virtual screen, in its own process group (kill it with os.killpg)."""
        # xvfb-run -a takes the first free display from -n on; runs started at once on this machine (several
        # test sessions) raced for the same one ("could not connect to display"): each process starts its
        # search elsewhere.
        first = 100 + (os.getpid() * 7919) % 20000
        command = self.install.command("xvfb-run", "-a", "-n", str(first), "-s", "-screen 0 1600x1000x24", "krita",
                                       "--nosplash")
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.fixture
def krita_launcher(krita_install) -> KritaLauncher:
    launcher = KritaLauncher(krita_install)
    print(f"\nreal Krita: {describe(krita_install)}")
    return launcher


def require_tool(name: str) -> str:
    """The path of a program the test needs; the test FAILS (never skips) when it is missing."""
    path = shutil.which(name, path=SYSTEM_PATH)
    if path is None:
        pytest.fail(f"{name} is not installed: install Krita and Xvfb (scripts/test does: apt-get install "
                    "krita xvfb xauth python3-pyqt5)")
    return path


def clean_env(home: Path, **extra: str) -> dict:
    """An environment for Krita: no virtualenv on PATH, every profile folder inside ``home``."""
    env = {
        "PATH": SYSTEM_PATH,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "LANG": "C.UTF-8",
        "LAYERDECOMP_CONFIG_DIR": str(home / "layerdecomp"),
    }
    for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    os.chmod(env["XDG_RUNTIME_DIR"], 0o700)
    env.update(extra)
    return env


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
