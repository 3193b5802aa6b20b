"""Adding the enable key to kritarc and taking it out again, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from installer import kritarc

KEY = "enable_sample_plugin"

CASES = [
    None,
    b"",
    b"[General]\nfoo=1",
    b"[General]\nfoo=1\n",
    b"[python]\nenable_sample_plugin=false\nother=1\n\n[Z]\na=b\n",
    b"[python]\nother=1\n\n[Z]\na=b\n",
    b"[python]\nother=1",
    b"[python]\r\nother=1\r\n\r\n[Z]\r\na=b\r\n",
    b"[python]\nenable_sample_plugin=0",
    b"[python]\n\n[a]\n",
    b"top=1\n[Python]\nx=1\n",  # group names are case-sensitive in KConfig
    "[General]\nName=Sébastien \xe9\n".encode("latin-1"),
]


@pytest.mark.parametrize("original", CASES)
def test_enable_then_undo_gives_back_the_original_bytes(original):
    new, record = kritarc.enable(original, "python", KEY)
    assert kritarc.read_value(new, "python", KEY) == "true"
    again, second = kritarc.enable(new, "python", KEY)
    assert second is None and again == new
    assert kritarc.undo(new, "python", KEY, record) == original


def test_only_one_line_changes():
    original = b"[python]\nenable_a=true\n\n[General]\nx = y \n"
    new, _ = kritarc.enable(original, "python", KEY)
    assert new == b"[python]\nenable_a=true\nenable_sample_plugin=true\n\n[General]\nx = y \n"


line = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(line, st.sampled_from(["[python]", "[General]", f"{KEY}=false", ""])), max_size=12),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_any_file_round_trips(lines, newline, trailing):
    original = newline.join(lines).encode() + (newline.encode() if trailing and lines else b"")
    new, record = kritarc.enable(original, "python", KEY)
    assert kritarc.read_value(new, "python", KEY) == "true"
    if record is not None:
        assert kritarc.undo(new, "python", KEY, record) == original
