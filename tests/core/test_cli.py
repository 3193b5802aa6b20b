import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import layerdecomp

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, EXAMPLE_MASK = ROOT / "examples" / "coffee.jpg", ROOT / "examples" / "coffee_mask.png"
# The console script of the Python that runs the tests (a venv's, even when it is not activated).
CLI = shutil.which("layerdecomp", path=str(Path(sys.executable).parent)) or shutil.which("layerdecomp")


def run_cli(*args):
    assert CLI, "the layerdecomp console script is not installed (pip install -e .)"
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_example_decomposes_end_to_end(tmp_path):
    done = run_cli("decompose", EXAMPLE, "--mask", EXAMPLE_MASK, "--out", tmp_path, "--backend", "classical", "-q")
    assert done.returncode == 0, done.stderr
    # Quiet means no progress bar; the one line that says what was written stays.
    assert done.stderr == "" and done.stdout.startswith(f"wrote {tmp_path}/foreground.png") and \
        len(done.stdout.splitlines()) == 1, (done.stdout, done.stderr)
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


@pytest.mark.parametrize("command", ["decompose", "serve"])
def test_help_names_each_default_once_and_never_none(command):
    done = run_cli(command, "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text
    flags = text.split(" options: ", 1)[1].split(" backend options (-O NAME=VALUE):")[0]  # the backends' list after
    for option in re.split(r" (?=-)", flags):
        assert option.count("default") <= 1, option


def test_an_error_once_the_work_started_is_one_line_on_a_pipe_and_leaves_no_folder(tmp_path):
    """An empty selection is found by the decomposition itself, after the progress bar started: piped
    stderr holds the error's one line and nothing of the bar; the --out folder it made is gone."""
    image = _write(tmp_path / "i.png", np.zeros((8, 8, 3), np.uint8))
    mask = _write(tmp_path / "m.png", np.zeros((8, 8), np.uint8))
    out = tmp_path / "new" / "out"
    done = run_cli("decompose", image, "--mask", mask, "--out", out)
    assert done.returncode == 2
    assert done.stderr.startswith("layerdecomp: error:") and done.stderr.count("\n") == 1, repr(done.stderr)
    assert "\r" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "new").exists()


def test_a_missing_picture_makes_no_out_folder_but_leaves_one_that_was_there(tmp_path):
    out = tmp_path / "out"
    done = run_cli("decompose", tmp_path / "nothing.png", "--mask", tmp_path / "nothing.png", "--out", out, "-q")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    assert run_cli("decompose", tmp_path / "nothing.png", "--mask", tmp_path / "m.png", "--out", out).returncode == 2
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


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
    assert not out.exists(), "a failed run left the --out folder it made"
