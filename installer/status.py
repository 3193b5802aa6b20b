"""``status``: what is installed where, which versions, and whether the server answers."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

from . import kritarc, serverconfig, weights
from .manifest import Manifest
from .download import human_size
from .plugin import installed_version

VERSION_SCRIPT = (
    "import json, layerdecomp\nout = {'layerdecomp': layerdecomp.__version__}\n"
    "try:\n import torch\n out['torch'] = torch.__version__\n"
    " out['cuda'] = torch.cuda.is_available()\n"
    " out['mps'] = bool(getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available())\n"
    "except ImportError:\n out['torch'] = None\nprint(json.dumps(out))"
)


def websocket_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a websocket server accepts a handshake at host:port (no message is exchanged)."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            answer = sock.recv(1024)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.1 101")


def _start_and_probe(argv: list[str], host: str, port: int, wait: float = 60.0) -> str:
    try:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        return f"does not start ({exc})"
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last = (process.stderr.read() or "").strip().splitlines()
                return f"exits at once ({last[-1] if last else f'status {process.returncode}'})"
            if websocket_answers(host, port, timeout=0.5):
                return "starts and answers"
            time.sleep(0.3)
        return f"started but did not answer within {wait:.0f} s"
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def run(args, log=print) -> int:
    manifest = Manifest.load(serverconfig.manifest_path())
    if not manifest.exists():
        log(f"not installed (no install record at {manifest.path}); run `python -m installer install`")
        return 1
    ok = True
    plugin = manifest.info.get("plugin", {})
    if plugin:
        resource_dir = Path(plugin["resource_dir"])
        version = installed_version(resource_dir, plugin["name"])
        log(f"plugin: {plugin['title']} ({plugin['name']}) in {resource_dir}/pykrita ({plugin['layout']}): "
            + (f"version {version}" if version else "MISSING"))
        ok &= version is not None
        if plugin.get("kritarc"):
            rc = Path(plugin["kritarc"])
            value = kritarc.read_value(rc.read_bytes() if rc.exists() else None, "python", f"enable_{plugin['name']}")
            log(f"  enabled in {rc}: {value == 'true'}" + ("" if value == "true" else " (enable it in Krita: "
                "Settings > Configure Krita > Python Plugin Manager, or run install again)"))
    settings_file = serverconfig.settings_path()
    if not settings_file.exists():
        log("server: not set up (install ran with --plugin-only)")
        return 0 if ok else 1
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    log(f"server settings: {settings_file} (backend {settings.get('backend')}, device {settings.get('device')})")
    token = Path(serverconfig.config_module().token_path())
    log(f"  token: {token} ({'present' if token.exists() else 'MISSING: it is made when the server starts'})")
    try:
        done = subprocess.run([settings["python"], "-c", VERSION_SCRIPT], capture_output=True, text=True, timeout=120)
        versions = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        versions = None
    if versions:
        log(f"  environment: {settings['python']}: layerdecomp {versions['layerdecomp']}, torch {versions['torch']}"
            + (" (CUDA available)" if versions.get("cuda") else "")
            + (" (MPS available)" if versions.get("mps") else ""))
    else:
        log(f"  environment: {settings['python']} BROKEN (cannot import layerdecomp): run install again")
        ok = False
    if settings.get("weights_dir"):
        chosen = settings.get("weights_set") or "diffusion"  # installs before the compact set had only diffusion
        files = weights.WEIGHT_SETS.get(chosen, ())
        folder = Path(settings["weights_dir"])
        present, wanted = weights.weights_present(files, folder)
        log(f"  weights ({chosen} set): {present} of {wanted} files in {folder}")
        for file in files:
            path = folder / file.local_path
            log(f"    {file.local_path}: " + (f"{human_size(path.stat().st_size)}" if path.is_file() else "MISSING"))
        ok &= present == wanted
    host, port = settings.get("host", "127.0.0.1"), int(settings.get("port", serverconfig.DEFAULT_PORT))
    if websocket_answers(host, port):
        log(f"  server: running, answers at ws://{host}:{port}")
    elif getattr(args, "start_server", False) and versions:
        argv = settings["server_argv"] + ["--host", host, "--port", str(port), "--backend", settings["backend"]]
        result = _start_and_probe(argv, host, port)
        log(f"  server: not running; `{settings['server_command']}` {result}")
        ok &= result == "starts and answers"
    else:
        log(f"  server: not running at ws://{host}:{port} (Krita's plugin starts it; `status --start-server` tries it)")
    return 0 if ok else 1
