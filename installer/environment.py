"""The server's Python environment: the current one (--use-current-env) or a new venv with the right torch.

A new venv is filled by pip (torch from the index for the detected GPU, then this project with
[model,learned]) and
gets a marker file once complete; a later install with the same torch build finds the marker and does nothing,
and one interrupted half-way simply runs pip again (pip skips what is there).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import deque
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Callable

from . import gpu as gpus
from .changes import Changes
from .download import check_free_space
from .errors import InstallError

MARKER = "layerdecomp-env.json"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECK_SCRIPT = "import json, layerdecomp, websockets; print(json.dumps({'layerdecomp': layerdecomp.__version__}))"


@dataclass(frozen=True)
class ServerEnv:
    python: str
    owned: bool  # made by the installer (removed on uninstall)
    torch_build: str | None = None


def venv_python(env_dir: str | PurePath, platform: str) -> PurePath:
    if platform.startswith("win"):
        return PureWindowsPath(env_dir) / "Scripts" / "python.exe"
    return PurePosixPath(env_dir) / "bin" / "python"


def stream(command: list[str], echo: Callable = print) -> tuple[int, str]:
    """Run ``command`` showing its output as it comes (pip takes minutes); (exit status, its last lines)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace")
    tail: deque[str] = deque(maxlen=8)
    for line in process.stdout:
        echo("    " + line.rstrip())
        tail.append(line.rstrip())
    return process.wait(), "\n".join(tail)


def _run(command: list[str], what: str, runner: Callable, log: Callable) -> None:
    try:
        code, tail = runner(command, log)
    except OSError as exc:
        raise InstallError(f"{what} failed: cannot run {command[0]} ({exc})") from exc
    if code != 0:
        hint = ""
        if any(word in tail for word in ("Could not find a version", "No matching distribution", "connection",
                                         "NewConnectionError", "Temporary failure in name resolution")):
            hint = " (check the internet connection; pip could not fetch a package)"
        raise InstallError(f"{what} failed{hint}; run install again to retry. It said:\n{tail}")


def use_current(python: str = sys.executable, runner: Callable = subprocess.run) -> ServerEnv:
    """--use-current-env: check this Python can run the server (nothing is installed or recorded)."""
    try:
        done = runner([python, "-c", CHECK_SCRIPT], capture_output=True, text=True)
    except OSError as exc:
        raise InstallError(f"cannot run {python}: {exc}") from exc
    if done.returncode != 0:
        raise InstallError(
            f"--use-current-env: {python} cannot import layerdecomp and websockets; install the project into it "
            "first (`pip install -e .[model]` in the project folder), or leave out --use-current-env to let the "
            "installer make its own environment"
        )
    return ServerEnv(python, owned=False)


def create_venv(
    changes: Changes,
    env_dir: Path,
    gpu: gpus.Gpu,
    platform: str,
    log: Callable = print,
    runner: Callable = stream,
    base_python: str = sys.executable,
    project: Path = PROJECT_ROOT,
    disk_usage: Callable = shutil.disk_usage,
) -> ServerEnv:
    build = gpus.torch_build(gpu, platform)
    torch_version = gpus.pinned_torch_version()
    python = str(venv_python(env_dir, platform))
    wanted = {"torch": torch_version, "build": build.tag, "project": str(project)}
    marker = env_dir / MARKER
    if changes.manifest.find("venv", env_dir) is None and env_dir.exists():
        raise InstallError(f"{env_dir} already exists and was not made by this installer: remove it, or choose "
                           "another folder with --env-dir, or use --use-current-env")
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == wanted:
        log(f"server environment: up to date in {env_dir} (torch {torch_version}, {build.tag})")
        return ServerEnv(python, owned=True, torch_build=build.tag)
    if not (project / "pyproject.toml").is_file():
        raise InstallError(f"the project's source is not at {project}: run the installer from the layerdecomp "
                           "source folder, or use --use-current-env")
    if sys.version_info < (3, 10):
        raise InstallError(f"Python {sys.version.split()[0]} is too old for the server: run the installer with "
                           "Python 3.10 or newer")
    # Roughly what the environment takes on disk (CUDA and ROCm wheels carry their GPU libraries).
    needed = (3 if build.tag in ("cpu", "default") else 10) * 10**9
    ancestor = next(p for p in [env_dir, *env_dir.parents] if p.exists())
    check_free_space(ancestor, needed, disk_usage, option="--env-dir")
    changes.make_dirs(env_dir.parent)
    entry = changes.record({"kind": "venv", "path": str(env_dir)})
    changes.changed = True
    log(f"server environment: creating {env_dir} for {gpu.kind.upper()} {gpu.name} (torch {torch_version}, "
        f"{build.tag}{'; ' + build.note if build.note else ''}); this downloads a few GB")
    try:
        if not Path(python).exists():
            _run([base_python, "-m", "venv", str(env_dir)], "creating the virtual environment", runner, log)
        for command in gpus.pip_commands(python, build, torch_version, str(project)):
            log("  $ " + " ".join(command))
            _run(command, "installing " + command[-3 if "--index-url" in command else -1], runner, log)
        marker.write_text(json.dumps(wanted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        # A half-built environment is of no use (pip keeps what it downloaded in its own cache, so the
        # next install is quicker): take it away, and its record, rather than leave gigabytes behind.
        log(f"  removing the unfinished environment {env_dir}")
        shutil.rmtree(env_dir, ignore_errors=True)
        if not env_dir.exists():
            changes.manifest.remove(entry)
            changes.save()
        raise
    return ServerEnv(python, owned=True, torch_build=build.tag)
