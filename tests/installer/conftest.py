"""Fixtures for the installer tests: a throwaway HOME (never the real one) and a small plugin zip."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

DESKTOP = (
    "[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\n"
    "X-KDE-Library=sample_plugin\nX-Python-2-Compatible=false\nName=Sample Plugin\n"
)
USER_KRITARC = (
    "ResourceDirectory=\n"  # empty: Krita's default folder
    "[General]\nLastPreset=Basic_tip_default  \nwindowState=AAAA/wAAAAD9==\n\n"
    "[python]\nenable_other_plugin=true\n# a comment Krita never wrote\n\n"
    "[MainWindow]\nState=AAAA\n"
)


def make_plugin_zip(path: Path, version: str = "1.0", extra: dict[str, str] | None = None) -> Path:
    files = {
        "sample_plugin.desktop": DESKTOP,
        "sample_plugin/__init__.py": f'__version__ = "{version}"\n',
        "sample_plugin/extension.py": "# the plugin's code\n",
        "sample_plugin/sample_plugin.action": "<ActionCollection version=\"2\"/>\n",
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def free_port() -> int:
    """A port nothing listens on now: the installed server's settings must not point at one that may be
    busy on a developer's machine (Krita's plugin starts its server on the default port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` with its content hash and mode: a snapshot to compare."""
    snapshot = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        mode = oct(path.lstat().st_mode & 0o777)
        if path.is_dir():
            snapshot[rel + "/"] = mode
        else:
            snapshot[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + " " + mode
    return snapshot


class Profile:
    """A temporary HOME with XDG folders and the environment to run the installer in it."""

    def __init__(self, root: Path):
        self.home = root / "home"
        self.config = self.home / ".config"
        self.data = self.home / ".local" / "share"
        self.krita_dir = self.data / "krita"
        self.kritarc = self.config / "kritarc"
        self.manifest = self.config / "layerdecomp" / "install-manifest.json"
        self.port = free_port()
        self.home.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("XDG_", "LAYERDECOMP_", "HF_")) and not k.lower().endswith("_proxy")}
        self.env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.config), XDG_DATA_HOME=str(self.data),
                        PYTHONDONTWRITEBYTECODE="1")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "installer", *args], cwd=REPO_ROOT, env=self.env,
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"installer {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch):
    """The local test server must be reached directly, whatever proxy the machine is set up with."""
    for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(key)


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return Profile(tmp_path)


@pytest.fixture
def plugin_zip(tmp_path: Path) -> Path:
    return make_plugin_zip(tmp_path / "plugin.zip")
