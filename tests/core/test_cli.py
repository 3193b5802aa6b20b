import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import layerdecomp

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, EXAMPLE_MASK = ROOT / "examples" / "coffee.jpg", ROOT / "examples" / "coffee_mask.png"
CLI = shutil.which("layerdecomp")


def run_cli(*args):
    assert CLI, "the layerdecomp console script is not installed (pip install -e .)"
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_example_decomposes_end_to_end(tmp_path):
    done = run_cli("decompose", EXAMPLE, "--mask", EXAMPLE_MASK, "--out", tmp_path, "--backend", "classical")
    assert done.returncode == 0, done.stderr
    image = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    fg = Image.open(tmp_path / "foreground.png")
    bg = Image.open(tmp_path / "background.png")
    vis = Image.open(tmp_path / "visibility.png")
    assert (fg.mode, bg.mode, vis.mode) == ("RGBA", "RGB", "L")
    assert fg.size == bg.size == vis.size == (image.shape[1], image.shape[0])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] == "classical" and report["occlusion_recovery"] is False
    assert report["timings"]["total"] > 0
    # The files hold what the library computes for the same input.
    mask = np.asarray(Image.open(EXAMPLE_MASK))
    expected = layerdecomp.decompose(image, mask, backend="classical")
    assert np.array_equal(np.asarray(fg), expected.foreground)
    assert np.array_equal(np.asarray(bg), expected.background)
    assert np.array_equal(np.asarray(vis), expected.visibility)


def test_help_explains_every_option():
    done = run_cli("decompose", "--help")
    assert done.returncode == 0
    for option in ("--mask", "--out", "--backend", "--margin", "--grow", "--option", "--quiet"):
        assert option in done.stdout


def _write(path, array):
    Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: (_write(d / "i.png", np.zeros((8, 8, 3), np.uint8)),
                    _write(d / "m.png", np.zeros((8, 9), np.uint8) + 255)), "same size"),
        (lambda d: (_write(d / "i.png", np.zeros((8, 8, 3), np.uint8)),
                    _write(d / "m.png", np.zeros((8, 8), np.uint8))), "empty"),
        (lambda d: (_write(d / "i.png", np.zeros((8, 8, 3), np.uint8)),
                    _write(d / "m.png", np.full((8, 8), 255, np.uint8))), "whole image"),
        (lambda d: ((d / "i.png").write_bytes(b"not a picture") and d / "i.png",
                    _write(d / "m.png", np.zeros((8, 8), np.uint8))), "not an image"),
        (lambda d: (_write(d / "i.png", np.zeros((8, 8), np.uint16) + 999),
                    _write(d / "m.png", np.zeros((8, 8), np.uint8))), "16-bit"),
    ],
)
def test_bad_input_fails_in_one_line_and_writes_nothing(tmp_path, make, words):
    image, mask = make(tmp_path)
    out = tmp_path / "out"
    done = run_cli("decompose", image, "--mask", mask, "--out", out, "-q")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert not out.exists() or not any(out.iterdir())
