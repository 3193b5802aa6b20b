"""Pictures as phones and hostile files make them (issue 23): an EXIF orientation is applied to the image
and the mask, so a mask drawn on the picture as viewers show it cuts out the right patch; a progressive JPEG
with thousands of scans is refused before it is decoded; a FIFO is not a picture file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import layerdecomp
from layerdecomp.cli import main
from layerdecomp.io import MAX_JPEG_SCANS, load_image, load_mask, load_pair

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, EXAMPLE_MASK = ROOT / "examples" / "coffee.jpg", ROOT / "examples" / "coffee_mask.png"
ORIENTATION = 0x0112


def sideways_jpeg(path: Path, upright: np.ndarray) -> np.ndarray:
    """Save ``upright`` as a phone does: the sensor's rows (turned 90° anticlockwise) with EXIF orientation
    6 ("turn 90° clockwise to show"). Returns the decoded pixels set upright by hand (numpy, not Pillow)."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    stored.save(path, "JPEG", quality=95, exif=exif)
    with Image.open(path) as im:
        assert im.getexif()[ORIENTATION] == 6
        return np.ascontiguousarray(np.rot90(np.asarray(im.convert("RGB")), k=-1))


def test_an_orientation_6_jpeg_gives_upright_layers_that_match_an_upright_mask(tmp_path):
    upright = np.asarray(Image.open(EXAMPLE).convert("RGB"))[:200, :320]  # wider than tall
    mask = np.asarray(Image.open(EXAMPLE_MASK).convert("L"))[:200, :320]
    if mask.max() == 0:
        mask = np.zeros_like(mask)
        mask[60:140, 100:220] = 255
    expected_image = sideways_jpeg(tmp_path / "phone.jpg", upright)
    Image.fromarray(mask).save(tmp_path / "mask.png")  # drawn on the picture as every viewer shows it

    image = load_image(tmp_path / "phone.jpg")
    assert image.shape == (200, 320, 3) and np.array_equal(image, expected_image)
    assert np.array_equal(load_pair(tmp_path / "phone.jpg", tmp_path / "mask.png")[0], expected_image)
    # A mask file with an orientation is set upright too.
    stored_mask = Image.fromarray(np.ascontiguousarray(np.rot90(mask, k=1)))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    stored_mask.save(tmp_path / "mask6.jpg", "JPEG", quality=100, exif=exif)
    assert load_mask(tmp_path / "mask6.jpg").shape == mask.shape

    assert main(["decompose", str(tmp_path / "phone.jpg"), "--mask", str(tmp_path / "mask.png"),
                 "--backend", "classical",
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    expected = layerdecomp.decompose(expected_image, mask, backend="classical")
    for name in ("foreground", "background", "visibility"):
        with Image.open(tmp_path / "out" / f"{name}.png") as written:
            assert not written.getexif().get(ORIENTATION)  # upright, no orientation left to apply
            assert np.array_equal(np.asarray(written), getattr(expected, name)), name


def scan_bomb(path: Path, scans: int = 2000) -> Path:
    """A 4096² progressive JPEG whose last scan is repeated ``scans`` times (~160 KB; each repeat decodes
    the whole picture again: Pillow took 35 s or more before the scan cap)."""
    buf = io.BytesIO()
    Image.new("RGB", (4096, 4096), (120, 130, 140)).save(buf, "JPEG", progressive=True, quality=50)
    data = buf.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    path.write_bytes(data[:-2] + data[last_scan:-2] * scans + b"\xff\xd9")
    return path


def test_a_jpeg_of_2000_scans_exits_2_within_2_s_with_one_line(tmp_path):
    bomb = scan_bomb(tmp_path / "bomb.jpg")
    assert bomb.stat().st_size < 200_000
    Image.fromarray(np.full((4096, 4096), 255, np.uint8)).save(tmp_path / "mask.png")
    t0 = time.monotonic()
    with pytest.raises(layerdecomp.InvalidInput):
        load_pair(bomb, tmp_path / "mask.png")
    assert time.monotonic() - t0 < 2
    # The command as a user runs it (an interpreter's start is about a second of that).
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "layerdecomp", "decompose", str(bomb),
                           "--mask", str(tmp_path / "mask.png"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "scans" in done.stderr and str(MAX_JPEG_SCANS) in done.stderr
    assert took < 2 + startup_seconds(), f"{took:.1f} s"


def startup_seconds() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "layerdecomp", "--help"], capture_output=True, timeout=120)
    return time.monotonic() - t0


def test_a_fifo_is_not_a_regular_file(tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo.png")
    out = str(tmp_path / "out")
    assert main(["decompose", str(tmp_path / "fifo.png"), "--mask", str(EXAMPLE_MASK), "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a regular file" in err and "does not exist" not in err
