from __future__ import annotations

import pytest

from .tiny_models import build_weights


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A weights folder holding the tiny ViTMatte and MI-GAN (see tiny_models.py)."""
    return build_weights(tmp_path_factory.mktemp("learned-weights"))
