"""Model locations and the no-pickle rule, without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from layerdecomp.errors import BackendUnavailable
from layerdecomp.locations import check_not_pickle, looks_like_hub_id


def test_pickles_are_refused_by_name_and_by_content(tmp_path):
    named = tmp_path / "adapter.ckpt"
    named.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    disguised = tmp_path / "adapter.safetensors"
    disguised.write_bytes(b"PK\x03\x04 a torch.save zip")
    for path in (named, disguised):
        with pytest.raises(BackendUnavailable, match="is a pickle checkpoint"):
            check_not_pickle(path)
    safetensors = tmp_path / "good.safetensors"
    safetensors.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    check_not_pickle(safetensors)
    with pytest.raises(BackendUnavailable, match=r"does not exist \(option adapter / --adapter\)"):
        check_not_pickle(tmp_path / "missing.safetensors")


def test_hub_ids_are_owner_slash_name_that_is_not_a_local_path(tmp_path):
    assert looks_like_hub_id("black-forest-labs/FLUX.1-Fill-dev")
    assert not looks_like_hub_id(str(tmp_path))
    assert not looks_like_hub_id("../up/there")


def test_the_module_needs_no_torch():
    code = "import sys, layerdecomp.locations; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
