"""Many clients at once: each gets its own, correct results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import layerdecomp
from layerdecomp_server.client import Client

from .helpers import TOKEN, idle, picture, wait_for
from .test_roundtrip import assert_same

CLIENTS = 8
JOBS = 5


def test_eight_clients_five_jobs_each(server):
    # Different sizes and selections per job, so a mix-up cannot go unnoticed.
    inputs = {(c, j): picture(seed=100 + 10 * c + j, height=48 + 4 * j, width=64 + 4 * c, channels=3 + (c + j) % 2)
              for c in range(CLIENTS) for j in range(JOBS)}
    expected = {key: layerdecomp.decompose(*pair, backend="test_gated") for key, pair in inputs.items()}

    def client_session(c: int) -> dict:
        results = {}
        with Client(server.url, token=TOKEN, name=f"client {c}") as client:
            for j in range(JOBS):
                results[(c, j)] = client.decompose(*inputs[(c, j)])
        return results

    with ThreadPoolExecutor(CLIENTS) as pool:
        sessions = list(pool.map(client_session, range(CLIENTS)))
    got = {key: value for session in sessions for key, value in session.items()}
    assert set(got) == set(expected)
    for key in expected:
        assert_same(got[key], expected[key])
    wait_for(lambda: idle(server) and server.stats()["connections"] == 0, what="an idle server")
