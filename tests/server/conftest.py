"""A real server on loopback (ephemeral port, in this process so its memory can be measured)."""

from __future__ import annotations

import pytest

from layerdecomp import backends
from layerdecomp_server.app import ServerConfig
from layerdecomp_server.in_thread import ThreadedServer
from layerdecomp_server.protocol import HEADER_SIZE, MAC_BYTES, Limits

from .helpers import TOKEN

ALLOWED_ORIGIN = "https://allowed.example"
# Small limits so that the refusals are cheap to provoke.
TEST_LIMITS = Limits(
    max_message_bytes=HEADER_SIZE + 256 * 256 * 4 + MAC_BYTES,
    max_side=256,
    max_pixels=256 * 256,
    max_queue=16,
    max_connections=40,
    idle_timeout_s=60.0,
    upload_timeout_s=1.0,
    hello_timeout_s=1.0,
)


@pytest.fixture(scope="package")
def gated_backend():
    backends.register_module("test_gated", "tests.server.gated_backend")
    yield "test_gated"
    backends._MODULES.pop("test_gated", None)


@pytest.fixture(scope="package")
def server(gated_backend):
    """The test_gated backend (classical arithmetic; slow or held on request) behind a real server."""
    config = ServerConfig(host="127.0.0.1", port=0, backend=gated_backend, limits=TEST_LIMITS,
                          allowed_origins=(ALLOWED_ORIGIN,), token=TOKEN)
    with ThreadedServer(config) as running:
        yield running


@pytest.fixture(scope="package")
def classical_server():
    config = ServerConfig(host="127.0.0.1", port=0, backend="classical", limits=TEST_LIMITS, token=TOKEN)
    with ThreadedServer(config) as running:
        yield running
