"""The learned backend end to end with the tiny models: faithful layers, the object gone from the plate,
detail kept on a large crop, auto's choice, and the CLI with and without weights."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import layerdecomp
from layerdecomp import backends, learned, matting
from layerdecomp.cli import main
from layerdecomp.errors import BackendUnavailable, Cancelled, InvalidInput

from ..core.test_decompose_properties import assert_faithful, pictures
from PIL import Image


def save_image(path, array):
    Image.fromarray(array).save(path)


def scene(size: int, seed: int = 0):
    """A textured background (blue-green stripes and noise) with a red disc, and the disc's selection."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    stripes = (np.sin(x / 3.0) * 40 + np.sin(y / 5.0) * 30).astype(np.float32)
    image = np.empty((size, size, 3), np.float32)
    image[..., 0] = 30 + stripes * 0.3
    image[..., 1] = 120 + stripes
    image[..., 2] = 160 + stripes * 0.5
    image += rng.normal(0, 6, image.shape)
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (size // 2, size // 2), size // 4, 255, -1)
    image[mask > 0] = (220, 30, 30)
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture
def no_installed_weights(tmp_path, monkeypatch):
    """Neither the environment variable nor an installer's settings point at weights."""
    monkeypatch.delenv(learned.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path / "config"))


def test_layers_are_faithful_and_the_object_leaves_the_plate(tiny_weights):
    image, mask = scene(160)
    result = layerdecomp.decompose(image, mask, backend="learned", weights=str(tiny_weights))
    meta = result.metadata
    assert (meta["backend"], meta["matting"], meta["removal"]) == ("learned", "vitmatte", "migan")
    assert meta["occlusion_recovery"] is False and "occlusion_recovery" in meta["unsupported"]

    grown = cv2.dilate(mask, np.ones((31, 31), np.uint8)) > 0
    assert np.array_equal(result.background[~grown], image[~grown])  # bit for bit outside the selection
    assert np.all(result.foreground[~grown][:, 3] == 0)
    # Foreground over background reproduces the picture where the object is visible.
    a = result.foreground[..., 3:].astype(np.float32) / 255
    composite = a * result.foreground[..., :3] + (1 - a) * result.background
    assert np.abs(composite - image).max() <= 2.0
    # The plate inside the disc is the background's colours (the fill's source), not the red object.
    reach = 2 * matting.band_radius(mask) + 5  # beyond the unknown band
    inner = cv2.erode(mask, np.ones((reach, reach), np.uint8)) > 0
    plate = result.background[inner].astype(np.float32).mean(axis=0)
    assert plate[0] < 80 and plate[1] > 80, plate
    assert result.foreground[inner][:, 3].min() == 255  # inside the trimap's object: opaque


def test_a_large_crop_gets_the_pictures_detail_back(tiny_weights):
    image, mask = scene(1400, seed=1)
    result = layerdecomp.decompose(image, mask, backend="learned", weights=str(tiny_weights))
    assert result.metadata["removal_working_size"] == [512, 512]  # the model ran at its native size
    assert max(result.metadata["matting_working_size"]) == 512

    def fine_detail(picture, where):  # what a Gaussian blur (sigma 2) takes away, green channel
        g = picture[..., 1].astype(np.float32)
        return float((g - cv2.GaussianBlur(g, (0, 0), 2))[where].std())

    inner = cv2.erode(mask, np.ones((41, 41), np.uint8)) > 0
    ring = (cv2.dilate(mask, np.ones((161, 161), np.uint8)) > 0) & ~(cv2.dilate(mask, np.ones((41, 41), np.uint8)) > 0)
    # The tiny model's own fill is one flat colour (fine detail 0, and a plain upsampling keeps it 0):
    # the fine detail in the hole is the picture's, put back at full resolution.
    assert fine_detail(result.background, inner) > 0.4 * fine_detail(image, ring)


def test_auto_prefers_learned_when_its_weights_are_here(tiny_weights, no_installed_weights, monkeypatch):
    assert backends.resolve("auto").name == "classical"
    monkeypatch.setenv(learned.WEIGHTS_ENV, str(tiny_weights))
    assert backends.resolve("auto").name == "learned"
    # ... and the diffusion backend wins over both when it can run (its priority is higher).
    assert backends.backend_class("diffusion").priority > backends.backend_class("learned").priority


def test_the_installers_weights_folder_is_found(tiny_weights, no_installed_weights, tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "server.json").write_text(f'{{"weights_dir": "{tiny_weights}"}}')
    assert backends.resolve("learned").name == "learned"


def test_without_weights_the_reason_says_how_to_get_them(no_installed_weights, tmp_path):
    with pytest.raises(BackendUnavailable, match="--weights-set compact"):
        backends.resolve("learned")
    with pytest.raises(BackendUnavailable, match=r"lacks .*migan_pipeline_v2\.onnx"):
        backends.resolve("learned", weights=str(tmp_path))


def test_weights_that_do_not_load_are_a_clear_error(tiny_weights, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_weights, broken)
    learned.removal_file(broken).write_bytes(b"not an onnx file")
    image, mask = scene(64)
    with pytest.raises(BackendUnavailable, match="cannot be loaded.*onnxruntime cannot load"):
        layerdecomp.decompose(image, mask, backend="learned", weights=str(broken))
    shutil.copy(learned.removal_file(tiny_weights), learned.removal_file(broken))
    (learned.matting_folder(broken) / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(BackendUnavailable, match="cannot be loaded"):
        layerdecomp.decompose(image, mask, backend="learned", weights=str(broken))


def test_a_bad_matting_resolution_is_refused(tiny_weights):
    image, mask = scene(64)
    for value in ("big", 8):
        with pytest.raises(InvalidInput, match="matting_resolution"):
            layerdecomp.decompose(image, mask, backend="learned", weights=str(tiny_weights), matting_resolution=value)


def test_cancel_is_answered(tiny_weights):
    image, mask = scene(64)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        layerdecomp.decompose(image, mask, backend="learned", weights=str(tiny_weights), cancel=cancel)


def test_cli_runs_the_learned_backend(tiny_weights, tmp_path):
    image, mask = scene(96)
    save_image(tmp_path / "in.png", image)
    save_image(tmp_path / "mask.png", mask)
    out = tmp_path / "out"
    rc = main(["decompose", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "--out", str(out),
               "--backend", "learned", "-O", f"weights={tiny_weights}", "--quiet"])
    assert rc == 0
    assert {p.name for p in out.iterdir()} >= {"foreground.png", "background.png", "report.json"}
    assert '"backend": "learned"' in (out / "report.json").read_text()


def test_cli_without_weights_exits_2_with_one_line(no_installed_weights, tmp_path, capsys):
    image, mask = scene(64)
    save_image(tmp_path / "in.png", image)
    save_image(tmp_path / "mask.png", mask)
    rc = main(["decompose", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
               "--out", str(tmp_path / "out"), "--backend", "learned", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "python -m installer install --weights-set compact" in err


def test_eval_measures_the_learned_backend_like_any_other(tiny_weights, capsys):
    import json

    rc = main(["eval", "--cases", "1", "--size", "96", "--backend", "classical", "--backend", "learned",
               "-O", f"learned.weights={tiny_weights}", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert set(summary) == {"classical", "learned"}
    assert summary["learned"]["outside_maxdiff"] == 0 and summary["learned"]["alpha_sad"] >= 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pictures())
def test_learned_decomposition_is_faithful(tiny_weights, case):
    """The layering guarantees of every backend, on random pictures and (soft) selections."""
    image, mask, grow = case
    out = layerdecomp.decompose(image, mask, backend="learned", grow=grow, weights=str(tiny_weights))
    assert_faithful(image, mask, grow, out)


def test_a_selection_nowhere_complete_takes_that_share(tiny_weights):
    image, mask = scene(96)
    half = (mask // 2).astype(np.uint8)  # a 50% selection of the whole disc
    out = layerdecomp.decompose(image, half, backend="learned", weights=str(tiny_weights))
    reach = 2 * matting.band_radius(mask) + 5  # beyond the unknown band, where the trimap says "object"
    inner = cv2.erode(mask, np.ones((reach, reach), np.uint8)) > 0
    # Beyond the band the trimap's "object" takes the selection's share, never the whole. (In the band the
    # tiny random ViTMatte's alpha is arbitrary, and where it leaves the object's colour out of range over
    # the plate the layering raises it: layering.least_alpha8.)
    assert out.foreground[..., 3][inner].max() <= 129
    assert out.foreground[..., 3][inner].min() >= 126


def test_eval_on_real_photo_folders_runs_the_learned_backend(tiny_weights, tmp_path, capsys):
    """`layerdecomp eval --photos` (the real-photo measurement) with backend options, on a folder in the
    alphamatting.com layout (a synthetic stand-in here: the real photos never enter the repository)."""
    import json

    image, mask = scene(96)
    alpha = cv2.GaussianBlur(mask, (0, 0), 1.5)  # a soft ground-truth edge
    for sub, picture in (("input", image), ("gt", alpha)):
        (tmp_path / "photos" / sub).mkdir(parents=True)
        save_image(tmp_path / "photos" / sub / "GT01.png", picture)
    rc = main(["eval", "--photos", str(tmp_path / "photos"), "--variants", "exact", "loose", "--no-closed-form",
               "--backend", "learned", "-O", f"learned.weights={tiny_weights}", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["photos"] == 1 and len(report["learned"]["rows"]) == 2
