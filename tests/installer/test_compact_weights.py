"""The compact weight set (the learned backend's ViTMatte and MI-GAN): the catalogue shown before anything
is fetched, resumable checked downloads from a hub-like server, status, offline install from files on
disk, and the learned backend finding what the installer put there."""

from __future__ import annotations

import json

import numpy as np

from installer import weights

from ..learned.tiny_models import build_weights
from .conftest import tree
from .hubserver import HubServer
from .test_full_install import _install, _user_setup


def _compact_files():
    return {f"{f.repo}/{f.path}": f"fake {f.path}\n".encode() * 400 for f in weights.COMPACT}


def test_the_catalogue_lists_licence_size_source_and_checksum():
    for name, models in weights.CATALOGUE.items():
        assert models and all(m.licence and m.size and m.source.startswith("https://") for m in models)
        assert {f for m in models for f in m.files} == set(weights.WEIGHT_SETS[name])
    text = "\n".join(weights.describe("compact"))
    for expected in ("ViTMatte", "MI-GAN", "licence: MIT", "size: about", "source: https://huggingface.co/",
                     "checksum: sha256", "migan/migan_pipeline_v2.onnx",
                     "vitmatte-small-composition-1k/model.safetensors"):
        assert expected in text


def test_catalogue_command_prints_every_set(profile):
    out = profile.run("catalogue").stdout
    assert "--weights-set compact:" in out and "--weights-set diffusion:" in out
    assert out.count("licence:") == sum(len(models) for models in weights.CATALOGUE.values())
    assert "FLUX.1 [dev] Non-Commercial License" in out and "23 files under FLUX.1-Fill-dev/" in out


def test_compact_set_from_the_hub_resumes_shows_in_status_and_uninstalls(profile, plugin_zip):
    _user_setup(profile)
    before = tree(profile.home)
    with HubServer(_compact_files()) as hub:
        profile.env["HF_ENDPOINT"] = hub.url
        hub.cut_after = 300
        cut = _install(profile, plugin_zip, "--weights-set", "compact", check=False)
        assert cut.returncode == 2 and "run install again to resume" in cut.stderr
        # Sizes and licences come before anything is downloaded.
        assert cut.stdout.index("licence: MIT") < cut.stdout.index("weights: compact into")
        assert "size: about 27 MB" in cut.stdout
        done = _install(profile, plugin_zip, "--weights-set", "compact")
        assert any(r[2] == "bytes=300-" for r in hub.requests)
        assert not any(".bin" in r[1] for r in hub.requests)  # never a pickle
    weights_dir = profile.data / "layerdecomp" / "weights"
    onnx_file = weights_dir / "migan" / "migan_pipeline_v2.onnx"
    assert onnx_file.read_bytes() == _compact_files()["andraniksargsyan/migan/migan_pipeline_v2.onnx"]
    lock = json.loads((weights_dir / weights.LOCK_NAME).read_text())
    assert set(lock) == {f.local_path for f in weights.COMPACT} and all(len(e["sha256"]) == 64 for e in lock.values())
    settings = json.loads((profile.config / "layerdecomp" / "server.json").read_text())
    chosen = (settings["backend"], settings["weights_set"], settings["weights_dir"])
    assert chosen == ("learned", "compact", str(weights_dir))
    assert "-O" not in settings["server_argv"]  # the learned backend reads weights_dir from this file
    assert "learned backend" in done.stdout

    status = profile.run("status", check=False).stdout
    assert "weights (compact set): 3 of 3 files" in status and "migan/migan_pipeline_v2.onnx: 11.2 KB" in status
    onnx_file.unlink()
    assert "migan/migan_pipeline_v2.onnx: MISSING" in profile.run("status", check=False).stdout
    profile.run("uninstall")
    assert tree(profile.home) == before


def test_offline_compact_set_is_what_the_learned_backend_loads(profile, plugin_zip, tmp_path, monkeypatch):
    import layerdecomp
    from layerdecomp import backends, learned

    _user_setup(profile)
    source = build_weights(tmp_path / "my-weights")  # real (tiny) models in the hub's layout
    mine = tree(source)
    _install(profile, plugin_zip, "--weights-set", "compact", "--offline", "--weights", str(source))
    settings = json.loads((profile.config / "layerdecomp" / "server.json").read_text())
    assert settings["weights_dir"] == str(source) and settings["backend"] == "learned"

    # The library, configured only by what the installer wrote, picks the learned backend and runs it.
    monkeypatch.delenv("LAYERDECOMP_CONFIG_DIR", raising=False)
    monkeypatch.delenv(learned.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(profile.config))
    assert backends.resolve("auto").name == "learned"
    image = np.full((64, 64, 3), 90, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 24:44] = 255
    assert layerdecomp.decompose(image, mask).metadata["backend"] == "learned"

    profile.run("uninstall")
    assert tree(source) == mine  # files given with --offline are left alone
    (source / "migan" / "migan_pipeline_v2.onnx").unlink()
    missing = _install(profile, plugin_zip, "--weights-set", "compact", "--offline", "--weights", str(source),
                       check=False)
    assert missing.returncode == 2 and "lacks 1 file(s), e.g. migan/migan_pipeline_v2.onnx" in missing.stderr
