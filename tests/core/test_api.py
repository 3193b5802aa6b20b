import subprocess
import sys
import threading

import numpy as np
import pytest

import layerdecomp
from layerdecomp import backends
from layerdecomp.errors import BackendUnavailable, Cancelled, InvalidInput
from layerdecomp.region import DEFAULT_GROW


def _photo_and_mask(h=64, w=80):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[20:40, 30:50] = 255
    return image, mask


def test_decompose_returns_full_size_layers_and_metadata():
    image, mask = _photo_and_mask()
    out = layerdecomp.decompose(image, mask, backend="classical", margin=8)
    assert out.foreground.shape == (64, 80, 4)
    assert out.background.shape == (64, 80, 3)
    assert out.visibility.shape == (64, 80)
    assert out.metadata["backend"] == "classical"
    assert out.metadata["occlusion_recovery"] is False
    assert set(out.metadata["timings"]) >= {"region", "backend", "layering"}
    x, y, w, h = out.box.as_tuple()
    # Nothing changes outside the box.
    outside = np.ones((64, 80), bool)
    outside[y:y + h, x:x + w] = False
    assert np.array_equal(out.background[outside], image[outside])
    assert not out.foreground[outside].any()


def test_auto_picks_a_backend_that_can_run():
    image, mask = _photo_and_mask()
    assert layerdecomp.decompose(image, mask).metadata["backend"] in backends.available_names()


def test_progress_is_reported_and_ends_with_layering():
    image, mask = _photo_and_mask()
    seen = []
    layerdecomp.decompose(image, mask, backend="classical", progress=lambda s, f: seen.append((s, f)))
    assert seen[0][0] == "region" and seen[-1] == ("layering", 1.0)
    assert all(0.0 <= f <= 1.0 for _, f in seen)


def test_a_set_cancel_token_stops_before_the_backend_runs():
    image, mask = _photo_and_mask()
    token = threading.Event()
    token.set()
    with pytest.raises(Cancelled):
        layerdecomp.decompose(image, mask, backend="classical", cancel=token)


def test_unknown_backend_and_unknown_option_are_clear_errors():
    image, mask = _photo_and_mask()
    with pytest.raises(BackendUnavailable, match="unknown backend 'nope'"):
        layerdecomp.decompose(image, mask, backend="nope")
    with pytest.raises(InvalidInput, match="has no option colour"):
        layerdecomp.decompose(image, mask, backend="classical", colour=3)


def test_a_decomposer_gives_what_decompose_gives_and_takes_per_run_options_over_its_defaults():
    image, mask = _photo_and_mask()
    decomposer = layerdecomp.Decomposer("classical", matting="guided").load()
    assert decomposer.name == "classical" and decomposer.default_options == {"matting": "guided"}
    held = decomposer.decompose(image, mask, margin=8, seed=2)
    once = layerdecomp.decompose(image, mask, backend="classical", margin=8, matting="guided", seed=2)
    for layer in ("foreground", "background", "visibility"):
        assert np.array_equal(getattr(held, layer), getattr(once, layer))
    assert held.metadata["options"] == once.metadata["options"] == {
        "margin": 8, "grow": DEFAULT_GROW, "matting": "guided", "seed": 2}
    assert decomposer.decompose(image, mask, margin=8, matting="closed_form").metadata["options"]["matting"] \
        == "closed_form"


def test_the_seed_used_is_in_the_metadata():
    image, mask = _photo_and_mask()
    assert layerdecomp.decompose(image, mask, backend="classical", seed=12345).metadata["seed"] == 12345
    assert layerdecomp.decompose(image, mask, backend="classical").metadata["seed"] == 0  # the backend's default


def test_a_decomposer_refuses_unknown_options_and_load_options_per_run():
    image, mask = _photo_and_mask()
    with pytest.raises(InvalidInput, match="has no option colour"):
        layerdecomp.Decomposer("classical", colour=3)
    with pytest.raises(InvalidInput, match="has no option colour"):
        layerdecomp.Decomposer("classical").decompose(image, mask, colour=3)
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        layerdecomp.Decomposer("nope")


def test_importing_the_core_pulls_in_neither_torch_nor_qt_nor_krita():
    code = (
        "import sys, layerdecomp, layerdecomp.cli;"
        "bad = [m for m in ('torch', 'PyQt5', 'PyQt6', 'krita', 'diffusers') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
