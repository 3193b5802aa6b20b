"""Decompose Selection in Krita's real GUI (under Xvfb), in a throwaway profile set up by the installer,
against a real `layerdecomp serve` on loopback. One Krita session runs every phase (a launch costs
~12 s): server down, success (the plugin starts the local server itself), an error reply, Cancel,
the server killed mid-job, and a result with recovered hidden parts (a synthetic result in place of the
network job). The test-only driver plugin in gui_driver/ performs them and reports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

import layerdecomp
from layerdecomp.io import load_mask

from .conftest import HERE, REPO, clean_env

KRITA_TIMEOUT_S = 300


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_server(port, env, log):
    process = subprocess.Popen([sys.executable, "-m", "layerdecomp", "serve", "--port", str(port), "--backend",
                                "classical"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 60
    while "listening on" not in Path(log.name).read_text():
        assert process.poll() is None, Path(log.name).read_text()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    return process


def _gone(pid, seconds=10):
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/status")
        if status.exists() and "zombie" in status.read_text():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _layers(path, h, w):
    """BGRA raw file -> RGBA array."""
    return np.frombuffer(Path(path).read_bytes(), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]


def _hidden_parts_case(tmp_path):
    """A synthetic result with recovered hidden parts: an object whose left third is hidden (green, visibility
    0) and whose visible part has the photo's colours; its clean plate is the photo itself, so a correct
    mask leaves the picture exactly as it was."""
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    photo = np.dstack([xx * 4, yy * 5, (xx + yy) * 2, np.full((h, w), 255)]).astype(np.uint8)
    selection = np.zeros((h, w), np.uint8)
    selection[12:36, 16:48] = 255
    foreground = np.zeros((h, w, 4), np.uint8)
    foreground[12:36, 16:48] = photo[12:36, 16:48]
    foreground[12:36, 16:28] = (0, 200, 0, 255)
    visibility = np.zeros((h, w), np.uint8)
    visibility[12:36, 28:48] = 255
    assert ((foreground[..., 3] > 0) & (visibility == 0)).any()  # there are hidden parts
    files = {}
    for name, data in (("photo", photo[..., [2, 1, 0, 3]]), ("foreground", foreground[..., [2, 1, 0, 3]]),
                       ("selection", selection), ("visibility", visibility)):
        files[name] = str(tmp_path / f"hidden_{name}.raw")
        Path(files[name]).write_bytes(np.ascontiguousarray(data).tobytes())
    return {"config": dict(files, size=[w, h]), "size": (w, h), "photo": photo, "foreground": foreground,
            "visibility": visibility}


def krita_profile(tmp_path, plugin_repo=REPO):
    """A throwaway Krita profile with the plugin installed by the installer (as an artist gets it) and the
    test-only driver plugin beside it. Returns the environment to start Krita with; the driver reads
    its configuration from ``tmp_path / "driver.json"``. ``plugin_repo``: the checkout whose installer and
    plugin are used (bench/krita_gui_block.py's --baseline installs another one beside this driver)."""
    home = tmp_path / "home"
    config_file = tmp_path / "driver.json"
    env = clean_env(home, LAYERDECOMP_GUI_DRIVER_CONFIG=str(config_file))
    krita_dir = Path(env["XDG_DATA_HOME"]) / "krita"
    install_env = dict(os.environ, **{k: env[k] for k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                         "LAYERDECOMP_CONFIG_DIR")})
    install_env["PYTHONPATH"] = str(plugin_repo)
    run = subprocess.run([sys.executable, "-m", "installer", "install", "--plugin-only", "--krita-dir",
                          str(krita_dir)], cwd=plugin_repo, env=install_env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    kritarc = Path(env["XDG_CONFIG_HOME"]) / "kritarc"
    assert "enable_layerdecomp_krita=true" in kritarc.read_text()
    pykrita = krita_dir / "pykrita"
    shutil.copy(HERE / "gui_driver" / "layerdecomp_gui_driver.desktop", pykrita)
    shutil.copytree(HERE / "gui_driver" / "layerdecomp_gui_driver", pykrita / "layerdecomp_gui_driver",
                    ignore=shutil.ignore_patterns("__pycache__"))
    kritarc.write_text(kritarc.read_text().replace("[python]\n", "[python]\nenable_layerdecomp_gui_driver=true\n"))
    return env


def run_krita_session(launcher, env, tmp_path, out):
    """Start Krita's GUI, let the driver run its script and quit; returns (result.json, Krita's log)."""
    log_path = tmp_path / "krita.log"
    with open(log_path, "w") as krita_log:
        session = launcher.gui(env, tmp_path, krita_log)
        try:
            session.wait(KRITA_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait()
    log = log_path.read_text(errors="replace")
    assert (out / "result.json").exists(), f"the driver wrote no result; Krita's log:\n{log[-5000:]}"
    return json.loads((out / "result.json").read_text()), log


def test_decompose_selection_in_krita_gui(tmp_path, krita_launcher):
    out = tmp_path / "out"
    out.mkdir()
    config_file = tmp_path / "driver.json"
    env = krita_profile(tmp_path)

    # The pictures: the example photo, and a 6x enlargement for the jobs that must still run when acted on.
    photo = REPO / "examples" / "coffee.jpg"
    mask = load_mask(REPO / "examples" / "coffee_mask.png")
    (tmp_path / "mask.raw").write_bytes(mask.tobytes())
    big = cv2.resize(cv2.imread(str(photo)), None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    big_mask = cv2.resize(mask, None, fx=6, fy=6, interpolation=cv2.INTER_NEAREST)
    (tmp_path / "big_mask.raw").write_bytes(big_mask.tobytes())

    hidden = _hidden_parts_case(tmp_path)

    unused_port, auto_port, kill_port = _free_ports(3)
    server_env = dict(os.environ, LAYERDECOMP_CONFIG_DIR=env["LAYERDECOMP_CONFIG_DIR"])
    server_log = open(tmp_path / "kill_server.log", "w")
    kill_server = _start_server(kill_port, server_env, server_log)
    config_file.write_text(json.dumps({
        "out": str(out), "photo": str(photo), "mask": str(tmp_path / "mask.raw"),
        "big_photo": str(tmp_path / "big.png"), "big_mask": str(tmp_path / "big_mask.raw"),
        "unused_port": unused_port, "auto_port": auto_port, "kill_port": kill_port, "kill_pid": kill_server.pid,
        "server_command": f'"{sys.executable}" -m layerdecomp serve', "hidden": hidden["config"],
    }))

    try:
        result, log = run_krita_session(krita_launcher, env, tmp_path, out)
    finally:
        kill_server.kill()
        kill_server.wait()
        server_log.close()
    assert result["errors"] == [], "\n".join(result["errors"]) + "\n" + log[-3000:]
    phases = result["phases"]

    # Where artists look: Tools > Scripts and the Select menu; the shortcut from the .action file.
    assert "layerdecomp_decompose_selection" in result["menus"]["Select"]
    assert any(item.endswith("/layerdecomp_decompose_selection") for item in result["menus"]["tools"])
    assert result["shortcut"] == "Ctrl+Alt+Shift+D"
    assert result["batchmode"] is False

    # 1. Server down: a message box, a log line, the document as it was.
    down = phases["down"]
    assert [m[:2] for m in down["messages"]] == [["error", "unreachable"]]
    assert down["shown"] == [down["messages"][0][2]]
    assert down["unchanged"] and not down["progress_open"]
    assert "layerdecomp: ERROR: [unreachable]" in log

    # 2. Success: the group above the source (an opaque photo: covered, so left visible and untouched), its
    # layers equal the library's result, the Object active.
    success = phases["success"]
    assert [m[:2] for m in success["messages"]] == [["info", "done"]], success["messages"]
    assert success["shown"] == []  # a success is a floating message on the canvas, not a box
    tree = success["tree"]
    assert tree[0][:3] == ["Background", "paintlayer", True] and success["source_visible"] is True
    # A photo's layer is "Background": the result is named after the file.
    assert tree[1][:3] == ["coffee (split)", "grouplayer", True]
    assert tree[1][3] == [["coffee – clean plate", "paintlayer", True], ["coffee – object", "paintlayer", True]]
    assert success["active"] == "coffee – object"
    w, h = result["size"]
    source = _layers(out / "success_source.raw", h, w)
    assert np.array_equal(source[..., 3], np.full((h, w), 255, np.uint8))
    assert success["before"]["nodes"][0][4] == success["after"]["nodes"][0][4]  # source pixels untouched
    expected = layerdecomp.decompose(source, mask, backend="classical", seed=7)  # the seed the driver set
    assert np.array_equal(_layers(out / "success_object.raw", h, w), expected.foreground)
    # The clean plate holds the result's box only; the source, visible under it, is the rest.
    plate = _layers(out / "success_background.raw", h, w)
    inside = np.zeros((h, w), bool)
    inside[expected.box.slices] = True
    assert np.array_equal(plate[inside], expected.background[inside]) and not plate[~inside].any()
    # The composite: unchanged (within one level of rounding on soft edges).
    before = _layers(out / "composite_before.raw", h, w).astype(int)
    after = _layers(out / "composite_after.raw", h, w).astype(int)
    assert np.array_equal(before, source.astype(int))
    assert np.abs(after - before).max() <= 1
    assert "started the local server (pid" in log

    # 3-5. An error reply, Cancel, the server killed mid-job: the document as it was, and a message.
    for name, level, code in (("error_reply", "error", "backend_unavailable"), ("cancel", "info", "cancelled"),
                              ("killed", "error", "server_lost")):
        phase = phases[name]
        assert [m[:2] for m in phase["messages"]] == [[level, code]], (name, phase["messages"])
        assert phase["unchanged"], name
        assert not phase["progress_open"], name
        assert "not changed" in phase["messages"][0][2]
        assert f"[{code}]" in log
    assert phases["error_reply"]["shown"] == [phases["error_reply"]["messages"][0][2]]
    assert phases["killed"]["shown"] == [phases["killed"]["messages"][0][2]]
    assert phases["cancel"]["shown"] == []  # a cancel is acknowledged on the canvas, not in a box
    assert result["stray_dialogs"] == []
    assert phases["cancel"]["dialog_seen"] is True
    assert phases["killed"]["killed_while"] == "working"

    # 6. Recovered hidden parts: the Object keeps them under a transparency mask equal to the visibility
    # (made through Krita 5.1's own action), so the picture is exactly as before; no selection is left.
    phase = phases["hidden_parts"]
    assert [m[:2] for m in phase["messages"]] == [["info", "done"]], phase["messages"]
    label = phase["group"].removesuffix(" (split)")
    assert label and label != "Background", phase["group"]
    assert phase["tree"] == [[f"{label} – clean plate", "paintlayer", True, []],
                             [f"{label} – object", "paintlayer", True,
                              [["Visible part", "transparencymask", True]]]]
    assert phase["selection_left"] is False
    assert phase["active"] == f"{label} – object"
    hw, hh = hidden["size"]
    mask_pixels = np.frombuffer((out / "hidden_object_transparencymask.raw").read_bytes(), np.uint8)
    assert np.array_equal(mask_pixels.reshape(hh, hw), hidden["visibility"])
    assert np.array_equal(_layers(out / "hidden_object.raw", hh, hw), hidden["foreground"])
    assert np.array_equal(_layers(out / "hidden_composite_before.raw", hh, hw), hidden["photo"])
    assert np.array_equal(_layers(out / "hidden_composite_after.raw", hh, hw), hidden["photo"])
    # Undo, step by step, back to the original layers; no step shows another picture (on 5.1 the group went in
    # hidden while its mask was made, and was shown by an undo step of its own).
    steps = phase["undo_steps"]
    assert steps and steps[-1]["groups"] == 0 and steps[-1]["source_visible"], steps
    assert all(step["same_picture"] for step in steps), steps

    # 7. The docker: the server's state, the methods it runs enabled, the others greyed with the reason.
    docker = result["docker"]
    assert docker["dockers"] >= 1 and docker["state"] == "running", docker
    assert "Running" in docker["state_text"], docker
    methods = {m[1]: m for m in docker["methods"]}
    assert methods["classical"][2] is True and methods[""][2] is True
    assert methods["diffusion"][2] is False and "restart the server" in methods["diffusion"][3]  # the reason

    # The server the plugin started is stopped when Krita quits.
    pid = result["local_server_pid"]
    assert pid is not None and _gone(pid), "the plugin's local server outlived Krita"
