"""The learned backend through a real server (tiny stand-in models, see tests/learned/tiny_models.py):
what comes back is the in-process decomposition; a server asked for it without weights says how to get
them."""

from __future__ import annotations

import numpy as np
import pytest

import layerdecomp
from layerdecomp import learned
from layerdecomp.errors import BackendUnavailable
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.in_thread import ThreadedServer
from layerdecomp_server.client import Client

from ..learned.tiny_models import build_weights
from .helpers import TOKEN, picture


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return build_weights(tmp_path_factory.mktemp("learned-weights"))


def test_learned_round_trip(weights):
    image, mask = picture(seed=5, height=96, width=128)
    config = ServerConfig(host="127.0.0.1", port=0, backend="learned", options={"weights": str(weights)}, token=TOKEN)
    with ThreadedServer(config) as running, Client(running.url, token=TOKEN) as client:
        assert client.welcome.backend == "learned"
        remote = client.decompose(image, mask, backend="learned", matting_resolution=64)
    local = layerdecomp.decompose(image, mask, backend="learned", weights=str(weights), matting_resolution=64)
    assert remote.metadata["backend"] == "learned" and remote.box == local.box
    for name in ("foreground", "background", "visibility"):
        a, b = getattr(remote, name), getattr(local, name)
        assert a.shape == b.shape and a.dtype == b.dtype
        # One model, one process: equal up to float rounding in the model (a few values may round apart).
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1, name
    outside = remote.visibility == 0
    assert np.array_equal(remote.background[outside & (mask == 0)], image[outside & (mask == 0)])


def test_a_server_without_weights_does_not_start(tmp_path, monkeypatch):
    monkeypatch.delenv(learned.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("LAYERDECOMP_CONFIG_DIR", str(tmp_path))
    config = ServerConfig(host="127.0.0.1", port=0, backend="learned", token=TOKEN)
    with pytest.raises(BackendUnavailable, match="--weights-set compact"):
        with ThreadedServer(config):
            pass
