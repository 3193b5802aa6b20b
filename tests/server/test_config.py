"""The token file: created once, user-only, found again; the folder can be moved."""

from __future__ import annotations

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


def test_a_loosened_token_file_is_tightened(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    token = config.read_or_create_token()
    os.chmod(config.token_path(), 0o644)
    assert config.read_or_create_token() == token
    assert stat.S_IMODE(config.token_path().stat().st_mode) == 0o600


def test_an_empty_token_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    config.token_path().write_text("\n")
    with pytest.raises(ValueError, match="delete it"):
        config.read_token()


def test_default_folder_follows_xdg_on_linux(tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERDECOMP_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_dir() == tmp_path / "layerdecomp"
