import os

import numpy as np
import pytest
from PIL import Image

from layerdecomp.errors import InvalidInput
from layerdecomp.io import load_image, load_mask, write_outputs


def test_rgb_and_rgba_images_load_as_uint8(tmp_path):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(load_image(tmp_path / "a.png"), rgb)
    rgba = np.dstack([rgb, np.full((2, 3), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "b.png")
    assert np.array_equal(load_image(tmp_path / "b.png"), rgba)


def test_masks_come_from_grey_levels_or_from_alpha(tmp_path):
    grey = np.array([[0, 128], [255, 7]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "m.png")
    assert np.array_equal(load_mask(tmp_path / "m.png"), grey)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = grey
    Image.fromarray(rgba).save(tmp_path / "m2.png")
    assert np.array_equal(load_mask(tmp_path / "m2.png"), grey)


def test_not_an_image_missing_file_16_bit_and_float_are_refused(tmp_path):
    (tmp_path / "t.png").write_text("hello")
    with pytest.raises(InvalidInput, match="not an image"):
        load_image(tmp_path / "t.png")
    with pytest.raises(InvalidInput, match="does not exist"):
        load_image(tmp_path / "missing.png")
    Image.fromarray(np.zeros((4, 4), np.uint16) + 300).save(tmp_path / "d16.png")
    with pytest.raises(InvalidInput, match="16-bit"):
        load_image(tmp_path / "d16.png")
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InvalidInput, match="8-bit"):
        load_mask(tmp_path / "f.tif")


def test_outputs_appear_all_at_once_and_failures_leave_nothing(tmp_path):
    good = {"a": np.zeros((2, 2), np.uint8), "b": np.zeros((2, 2, 4), np.uint8)}
    write_outputs(tmp_path, good, {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "report.json"]

    out = tmp_path / "second"
    bad = {"a": np.zeros((2, 2), np.uint8), "b": np.zeros((2, 2, 7), np.uint8)}  # no such PNG mode
    with pytest.raises(TypeError, match="Cannot handle this data type"):
        write_outputs(out, bad, {})
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_follow_the_umask(tmp_path, umask, expected):
    """The results are ordinary files: the permissions a plain open() would give them, not mkstemp's 0600."""
    old = os.umask(umask)
    try:
        write_outputs(tmp_path, {"object": np.zeros((2, 2, 4), np.uint8)}, {"ok": True})
    finally:
        os.umask(old)
    for name in ("object.png", "report.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name
