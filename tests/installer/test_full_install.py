"""The whole install (with --use-current-env: no venv, no torch download) in a throwaway HOME."""

from __future__ import annotations

import json
import os

from installer import weights

from .conftest import USER_KRITARC, tree
from .hubserver import HubServer


def _install(profile, plugin_zip, *extra, check=True):
    # The profile's free port, never the default 8765 that a running Krita's server may hold (status would
    # not say "server: not running"); the same one each time, so that a second install changes nothing.
    return profile.run("install", "--use-current-env", "--no-warm-up", "--plugin-zip", str(plugin_zip),
                       "--port", str(profile.port), *extra, check=check)


def _user_setup(profile):
    profile.config.mkdir(parents=True)
    profile.kritarc.write_bytes(USER_KRITARC.encode())
    profile.krita_dir.mkdir(parents=True)


def test_install_status_reinstall_uninstall(profile, plugin_zip):
    _user_setup(profile)
    before = tree(profile.home)
    _install(profile, plugin_zip, "--weights-set", "none")
    settings = json.loads((profile.config / "layerdecomp" / "server.json").read_text())
    assert settings["backend"] == "classical" and settings["server_argv"][1:] == ["-m", "layerdecomp", "serve"]
    token = (profile.config / "layerdecomp" / "token")
    assert len(token.read_text().strip()) >= 32 and token.stat().st_mode & 0o077 == 0
    after = tree(profile.home)

    second = _install(profile, plugin_zip, "--weights-set", "none")
    assert "already up to date" in second.stdout
    assert tree(profile.home) == after

    status = profile.run("status")
    assert "plugin: Sample Plugin (sample_plugin)" in status.stdout and "version 1.0" in status.stdout
    assert "enabled in" in status.stdout and "True" in status.stdout
    assert "torch" in status.stdout and "server: not running" in status.stdout
    assert tree(profile.home) == after

    profile.run("uninstall")
    assert tree(profile.home) == before
    assert "not installed" in profile.run("status", check=False).stdout


def test_warm_up_then_status_starts_the_installed_server_and_sees_it_answer(profile, plugin_zip):
    _user_setup(profile)
    installed = profile.run("install", "--use-current-env", "--plugin-zip", str(plugin_zip), "--weights-set", "none",
                            "--port", str(profile.port))
    assert "warm-up: running the classical backend once\n  done" in installed.stdout
    # The next steps name the plugin's docker; the server settings line comes once.
    assert "Settings > Dockers > Layer Decomposition" in installed.stdout
    assert installed.stdout.count("server settings: ") == 1, installed.stdout
    status = profile.run("status", "--start-server")
    assert "-m layerdecomp serve` starts and answers" in status.stdout, status.stdout
    profile.run("uninstall")


def test_a_token_that_was_there_before_stays(profile, plugin_zip):
    _user_setup(profile)
    (profile.config / "layerdecomp").mkdir(mode=0o700)
    (profile.config / "layerdecomp" / "token").write_text("my-own-token-0123456789\n")
    (profile.config / "layerdecomp" / "token").chmod(0o600)
    before = tree(profile.home)
    _install(profile, plugin_zip, "--weights-set", "none")
    assert (profile.config / "layerdecomp" / "token").read_text() == "my-own-token-0123456789\n"
    profile.run("uninstall")
    assert tree(profile.home) == before


def _flux_files():
    return {f"{f.repo}/{f.path}": f"fake {f.path}\n".encode() * 50 for f in weights.DIFFUSION}


def test_weights_from_the_hub_resume_and_uninstall(profile, plugin_zip):
    _user_setup(profile)
    before = tree(profile.home)
    with HubServer(_flux_files()) as hub:
        profile.env["HF_ENDPOINT"] = hub.url
        hub.gated_token = "hf_test"
        refused = _install(profile, plugin_zip, "--weights-set", "diffusion", check=False)
        assert refused.returncode == 2
        assert "gated model" in refused.stderr and "work with the classical backend" in refused.stderr
        assert "accept the licence (FLUX.1 [dev] Non-Commercial License)" in refused.stderr
        # The plugin and the server are in place meanwhile; the next install completes the weights.
        assert json.loads((profile.config / "layerdecomp" / "server.json").read_text())["backend"] == "classical"
        profile.env["HF_TOKEN"] = "hf_test"
        hub.cut_after = 100
        cut = _install(profile, plugin_zip, "--weights-set", "diffusion", check=False)
        assert cut.returncode == 2 and "run install again to resume" in cut.stderr
        _install(profile, plugin_zip, "--weights-set", "diffusion")
        assert any(r[2] == "bytes=100-" for r in hub.requests)
    weights_dir = profile.data / "layerdecomp" / "weights"
    transformer = weights_dir / "FLUX.1-Fill-dev" / "transformer" / "config.json"
    assert transformer.read_bytes() == b"fake transformer/config.json\n" * 50
    settings = json.loads((profile.config / "layerdecomp" / "server.json").read_text())
    assert settings["backend"] == "diffusion" and settings["weights_dir"] == str(weights_dir)
    assert settings["server_argv"][-2:] == ["-O", f"model={weights_dir / 'FLUX.1-Fill-dev'}"]
    profile.run("uninstall")
    assert tree(profile.home) == before


def test_offline_weights_are_used_in_place_and_left_alone(profile, plugin_zip, tmp_path):
    _user_setup(profile)
    source = tmp_path / "my-weights"
    for name, data in _flux_files().items():
        path = source / name.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    mine = tree(source)
    before = tree(profile.home)
    _install(profile, plugin_zip, "--weights-set", "diffusion", "--offline", "--weights", str(source))
    assert json.loads((profile.config / "layerdecomp" / "server.json").read_text())["weights_dir"] == str(source)
    profile.run("uninstall")
    assert tree(profile.home) == before and tree(source) == mine
    (source / "FLUX.1-Fill-dev" / "vae" / "config.json").unlink()
    missing = _install(profile, plugin_zip, "--weights-set", "diffusion", "--offline", "--weights", str(source),
                       check=False)
    assert missing.returncode == 2 and "lacks 1 file(s)" in missing.stderr


def test_offline_without_an_environment_is_refused(profile, plugin_zip):
    _user_setup(profile)
    result = profile.run("install", "--offline", "--plugin-zip", str(plugin_zip), check=False)
    assert result.returncode == 2 and "--use-current-env" in result.stderr


def test_a_new_environment_whose_pip_fails_is_removed_and_uninstall_removes_the_rest(profile, plugin_zip, tmp_path):
    """The real venv path up to pip, with pip given nowhere to fetch from (so no torch is ever downloaded)."""
    _user_setup(profile)
    for key in [k for k in profile.env if k.startswith("PIP_")]:
        del profile.env[key]
    profile.env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", RUSTUP_HOME=str(tmp_path / "rustup"))
    before = tree(profile.home)
    result = profile.run("install", "--gpu", "cpu", "--no-warm-up", "--plugin-zip", str(plugin_zip), check=False)
    assert result.returncode == 2
    assert "installing torch==" in result.stderr and "run install again" in result.stderr
    assert not (profile.data / "layerdecomp" / "env").exists()  # the half-built environment is gone
    assert "removing the unfinished environment" in result.stdout
    assert "--index-url https://download.pytorch.org/whl/cpu" in result.stdout
    assert (profile.krita_dir / "pykrita" / "sample_plugin.desktop").exists()
    profile.run("uninstall")
    assert tree(profile.home) == before
