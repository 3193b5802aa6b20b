"""The token file: created once, user-only, found again; the folder can be moved."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from layerdecomp import config


def test_token_is_created_user_only_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config.token_path() == tmp_path / "cfg" / "token"
    token = config.read_or_create_token()
    assert len(token) >= 32
    assert stat.S_IMODE(config.token_path().stat().st_mode) == 0o600
    assert config.read_or_create_token() == token == config.read_token()


def test_a_loosened_token_file_is_tightened_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    token = config.read_or_create_token()
    os.chmod(config.token_path(), 0o644)
    with caplog.at_level(logging.WARNING, logger="layerdecomp.config"):
        assert config.read_or_create_token() == token
    assert stat.S_IMODE(config.token_path().stat().st_mode) == 0o600
    assert "could be read by other users" in caplog.text and "delete the file" in caplog.text


def test_the_config_folder_is_user_only(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path / "cfg"))
    config.read_or_create_token()
    assert stat.S_IMODE((tmp_path / "cfg").stat().st_mode) == 0o700
    os.chmod(tmp_path / "cfg", 0o755)
    with caplog.at_level(logging.WARNING, logger="layerdecomp.config"):
        config.read_or_create_token()
    assert stat.S_IMODE((tmp_path / "cfg").stat().st_mode) == 0o700 and "user-only again" in caplog.text


def test_an_empty_token_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    config.token_path().write_text("\n")
    with pytest.raises(config.TokenFileError, match="delete it"):
        config.read_token()


def test_a_short_token_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    config.token_path().write_text("x\n")
    os.chmod(config.token_path(), 0o600)
    with pytest.raises(config.TokenFileError, match="has 1 characters; it must have 16"):
        config.read_or_create_token()


def test_a_token_symlink_is_refused_and_its_target_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path / "cfg"))
    (tmp_path / "cfg").mkdir(mode=0o700)
    target = tmp_path / "elsewhere"
    target.write_text("a-token-of-enough-length-0123\n")
    os.chmod(target, 0o644)
    config.token_path().symlink_to(target)
    for read in (config.read_token, config.read_or_create_token, config.TokenWatcher):
        with pytest.raises(config.TokenFileError, match="symbolic link"):
            read()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not chmod'ed through the link
    # A dangling link is not written through either.
    target.unlink()
    with pytest.raises((config.TokenFileError, FileExistsError)):
        config.read_or_create_token()
    assert not target.exists()


def test_the_server_s_token_follows_its_file(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    watcher = config.TokenWatcher()
    first = watcher()
    new = "a-new-token-0123456789-abcdef"
    config.token_path().write_text(new + "\n")
    with caplog.at_level(logging.WARNING, logger="layerdecomp.config"):
        assert watcher() == new
        config.token_path().write_text("short\n")
        assert watcher() == new  # an unusable change leaves the last good token
    assert first != new and "cannot be used" in caplog.text


def test_serve_refuses_a_bad_token_file_in_one_line(tmp_path, monkeypatch, capsys):
    from layerdecomp.cli import main

    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    config.token_path().symlink_to(tmp_path / "nowhere")
    assert main(["serve", "--port", "0", "--backend", "classical"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "symbolic link" in err
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "70000"])
    assert info.value.code == 2 and "0 to 65535" in capsys.readouterr().err


def test_default_folder_follows_xdg_on_linux(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERDECOMP_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_dir() == tmp_path / "layerdecomp"


def test_a_foreign_or_world_writable_config_folder_is_refused(tmp_path, monkeypatch):
    """Issue 23: LAYERDECOMP_CONFIG_DIR at a folder another user made (0777) was accepted; that user
    could then swap the token file."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    config.read_or_create_token(foreign / "token")
    os.chown(foreign, 65534, 65534)  # nobody (the tests run as root, who can give a folder away)
    os.chmod(foreign, 0o777)
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(foreign))
    for read in (config.read_token, config.read_or_create_token, config.TokenWatcher):
        with pytest.raises(config.TokenFileError, match="belongs to another user"):
            read()
    # Our own folder, opened to others' writes after the token was made: refused when read.
    own = tmp_path / "own"
    config.read_or_create_token(own / "token")
    os.chmod(own, 0o777)
    with pytest.raises(config.TokenFileError, match="may write"):
        config.read_token(own / "token")


def test_a_fifo_as_the_token_file_does_not_freeze_the_server(tmp_path, monkeypatch):
    """Issue 23: a FIFO put in place of the token froze the whole server at the next hello (the file was
    opened, blocking, on the event loop) and SIGTERM no longer stopped it."""
    import signal
    import sys
    import time

    from layerdecomp_server import protocol
    from layerdecomp_server.client import Client, ServerError

    from .helpers import picture
    from .test_serve_cli import start, stop

    process, url = start([sys.executable, "-m", "layerdecomp", "serve", "--port", "0", "--backend", "classical"],
                         tmp_path)
    try:
        token = (tmp_path / "token").read_text().strip()
        (tmp_path / "token").unlink()
        os.mkfifo(tmp_path / "token", 0o600)
        t0 = time.monotonic()
        with Client(url, token=token, open_timeout=5) as client:  # the old token stays in force
            image, mask = picture(seed=5)
            client.decompose(image, mask, backend="classical")
        assert time.monotonic() - t0 < 10
        with pytest.raises(ServerError) as info:
            Client(url, token="another-token-0123456789", open_timeout=5).connect()
        assert info.value.code == protocol.ErrorCode.SERVER_UNVERIFIED
    finally:
        stderr = stop(process, signal.SIGTERM)
    assert "not a regular file" in stderr
