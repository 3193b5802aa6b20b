"""``layerdecomp serve`` as a process: token file on first run, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import layerdecomp
from layerdecomp.cli import main
from layerdecomp_server.client import Client
from layerdecomp_server import protocol

from .helpers import expect_error, open_raw, picture, recv_until, send_job
from .test_malformed import assert_closed
from .test_roundtrip import assert_same

REPO = Path(__file__).resolve().parents[2]
# The test-only backend has to be registered inside the server process before the CLI parses --backend.
LAUNCH_GATED = (
    "import sys; from layerdecomp import backends; "
    "backends.register_module('test_gated', 'tests.server.gated_backend'); "
    "from layerdecomp.cli import main; sys.exit(main(sys.argv[1:]))"
)


def start(command: list[str], config_dir: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "LAYERDECOMP_CONFIG_DIR": str(config_dir), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    printed = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        printed.append(line)
        if "listening on" in line:
            # Before it listens, one line says which backend it loaded (--backend auto may pick any).
            backend = command[command.index("--backend") + 1] if "--backend" in command else None
            assert len(printed) == 2 and printed[0].startswith("layerdecomp server: ") and \
                f" {backend} backend loaded (" in printed[0], printed
            return process, line.split("listening on", 1)[1].strip()
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the server did not start: {process.stderr.read()}")


def stop(process: subprocess.Popen, signum: int) -> str:
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the server did not stop within 10 s") from None
    assert process.returncode == 0, stderr
    return stderr


def test_serve_makes_a_token_serves_and_stops_on_sigterm_mid_job(tmp_path, monkeypatch, gated_backend):
    process, url = start([sys.executable, "-c", LAUNCH_GATED, "serve", "--port", "0", "--backend", "test_gated"],
                         tmp_path)
    try:
        token_file = tmp_path / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
        image, mask = picture(seed=60)
        with Client(url) as client:  # the token comes from the file
            assert client.welcome.backend == "test_gated"
            remote = client.decompose(image, mask)
        ws = open_raw(url, token=token)
        send_job(ws, 1, image, mask, hold=True)
        recv_until(ws, lambda m: isinstance(m, protocol.Progress) and m.stage == "hold")
        stop(process, signal.SIGTERM)
        assert "jobs in flight were cancelled" in expect_error(ws, "shutting_down").message
        assert_closed(ws, protocol.CloseCode.GOING_AWAY)
    finally:
        if process.poll() is None:
            process.kill()
    assert_same(remote, layerdecomp.decompose(image, mask, backend=gated_backend))


def test_installed_command_serves_classical_and_stops_on_sigint(tmp_path):
    process, url = start(["layerdecomp", "serve", "--port", "0", "--backend", "classical"], tmp_path)
    try:
        token = (tmp_path / "token").read_text().strip()
        image, mask = picture(seed=61)
        with Client(url, token=token) as client:
            assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="classical"))
    finally:
        if process.poll() is None:
            stop(process, signal.SIGINT)


def test_serve_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "--allow-origin" in capsys.readouterr().out
