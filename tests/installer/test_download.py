"""Downloads against a hub-like server on 127.0.0.1: checksums, resume, gated models, no network, no space."""

from __future__ import annotations

import hashlib
import io
import os
import socket
from collections import namedtuple

import pytest

from installer import weights
from installer.changes import Changes, undo_all
from installer.download import download
from installer.errors import InstallError
from installer.manifest import Manifest

from .hubserver import COMMIT, HubServer

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def hub():
    with HubServer({"org/model/sub/weights.bin": PAYLOAD, "org/model/config.json": b'{"a": 1}\n'}) as server:
        yield server


def _url(hub, path="sub/weights.bin"):
    return f"{hub.url}/org/model/resolve/main/{path}"


def test_checksum_match(hub, tmp_path):
    dest = tmp_path / "weights.bin"
    assert download(_url(hub), dest, sha256=SHA, size=len(PAYLOAD), stream=io.StringIO()) == SHA
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "weights.bin.part").exists()
    hub.requests.clear()
    download(_url(hub), dest, sha256=SHA, stream=io.StringIO())  # verified file: nothing fetched again
    assert hub.requests == []


def test_checksum_mismatch_leaves_no_file(hub, tmp_path):
    dest = tmp_path / "weights.bin"
    hub.corrupt = True
    with pytest.raises(InstallError, match="checksum mismatch for weights.bin.*run install again"):
        download(_url(hub), dest, sha256=SHA, size=len(PAYLOAD), stream=io.StringIO())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_range(hub, tmp_path):
    dest = tmp_path / "weights.bin"
    hub.cut_after = 100_000
    with pytest.raises(InstallError, match="interrupted|stopped early"):
        download(_url(hub), dest, sha256=SHA, size=len(PAYLOAD), stream=io.StringIO())
    part = tmp_path / "weights.bin.part"
    assert part.stat().st_size == 100_000 and not dest.exists()
    hub.requests.clear()
    download(_url(hub), dest, sha256=SHA, size=len(PAYLOAD), stream=io.StringIO())
    assert hub.requests == [("GET", "/org/model/resolve/main/sub/weights.bin", "bytes=100000-")]
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_progress_bar_is_drawn(hub, tmp_path):
    out = io.StringIO()
    download(_url(hub), tmp_path / "w", sha256=SHA, size=len(PAYLOAD), label="w", stream=out)
    assert "100%" in out.getvalue() and "[####" in out.getvalue()


def test_no_network_says_what_to_do(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InstallError, match="cannot reach 127.0.0.1.*internet connection.*--offline --weights DIR"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "x", sha256=SHA, stream=io.StringIO())


def test_no_disk_space_is_caught_before_downloading(hub, tmp_path):
    with pytest.raises(InstallError, match="not enough disk space.*free some space"):
        download(_url(hub), tmp_path / "w", sha256=SHA, size=len(PAYLOAD), stream=io.StringIO(),
                 disk_usage=lambda p: Usage(10**9, 10**9, 1000))
    assert hub.requests == [] and list(tmp_path.iterdir()) == []


def _catalogue():
    return (weights.WeightFile("org/model", "config.json", None, None, None, gated=True),
            weights.WeightFile("org/model", "sub/weights.bin", None, None, None, gated=True))


def _env(hub, **extra):
    return {"HF_ENDPOINT": hub.url, **extra}


def test_hub_fetch_pins_revision_and_checksum_then_uninstall_removes_it(hub, tmp_path):
    manifest = Manifest(tmp_path / "state" / "manifest.json")
    changes = Changes(manifest, log=lambda *a: None)
    changes.make_dirs(manifest.path.parent)
    target = tmp_path / "weights"
    weights.fetch(changes, _catalogue(), target, _env(hub), tmp_path, stream=io.StringIO())
    assert (target / "model" / "sub" / "weights.bin").read_bytes() == PAYLOAD
    lock = (target / weights.LOCK_NAME).read_text()
    assert COMMIT in lock and SHA in lock
    # The commit "main" pointed at when the first file was asked for is what every file was fetched from.
    assert ("HEAD", "/org/model/resolve/main/config.json", None) in hub.requests
    assert ("HEAD", f"/org/model/resolve/{COMMIT}/sub/weights.bin", None) in hub.requests
    assert ("GET", f"/org/model/resolve/{COMMIT}/sub/weights.bin", None) in hub.requests
    hub.requests.clear()
    weights.fetch(changes, _catalogue(), target, _env(hub), tmp_path, stream=io.StringIO())
    assert hub.requests == []  # everything pinned and verified: no network at all the second time
    undo_all(manifest, log=lambda *a: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_gated_model_without_token_explains_the_licence_steps(hub, tmp_path):
    hub.gated_token = "secret"
    changes = Changes(Manifest(tmp_path / "m.json"), log=lambda *a: None)
    with pytest.raises(InstallError) as caught:
        weights.fetch(changes, _catalogue(), tmp_path / "w", _env(hub), tmp_path, stream=io.StringIO())
    message = str(caught.value)
    assert "gated" in message and "accept its terms" in message and "settings/tokens" in message
    assert "HF_TOKEN" in message
    with pytest.raises(InstallError, match="token was refused"):
        weights.fetch(changes, _catalogue(), tmp_path / "w", _env(hub, HF_TOKEN="wrong"), tmp_path,
                      stream=io.StringIO())
    weights.fetch(changes, _catalogue(), tmp_path / "w", _env(hub, HF_TOKEN="secret"), tmp_path, stream=io.StringIO())
    assert (tmp_path / "w" / "model" / "sub" / "weights.bin").read_bytes() == PAYLOAD


def test_token_from_the_hub_login_file(tmp_path):
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "token").write_text("hf_abc\n")
    assert weights.find_token({}, tmp_path) == "hf_abc"
    assert weights.find_token({"HF_TOKEN": "hf_env"}, tmp_path) == "hf_env"
    assert weights.find_token({}, tmp_path / "nobody") is None


def test_offline_weights_are_checked_against_the_lock(tmp_path):
    source = tmp_path / "mine"
    (source / "model" / "sub").mkdir(parents=True)
    (source / "model" / "config.json").write_bytes(b'{"a": 1}\n')
    (source / "model" / "sub" / "weights.bin").write_bytes(PAYLOAD)
    weights.check_offline(_catalogue(), source, log=lambda *a: None)
    (source / weights.LOCK_NAME).write_text('{"model/sub/weights.bin": {"sha256": "%s"}}' % ("0" * 64))
    with pytest.raises(InstallError, match="checksum mismatch.*intact copy"):
        weights.check_offline(_catalogue(), source, log=lambda *a: None)
    (source / "model" / "config.json").unlink()
    with pytest.raises(InstallError, match="lacks 1 file.*model/config.json"):
        weights.check_offline(_catalogue(), source, log=lambda *a: None)
