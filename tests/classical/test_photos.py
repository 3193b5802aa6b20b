"""Real photos with ground-truth alpha (`layerdecomp eval --photos`): layouts, the four selection variants,
the edge band and the table, as docs/evaluation.md defines them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from layerdecomp.cli import main
from layerdecomp.errors import InvalidInput
from layerdecomp.eval import photos


def _disk_alpha(size=96, radius=30, soft=2.0):
    y, x = np.mgrid[:size, :size]
    d = np.hypot(y - size / 2, x - size / 2)
    return np.clip(np.rint(255 * np.clip((radius - d) / soft + 0.5, 0, 1)), 0, 255).astype(np.uint8)


def _photo(alpha):
    rng = np.random.default_rng(1)
    fg = np.array([220, 60, 40], np.float32)
    bg = 40 + rng.integers(0, 30, alpha.shape + (3,)).astype(np.float32)
    a = alpha[..., None] / 255.0
    return np.clip(np.rint(a * fg + (1 - a) * bg), 0, 255).astype(np.uint8)


def _write_set(folder, image_dir="input", alpha_dir="gt", names=("b", "a")):
    (folder / image_dir).mkdir(parents=True)
    (folder / alpha_dir).mkdir(parents=True)
    alpha = _disk_alpha()
    for name in names:
        cv2.imwrite(str(folder / image_dir / f"{name}.png"), cv2.cvtColor(_photo(alpha), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / alpha_dir / f"{name}.png"), alpha)
    return alpha


@pytest.mark.parametrize("layout", [("input", "gt"), ("original", "mask"), ("blurred_image", "mask")])
def test_reads_the_alphamatting_and_image_alpha_pair_layouts(tmp_path, layout):
    alpha = _write_set(tmp_path, *layout)
    (tmp_path / layout[0] / "lonely.png").write_bytes((tmp_path / layout[0] / "a.png").read_bytes())  # no alpha
    loaded = photos.load_photos(tmp_path)
    assert [p.name for p in loaded] == ["a", "b"]
    assert np.array_equal(loaded[0].alpha, alpha) and loaded[0].image.shape == alpha.shape + (3,)
    assert np.array_equal(loaded[0].image, _photo(alpha))  # RGB, not OpenCV's BGR


def test_a_folder_without_the_layout_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="layouts"):
        photos.load_photos(tmp_path)
    with pytest.raises(InvalidInput, match="not a folder"):
        photos.load_photos(tmp_path / "missing")


def test_selection_variants_are_evaluation_md_s():
    alpha = _disk_alpha(size=160, radius=50)
    binary = alpha >= 128
    exact = photos.selection(alpha, "exact")
    assert np.array_equal(exact > 0, binary)
    dist_out = cv2.distanceTransform((~binary).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist_in = cv2.distanceTransform(binary.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    loose, tight = photos.selection(alpha, "loose") > 0, photos.selection(alpha, "tight") > 0
    assert loose[binary].all() and dist_out[loose].max() == pytest.approx(6, abs=0.5)
    assert binary[tight].all() and dist_in[binary & ~tight].max() == pytest.approx(4, abs=1)
    lasso = photos.selection(alpha, "lasso", "GT01")
    assert np.array_equal(lasso, photos.selection(alpha, "lasso", "GT01"))  # seeded by the photo's name
    assert not np.array_equal(lasso, photos.selection(alpha, "lasso", "GT02"))
    iou = np.logical_and(lasso > 0, binary).sum() / np.logical_or(lasso > 0, binary).sum()
    assert 0.9 < iou < 1.0  # jittered by a few pixels, no more
    with pytest.raises(ValueError, match="variant"):
        photos.selection(alpha, "sloppy")


def test_band_is_the_soft_pixels_and_ten_pixels_either_side_of_the_edge():
    alpha = np.zeros((100, 100), np.uint8)
    alpha[30:70, 30:70] = 255
    alpha[10, 10] = 7  # a lone soft pixel far from the edge
    band = photos.edge_band(alpha)
    assert band[50, 29 - 9] and not band[50, 29 - 10] and band[50, 30 + 9] and not band[50, 30 + 10]
    assert band[10, 10] and not band[50, 50]


def test_the_table_scores_the_naive_baseline_and_the_tool_per_variant(tmp_path, capsys):
    _write_set(tmp_path, names=("a",))
    assert main(["eval", "--photos", str(tmp_path), "--no-closed-form", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    summary = report["classical"]["summary"]
    assert report["photos"] == 1 and set(summary) == {"exact", "loose", "tight", "lasso", "loose_lasso", "all"}
    # On a clean red disk on a dark ground the tool beats the selection itself where the selection is off.
    for variant in ("loose", "tight", "lasso"):
        assert summary[variant]["tool"]["sad"] < summary[variant]["naive"]["sad"], variant
    assert main(["eval", "--photos", str(tmp_path), "--no-closed-form", "--variants", "tight", "-q"]) == 0
    out = capsys.readouterr().out
    assert "| tight |" in out and "| all |" in out and "| loose |" not in out


def test_closed_form_baseline_through_pymatting(tmp_path, capsys):
    """The one test that imports pymatting (its numba kernels compile ~30 s on first use, cached after)."""
    _write_set(tmp_path, names=("a",))
    assert main(["eval", "--photos", str(tmp_path), "--variants", "loose", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["classical"]["summary"]["loose"]
    assert 0 < summary["closed_form"]["sad"] < summary["naive"]["sad"]


def test_loose_lasso_is_drawn_ten_pixels_around_the_true_support():
    alpha = _disk_alpha(size=200, radius=50, soft=8.0)  # a wide soft edge: the support reaches past alpha 128
    support = alpha > 0.02 * 255
    loose_lasso = photos.selection(alpha, "loose_lasso", "GT01") > 0
    assert np.array_equal(loose_lasso, photos.selection(alpha, "loose_lasso", "GT01") > 0)
    assert loose_lasso[support].all()
    dist_out = cv2.distanceTransform((~support).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert np.median(dist_out[loose_lasso & ~support]) > 3
    assert 8 < dist_out[loose_lasso].max() < 17  # 10 px, jittered by a hand's few pixels


def test_background_kept_counts_pure_background_inside_the_selection_only():
    alpha = _disk_alpha(size=120, radius=30, soft=2.0)
    mask = photos.selection(alpha, "loose_lasso", "x")
    background = photos.pure_background(alpha, mask)
    dist = cv2.distanceTransform((alpha == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert background.any() and (dist[background] >= 3).all() and (mask[background] >= 128).all()
    assert photos.scores(mask / 255.0, alpha, photos.edge_band(alpha), background)["kept"] == 1.0
    truth = alpha / 255.0
    assert photos.scores(truth, alpha, photos.edge_band(alpha), background)["kept"] == 0.0
    half = np.where(np.arange(120)[None, :] < 60, mask / 255.0, truth)
    kept = photos.scores(half, alpha, photos.edge_band(alpha), background)["kept"]
    assert 0.3 < kept < 0.7
    assert np.isnan(photos.scores(truth, alpha, photos.edge_band(alpha))["kept"])


def test_interior_lost_counts_the_object_s_inside_away_from_its_edge_only():
    """An eye cut out of the object counts; errors on the edge band (the band's own scores) do not."""
    alpha = _disk_alpha(size=96, radius=30)
    band = photos.edge_band(alpha)
    truth = alpha / 255.0
    assert photos.scores(truth, alpha, band)["lost"] == 0.0
    interior = (alpha == 255) & ~band
    eye = np.zeros_like(interior)
    eye[46:50, 46:50] = True
    holed = np.where(eye, 0.0, truth)
    assert photos.scores(holed, alpha, band)["lost"] == pytest.approx(16 / interior.sum())
    frayed = np.where(band, 0.0, truth)  # every edge pixel wrong: not the interior's loss
    assert photos.scores(frayed, alpha, band)["lost"] == 0.0
    assert np.isnan(photos.scores(truth, np.zeros_like(alpha), band)["lost"])
