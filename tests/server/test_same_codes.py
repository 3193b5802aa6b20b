"""Each rule about what a job may set is checked in one place, so a mistake gets the same code whichever
way the job comes: the Python API, `layerdecomp decompose`, or a client of the server."""

from __future__ import annotations

import cv2
import pytest

import layerdecomp
from layerdecomp.cli import main
from layerdecomp.errors import LayerDecompError
from layerdecomp_server.client import Client

from .helpers import TOKEN, picture

# (what is wrong, the decompose keywords, the same as command-line arguments); all for the classical backend
MISTAKES = [
    ("a seed that is text", {"seed": "abc"}, ["-O", "seed=abc"]),
    ("a negative seed", {"seed": -1}, ["-O", "seed=-1"]),
    ("a seed past the largest", {"seed": 2**40}, ["-O", f"seed={2**40}"]),
    ("a choice it does not offer", {"matting": "sharp"}, ["-O", "matting=sharp"]),
    ("an option of another backend", {"steps": 4}, ["-O", "steps=4"]),
    ("a grow beyond the picture", {"grow": 10**6}, ["--grow", str(10**6)]),
    ("a negative grow", {"grow": -1}, ["--grow", "-1"]),
    ("a negative margin", {"margin": -3}, ["--margin", "-3"]),
]


def _code(call) -> str:
    with pytest.raises(LayerDecompError) as info:
        call()
    return info.value.code


@pytest.mark.parametrize("what, keywords, arguments", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_gets_the_same_code_from_the_api_the_command_line_and_the_server(
        what, keywords, arguments, classical_server, tmp_path, capsys):
    image, mask = picture(seed=4)
    api = _code(lambda: layerdecomp.decompose(image, mask, backend="classical", **keywords))
    with Client(classical_server.url, token=TOKEN) as client:
        server = _code(lambda: client.decompose(image, mask, **keywords))
    cv2.imwrite(str(tmp_path / "image.png"), image)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    status = main(["decompose", str(tmp_path / "image.png"), "--mask", str(tmp_path / "mask.png"), "--out",
                   str(tmp_path / "out"), "--backend", "classical", "-q", *arguments])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2 and last.startswith("layerdecomp: error: ") and last.endswith("]"), last
    command_line = last.rsplit("[", 1)[1].rstrip("]")
    assert api == server == command_line == "invalid_input", (api, server, command_line)
