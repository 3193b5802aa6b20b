"""The command line against picture bombs and unwritable outputs: every refusal is one line and exit 2,
decided before the work (sizes from the files' headers, before decoding; the output folder first)."""

from __future__ import annotations

import errno
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdecomp.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE, EXAMPLE_MASK = ROOT / "examples" / "coffee.jpg", ROOT / "examples" / "coffee_mask.png"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, side: int, text_bomb: bool = False) -> Path:
    """A greyscale PNG of ``side`` x ``side`` zeros, compressed row by row (a few hundred KB on disk,
    side² bytes once decoded); ``text_bomb``: plus a zTXt chunk that inflates to 64 MB."""
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)))
        if text_bomb:
            f.write(_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(64 << 20), 9)))
        compressor, row, pending = zlib.compressobj(9), bytes(side + 1), []
        for _ in range(side):
            pending.append(compressor.compress(row))
        pending.append(compressor.flush())
        f.write(_chunk(b"IDAT", b"".join(pending)))
        f.write(_chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb_16k(tmp_path_factory) -> Path:
    return png_bomb(tmp_path_factory.mktemp("bombs") / "bomb.png", 16384)


def cli_in_a_fresh_process(*args) -> tuple[int, str, int]:
    """Exit code, stderr and the peak memory (bytes) of ``layerdecomp ARGS`` run as its own process."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'layerdecomp', *sys.argv[1:]], capture_output=True, text=True)\n"
        "sys.stderr.write(done.stderr)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    code, peak_kib = done.stdout.split()
    return int(code), done.stderr, int(peak_kib) * 1024


def test_a_16384_square_png_bomb_exits_2_with_one_line_in_little_memory(bomb_16k, tmp_path):
    assert bomb_16k.stat().st_size < 1 << 20
    code, stderr, peak = cli_in_a_fresh_process("decompose", bomb_16k, "--mask", bomb_16k, "--out", tmp_path / "out")
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "16384 x 16384" in stderr and "--max-pixels" in stderr
    assert peak < 600 << 20, f"peak {peak >> 20} MiB"


def test_the_mask_size_is_checked_before_either_picture_is_decoded(bomb_16k, tmp_path, capsys):
    # The image is the bomb, allowed by --max-pixels: decoding it would cost 256 MB and more; the
    # mismatch is found from the headers first.
    assert main(["decompose", str(bomb_16k), "--mask", str(EXAMPLE_MASK), "--out", str(tmp_path / "out"),
                 "--max-pixels", str(16384 * 16384)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must be the same size" in err


@pytest.mark.parametrize("case", ["text bomb", "truncated", "not a picture", "missing"])
def test_bad_files_are_one_line_errors(case, tmp_path, capsys):
    path = tmp_path / "bad.png"
    if case == "text bomb":
        png_bomb(path, 64, text_bomb=True)
    elif case == "truncated":
        path.write_bytes(EXAMPLE_MASK.read_bytes()[:300])
    elif case == "not a picture":
        path.write_text("hello")
    assert main(["decompose", str(path), "--mask", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("layerdecomp: error:"), err


def test_an_unwritable_output_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    started = []
    monkeypatch.setattr("layerdecomp.commands.decompose.load_pair", lambda *a, **k: started.append(1))
    assert main(["decompose", str(EXAMPLE), "--mask", str(EXAMPLE_MASK), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write results into" in err
    assert not started, "the pictures were read although the results could not be written"


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_or_read_only_folder_while_writing_is_one_line_and_leaves_nothing(failure, tmp_path, capsys,
                                                                                     monkeypatch):
    real_save = Image.Image.save
    calls = []

    def save(self, fp, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second picture: the first was written, the disk is full now
            raise OSError(failure, "No space left on device" if failure == errno.ENOSPC else "Read-only file system")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    out = tmp_path / "out"
    assert main(["decompose", str(EXAMPLE), "--mask", str(EXAMPLE_MASK), "--out", str(out),
                 "--backend", "classical", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "could not write the results" in err, err
    assert list(out.iterdir()) == [], "a half-written result was left behind"


@pytest.mark.parametrize("args, fragment", [
    (["--grow", "-1"], "0 or more"),
    (["--max-pixels", "0"], "from 1 to"),
    (["-O", "seed=abc", "--backend", "classical"], "seed must be a whole number"),
    (["--grow", "100000", "--backend", "classical"], "reaches beyond"),
])
def test_argument_mistakes_are_one_line_errors(args, fragment, tmp_path, capsys):
    try:
        code = main(["decompose", str(EXAMPLE), "--mask", str(EXAMPLE_MASK), "--out", str(tmp_path), *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err.splitlines()[-1], err


def test_a_large_grow_is_fast_and_close_to_the_kernel_s_disc():
    from layerdecomp.region import KERNEL_GROW_LIMIT, grow_hole
    import cv2

    selected = np.zeros((300, 300), bool)
    selected[140:160, 100:200] = True
    grow = KERNEL_GROW_LIMIT + 8
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    by_kernel = cv2.dilate(selected.astype(np.uint8), kernel) > 0
    by_distance = grow_hole(selected, grow)
    assert np.count_nonzero(by_kernel != by_distance) < 0.01 * np.count_nonzero(by_kernel)
    assert grow_hole(selected, 10_000).all()
