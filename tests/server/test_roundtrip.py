"""Through the server, a decomposition is the in-process one, bit for bit; progress arrives in order."""

from __future__ import annotations

import numpy as np
import pytest

import layerdecomp
from layerdecomp_server.client import Client
from layerdecomp_server import protocol
from layerdecomp_server.protocol import Role

from .helpers import TOKEN, idle, open_raw, picture, receive_result, send_job, wait_for

LAYERS = ("foreground", "background", "visibility")


def assert_same(remote: layerdecomp.Decomposition, local: layerdecomp.Decomposition) -> None:
    for name in LAYERS:
        a, b = getattr(remote, name), getattr(local, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), f"{name} differs in {np.count_nonzero(a != b)} values"
    assert remote.box == local.box
    assert remote.metadata["backend"] == local.metadata["backend"]


@pytest.mark.parametrize("region_only", [True, False], ids=["region upload", "full upload"])
@pytest.mark.parametrize("channels", [3, 4])
def test_round_trip_equals_in_process_classical(classical_server, channels, region_only):
    image, mask = picture(seed=channels, channels=channels)
    with Client(classical_server.url, token=TOKEN, upload_region_only=region_only) as client:
        assert client.welcome.backend == "classical"
        remote = client.decompose(image, mask)
        assert_same(remote, layerdecomp.decompose(image, mask, backend="classical"))
        remote = client.decompose(image, mask, margin=3, grow=1)
        assert_same(remote, layerdecomp.decompose(image, mask, backend="classical", margin=3, grow=1))
    wait_for(lambda: idle(classical_server), what="an idle server")


def test_bgra_upload_comes_back_bgra(classical_server):
    """The plugin's path: Krita's B, G, R, A bytes in and out; the server swaps, the plugin never does."""
    image, mask = picture(seed=11, channels=4)
    bgra = np.ascontiguousarray(image[..., [2, 1, 0, 3]])
    local = layerdecomp.decompose(image, mask, backend="classical")
    ws = open_raw(classical_server.url)
    try:
        send_job(ws, 5, bgra, mask, fmt="BGRA8")
        result, frames = receive_result(ws, 5)
    finally:
        ws.close()
    assert result.formats == {"foreground": "BGRA8", "background": "BGRA8", "visibility": "A8"}
    assert tuple(result.box) == local.box.as_tuple()
    sl = local.box.slices
    h, w = local.box.h, local.box.w
    fg = np.frombuffer(frames[Role.FOREGROUND][1], np.uint8).reshape(h, w, 4)
    bg = np.frombuffer(frames[Role.BACKGROUND][1], np.uint8).reshape(h, w, 4)
    vis = np.frombuffer(frames[Role.VISIBILITY][1], np.uint8).reshape(h, w)
    assert np.array_equal(fg, local.foreground[sl][..., [2, 1, 0, 3]])
    assert np.array_equal(bg, local.background[sl][..., [2, 1, 0, 3]])
    assert np.array_equal(vis, local.visibility[sl])
    # Outside the box nothing changed: that is why only the box travels.
    outside = np.ones(mask.shape, bool)
    outside[sl] = False
    assert not local.foreground[outside].any() and not local.visibility[outside].any()
    assert np.array_equal(local.background[outside], image[outside])


def test_progress_arrives_in_order(server):
    image, mask = picture(seed=3)
    local_events: list[tuple[str, float]] = []
    local = layerdecomp.decompose(image, mask, backend=server.server.backend_class.name, steps=4,
                                  progress=lambda s, f: local_events.append((s, f)))
    events: list[tuple[str, float]] = []
    with Client(server.url, token=TOKEN) as client:
        remote = client.decompose(image, mask, steps=4, progress=lambda s, f: events.append((s, f)))
    assert_same(remote, local)
    # The server may coalesce a stage's reports that come faster than it forwards them, but keeps their
    # order, each stage's first report and every 1.0; steps are 60 ms apart, so all of them come.
    assert is_subsequence(events, local_events)
    assert [f for s, f in events if s == "step"] == [0.25, 0.5, 0.75, 1.0]
    kept = {(s, f) for s, f in events}
    first_of_stage = [e for i, e in enumerate(local_events) if i == 0 or local_events[i - 1][0] != e[0]]
    assert all(e in kept for e in first_of_stage)
    assert all(e in kept for e in local_events if e[1] == 1.0)
    assert events[0] == ("region", 1.0) and events[-1] == ("layering", 1.0)


def is_subsequence(short: list, long: list) -> bool:
    remaining = iter(long)
    return all(any(item == candidate for candidate in remaining) for item in short)


def test_metadata_and_options_travel(server):
    image, mask = picture(seed=4)
    with Client(server.url, token=TOKEN) as client:
        assert client.welcome.options == ["busy_s", "hold", "step_s", "steps"]
        remote = client.decompose(image, mask, steps=1, step_s=0.0)
    assert remote.metadata["options"]["steps"] == 1
    assert set(remote.metadata["timings"]) >= {"region", "backend", "layering"}


def test_library_errors_come_back_as_library_errors(server):
    image, mask = picture(seed=5)
    with Client(server.url, token=TOKEN) as client:
        with pytest.raises(layerdecomp.InvalidInput, match="has no option colour"):
            client.decompose(image, mask, colour="red")
        with pytest.raises(layerdecomp.BackendUnavailable, match="--backend diffusion"):
            client.decompose(image, mask, backend="diffusion")
        # Checked by the library itself before anything is sent:
        with pytest.raises(layerdecomp.InvalidInput, match="mask is empty"):
            client.decompose(image, np.zeros_like(mask))
        # The connection is fine after all that.
        assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="test_gated"))
    wait_for(lambda: idle(server), what="an idle server")


def test_cropped_result_frames_sit_at_the_box(server):
    image, mask = picture(seed=6)
    ws = open_raw(server.url)
    try:
        send_job(ws, 1, image, mask)
        result, frames = receive_result(ws, 1)
    finally:
        ws.close()
    x, y, w, h = result.box
    assert (w, h) != mask.shape[::-1]
    for header, payload in frames.values():
        assert (header.x, header.y, header.width, header.height) == (x, y, w, h)
        assert len(payload) == header.payload_size
    assert protocol.decode(protocol.encode(result)) == result


def _rect(shape, y0, y1, x0, x1, value=255):
    mask = np.zeros(shape, np.uint8)
    mask[y0:y1, x0:x1] = value
    return mask


@pytest.mark.parametrize("case", ["hard rectangle, no margin", "at the corner", "one pixel", "touching every edge",
                                  "faint", "two objects"])
def test_region_upload_matches_in_process_at_the_edges(server, case):
    """Sending only the region must never change the answer, whatever the selection looks like."""
    image, soft = picture(seed=7, channels=4)
    shape = soft.shape
    mask, kwargs = {
        "hard rectangle, no margin": (_rect(shape, 20, 40, 30, 60), {"margin": 0, "grow": 0}),
        "at the corner": (_rect(shape, 0, 9, 0, 13), {}),
        "one pixel": (_rect(shape, 30, 31, 40, 41), {"margin": 0, "grow": 0}),
        "touching every edge": (np.where(_rect(shape, 1, shape[0] - 1, 1, shape[1] - 1) > 0, 0, 255).astype(np.uint8),
                                {"margin": 2}),
        "faint": (np.minimum(soft, 40), {"grow": 1}),
        "two objects": (np.maximum(_rect(shape, 5, 15, 5, 15), _rect(shape, 50, 60, 70, 90, 128)), {"margin": 1}),
    }[case]
    local = layerdecomp.decompose(image, mask, backend="test_gated", **kwargs)
    with Client(server.url, token=TOKEN) as client:
        remote = client.decompose(image, mask, **kwargs)
    assert_same(remote, local)
    assert remote.metadata["box"] == local.metadata["box"]


def test_a_client_whose_progress_callback_fails_recovers_on_the_next_job(server):
    image, mask = picture(seed=8)

    def broken(stage, fraction):
        raise RuntimeError("the caller's own bug")

    with Client(server.url, token=TOKEN) as client:
        with pytest.raises(RuntimeError, match="own bug"):
            client.decompose(image, mask, steps=2, progress=broken)
        # The abandoned job's messages are not mistaken for the next job's: a fresh connection is used.
        assert_same(client.decompose(image, mask), layerdecomp.decompose(image, mask, backend="test_gated"))
    wait_for(lambda: idle(server), what="an idle server")
