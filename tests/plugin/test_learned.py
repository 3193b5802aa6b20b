"""The plugin with the learned backend: the controller (fake krita, real websockets and protocol) against
a real server running the tiny stand-in models; the layers it inserts are the library's."""

from __future__ import annotations

import numpy as np
import pytest

import layerdecomp
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.in_thread import ThreadedServer

from ..learned.tiny_models import build_weights
from .test_client import TOKEN, configure, make_controller, photo, pump, token_file  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("learned-weights"))


@pytest.fixture(scope="module")
def learned_server(weights):
    config = ServerConfig(port=0, backend="learned", options={"weights": str(weights)}, token=TOKEN)
    with ThreadedServer(config) as running:
        yield running


def test_decompose_selection_with_the_learned_backend(plugin, krita, photo, learned_server, token_file,  # noqa: F811
                                                      weights):  # photo, token_file: fixtures imported above
    doc, bgra, mask = photo
    configure(krita, server_url=learned_server.url, token_file=str(token_file), auto_start=False, backend="learned")
    controller, ui = make_controller(krita)
    controller.trigger()
    pump(controller, ui, timeout=120.0)
    assert controller.messages[-1][:2] == ("info", "done"), controller.messages

    background, obj = doc.rootNode().childNodes()[1].childNodes()
    expected = layerdecomp.decompose(bgra[..., [2, 1, 0, 3]], mask, backend="learned", weights=str(weights))
    h, w = mask.shape
    got_fg = np.frombuffer(obj.pixelData(0, 0, w, h), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
    got_bg = np.frombuffer(background.pixelData(0, 0, w, h), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
    # One model in one process: equal up to float rounding inside the model.
    assert np.abs(got_fg.astype(int) - expected.foreground).max() <= 1
    # The clean plate holds the result's box only (the opaque photo stays visible under it).
    inside = np.zeros((h, w), bool)
    inside[expected.box.slices] = True
    assert np.abs(got_bg[inside].astype(int) - expected.background[inside]).max() <= 1
    assert not got_bg[~inside].any()
