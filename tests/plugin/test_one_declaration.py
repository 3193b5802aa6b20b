"""Adding a per-job option to a backend is one declaration: declared in tests/plugin/option_backend.py
(``feather``), it is checked by the core, announced in the server's welcome, listed by `layerdecomp
decompose --help` and drawn by the Krita settings, with nothing else written for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import layerdecomp
from layerdecomp import backends
from layerdecomp.cli import build_parser
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.client import Client
from layerdecomp_server.in_thread import ThreadedServer

from . import option_backend
from .conftest import HERE

TOKEN = "one-declaration-token-0123456789"


@pytest.fixture(scope="module", autouse=True)
def registered():
    backends.register_module("test_option", "tests.plugin.option_backend")
    yield
    backends._MODULES.pop("test_option", None)


def _picture() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    mask[12:30, 20:44] = 255
    return image, mask


def test_the_core_checks_it_and_the_backend_gets_it_with_its_default():
    image, mask = _picture()
    option_backend.RUNS.clear()
    result = layerdecomp.decompose(image, mask, backend="test_option", feather=5, seed=9)
    assert option_backend.RUNS[-1] == {"feather": 5, "seed": 9}
    assert result.metadata["options"]["feather"] == 5 and result.metadata["seed"] == 9
    layerdecomp.decompose(image, mask, backend="test_option")
    assert option_backend.RUNS[-1] == {"feather": 2, "seed": 0}  # the declared defaults, filled in
    for bad in (9, -1, 2.5, "3", True):
        with pytest.raises(layerdecomp.InvalidInput, match="option feather must be a whole number from 0 to 8"):
            layerdecomp.Decomposer("test_option").decompose(image, mask, feather=bad)


def test_the_welcome_announces_it_and_a_job_through_the_server_gets_it():
    config = ServerConfig(host="127.0.0.1", port=0, backend="test_option", token=TOKEN)
    image, mask = _picture()
    with ThreadedServer(config) as server, Client(server.url, token=TOKEN) as client:
        welcome = client.connect()
        assert welcome.schema == [
            {"name": "feather", "type": "int", "default": 2, "label": "Feather",
             "help": "How many pixels the edge is softened by.", "min": 0, "max": 8},
            {"name": "seed", "type": "seed", "default": 0, "label": "Variation",
             "help": "Another number, another try.", "min": 0, "max": 2**32 - 1}]
        methods = {m["name"]: m for m in welcome.methods}
        assert methods["test_option"] == {"name": "test_option", "label": "Option test", "available": True,
                                          "description": "A test method with one option of its own.", "reason": ""}
        assert set(methods) >= {"classical", "learned", "diffusion"}
        assert not methods["classical"]["available"]
        assert "layerdecomp serve --backend classical" in methods["classical"]["reason"]
        option_backend.RUNS.clear()
        client.decompose(image, mask, feather=7)
        assert option_backend.RUNS == [{"feather": 7, "seed": 0}]
        with pytest.raises(layerdecomp.InvalidInput, match="option feather must be"):
            client.decompose(image, mask, feather=80)


def test_decompose_help_lists_it(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["decompose", "--help"])
    text = capsys.readouterr().out
    assert "  test_option:\n    feather (int 0..8, default 2): How many pixels the edge is softened by.\n" in text
    assert "    seed (seed, default 0): Another number, another try.\n" in text


# Draws the Krita settings' option form from a schema under PyQt6 (what Krita 6 has), from the plugin as
# packaged, and says what it drew.
DRAW = """
import json, sys, types
from PyQt6 import QtWidgets
app = QtWidgets.QApplication([])
package = types.ModuleType("layerdecomp_krita"); package.__path__ = [sys.argv[1] + "/layerdecomp_krita"]
sys.modules["layerdecomp_krita"] = package
from layerdecomp_krita.option_widgets import OptionForm
form = OptionForm(json.loads(sys.argv[2]), {"feather": 6})
drawn = []
for name in form.names():
    widget = form.widget(name)
    label = form.layout().labelForField(widget).text()
    drawn.append([name, type(widget).__name__, label, widget.toolTip(), widget.minimum(), widget.maximum()])
print(json.dumps({"drawn": drawn, "values": form.values()}))
"""


def test_the_krita_settings_draw_it(staged_plugin):
    config = ServerConfig(host="127.0.0.1", port=0, backend="test_option", token=TOKEN)
    with ThreadedServer(config) as server, Client(server.url, token=TOKEN) as client:
        schema = client.connect().schema
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-c", DRAW, str(staged_plugin), json.dumps(schema)], env=env,
                         capture_output=True, text=True, timeout=60, cwd=HERE)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["drawn"][0] == ["feather", "QSpinBox", "Feather", "How many pixels the edge is softened by.", 0, 8]
    assert out["drawn"][1][:3] == ["seed", "QSpinBox", "Variation"]
    assert out["values"] == {"feather": 6}  # what the artist set; the seed is drawn fresh each job
