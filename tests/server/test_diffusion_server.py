"""The diffusion backend behind the server (a tiny random model saved to disk, CPU): one progress event
per step, cancel between steps, and the same layers as in-process."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import torch

import layerdecomp
from layerdecomp_server.client import Client
from layerdecomp.model import build_tiny_components, save_components
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.in_thread import ThreadedServer

from .conftest import TEST_LIMITS
from .helpers import TOKEN, idle, wait_for
from .test_roundtrip import assert_same

SERVER_DEFAULTS = {"steps": 3, "resolution": 64}


@pytest.fixture(scope="module")
def diffusion_server(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls on a busy 2-core machine: one thread is much faster
    model = tmp_path_factory.mktemp("tiny-fill")
    save_components(build_tiny_components(seed=0), model)
    config = ServerConfig(port=0, backend="diffusion", options={"model": str(model), **SERVER_DEFAULTS},
                          limits=TEST_LIMITS, token=TOKEN)
    with ThreadedServer(config) as running:
        yield running, str(model)
    torch.set_num_threads(before)


@pytest.fixture
def scene():
    rng = np.random.default_rng(3)
    image = (rng.random((96, 120, 3)) * 255).astype(np.uint8)
    mask = np.zeros((96, 120), np.uint8)
    cv2.circle(mask, (60, 48), 18, 255, -1)
    return image, mask


def test_diffusion_round_trip_with_a_progress_event_per_step(diffusion_server, scene):
    server, model = diffusion_server
    image, mask = scene
    events = []
    with Client(server.url, token=TOKEN) as client:
        assert client.welcome.backend == "diffusion"
        assert {"steps", "seed"} <= set(client.welcome.options)
        assert client.welcome.device == "cpu"  # what the loaded backend runs on
        remote = client.decompose(image, mask, seed=5, progress=lambda s, f: events.append((s, f)))
    local = layerdecomp.decompose(image, mask, backend="diffusion", model=model, seed=5, **SERVER_DEFAULTS)
    assert_same(remote, local)
    steps = [f for s, f in events if s == "step"]
    assert steps == sorted(steps) and steps[-1] == 1.0 and len(steps) >= 2  # coalesced only if < 50 ms apart


def test_cancel_between_diffusion_steps(diffusion_server, scene):
    server, _ = diffusion_server
    image, mask = scene
    cancel = threading.Event()
    asked = {}

    def progress(stage, fraction):
        if stage == "step" and not cancel.is_set():
            asked["at"] = time.monotonic()
            cancel.set()

    with Client(server.url, token=TOKEN) as client:
        with pytest.raises(layerdecomp.Cancelled):
            client.decompose(image, mask, steps=200, progress=progress, cancel=cancel)
        assert time.monotonic() - asked["at"] < 2.0
        wait_for(lambda: idle(server), timeout=10, what="the backend to stop at its next step")
        assert client.decompose(image, mask).metadata["backend"] == "diffusion"


def test_jobs_run_on_the_loaded_model_after_its_folder_is_renamed(tmp_path, scene):
    # The server loaded its model at start; a job must not look for it on disk again.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    model = tmp_path / "tiny-fill"
    save_components(build_tiny_components(seed=0), model)
    config = ServerConfig(port=0, backend="diffusion", options={"model": str(model), **SERVER_DEFAULTS},
                          limits=TEST_LIMITS, token=TOKEN)
    image, mask = scene
    try:
        with ThreadedServer(config) as server:
            model.rename(tmp_path / "moved")
            with pytest.raises(layerdecomp.BackendUnavailable):  # it really is gone for a newcomer
                layerdecomp.Decomposer("diffusion", model=str(model))
            with Client(server.url, token=TOKEN) as client:
                result = client.decompose(image, mask, seed=5)
        assert result.metadata["backend"] == "diffusion"
        assert result.foreground.shape == (*image.shape[:2], 4)
    finally:
        torch.set_num_threads(before)
