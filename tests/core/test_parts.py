"""Several objects in one go (layerdecomp.parts): one object layer per part of the selection over one plate."""

import json

import cv2
import numpy as np
import pytest
from skimage import data, filters, measure

import layerdecomp
from layerdecomp.cli import main
from layerdecomp.errors import InvalidInput
from layerdecomp.parts import MAX_PARTS, find_parts


def composite(background: np.ndarray, objects, shape) -> np.ndarray:
    """The layers stacked as listed (bottom to top) with straight-alpha "over"."""
    out = background[..., :3].astype(np.float64)
    for layer in objects:
        f = layer.on_canvas(*shape).astype(np.float64)
        a = f[..., 3:] / 255.0
        out = f[..., :3] * a + out * (1 - a)
    return out


def coins_with_three_lassos():
    """skimage's coins photo (a real photo) with three coins lassoed 8 px loose, at once."""
    grey = data.coins()
    image = np.dstack([grey] * 3)
    labels = measure.label(grey > filters.threshold_otsu(grey))
    coins = [p for p in measure.regionprops(labels) if 1500 < p.area < 4000]
    coins = sorted(coins, key=lambda p: p.centroid[1])[:: max(1, len(coins) // 3)][:3]
    mask = np.zeros(grey.shape, np.uint8)
    for coin in coins:
        y, x = coin.centroid
        cv2.circle(mask, (int(x), int(y)), int(coin.equivalent_diameter_area / 2 + 8), 255, -1)
    return image, mask, coins


def test_find_parts_joins_close_pieces_and_drops_specks():
    mask = np.zeros((200, 300), np.uint8)
    mask[20:80, 20:80] = 255
    mask[20:80, 82:120] = 255        # 2 px away: the same part
    mask[120:180, 200:260] = 200     # another part, grey levels kept
    mask[150, 20] = 255              # a speck
    parts = find_parts(mask)
    assert len(parts) == 2
    assert parts[0].mask[50, 100] == 255 and parts[0].mask[50, 50] == 255
    assert parts[1].mask[150, 230] == 200
    assert all(p.mask[150, 20] == 0 for p in parts)


def test_too_many_parts_is_a_plain_error():
    mask = np.zeros((200, 400), np.uint8)
    for i in range(MAX_PARTS + 1):
        x, y = 10 + (i % 9) * 42, 20 + (i // 9) * 80
        mask[y:y + 30, x:x + 30] = 255
    with pytest.raises(InvalidInput, match=f"at most {MAX_PARTS}"):
        find_parts(mask)


def test_three_coins_lassoed_at_once_become_three_layers_over_one_plate():
    image, mask, coins = coins_with_three_lassos()
    result = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    assert len(result.objects) == 3
    # The stack reproduces the photo, and each object alone over the plate does too where it has pixels.
    shape = mask.shape
    assert np.abs(composite(result.background, result.objects, shape) - image).max() <= 1.0
    for layer in result.objects:
        alone = composite(result.background, [layer], shape)
        mine = layer.on_canvas(*shape)[..., 3] > 0
        assert np.abs(alone - image)[mine].max() <= 1.0
    # Each layer holds one coin (they can be moved apart): its pixels lie around one coin only.
    supports = [layer.on_canvas(*shape)[..., 3] > 0 for layer in result.objects]
    assert not (supports[0] & supports[1]).any() and not (supports[1] & supports[2]).any()
    for coin in coins:
        y, x = map(int, coin.centroid)
        holders = [k for k, s in enumerate(supports) if s[y, x]]
        assert len(holders) == 1
    # One plate with every coin removed: the coins' centres changed, the picture far from them did not.
    grown = cv2.dilate(mask, np.ones((27, 27), np.uint8)) > 0
    assert np.array_equal(result.background[~grown], image[~grown])
    for coin in coins:
        y, x = map(int, coin.centroid)
        centre = (slice(y - 5, y + 5), slice(x - 5, x + 5))
        assert np.abs(result.background[centre].astype(int) - image[centre]).mean() > 5


def test_one_part_gives_the_ordinary_result():
    image, mask, _ = coins_with_three_lassos()
    one = np.zeros_like(mask)
    count, labels = cv2.connectedComponents(mask)
    one[labels == 1] = 255
    plain = layerdecomp.decompose(image, one, backend="classical")
    split = layerdecomp.decompose(image, one, backend="classical", split_parts=True)
    assert np.array_equal(plain.foreground, split.foreground)
    assert np.array_equal(plain.background, split.background)
    assert len(split.objects) == 1
    assert np.array_equal(split.objects[0].on_canvas(*one.shape), plain.foreground)


def overlapping_discs():
    """A blue disc in front of a red one on a textured grey ground; each selected apart (a 6 px gap)."""
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(120, 12, (200, 260, 3)), 0, 255).astype(np.uint8)
    back, front = np.zeros((200, 260), np.uint8), np.zeros((200, 260), np.uint8)
    cv2.circle(back, (100, 90), 45, 255, -1)
    cv2.circle(front, (160, 110), 45, 255, -1)
    image[back > 0] = (200, 40, 40)
    image[front > 0] = (40, 60, 210)
    gap = cv2.dilate(front, np.ones((13, 13), np.uint8))
    mask = np.maximum(front, np.where(gap > 0, 0, back)).astype(np.uint8)
    return image, mask


def test_overlapping_objects_put_the_one_in_front_above():
    image, mask = overlapping_discs()
    result = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    assert len(result.objects) == 2
    top = result.objects[-1].on_canvas(*mask.shape)
    assert top[110, 160, 2] > 150 and top[110, 160, 3] == 255  # the blue disc is the upper layer
    assert np.abs(composite(result.background, result.objects, mask.shape) - image).max() <= 1.0


def test_separate_objects_lowest_in_the_picture_on_top():
    rng = np.random.default_rng(2)
    image = np.clip(rng.normal(120, 12, (300, 200, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((300, 200), np.uint8)
    for y in (60, 230):
        cv2.circle(image, (100, y), 30, (230, 230, 40), -1)
        cv2.circle(mask, (100, y), 36, 255, -1)
    result = layerdecomp.decompose(image, mask, backend="classical", split_parts=True)
    assert [layer.box.y < 150 for layer in result.objects] == [True, False]


def test_command_writes_one_png_per_object(tmp_path):
    image, mask, _ = coins_with_three_lassos()
    cv2.imwrite(str(tmp_path / "coins.png"), image)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    out = tmp_path / "out"
    assert main(["decompose", str(tmp_path / "coins.png"), "--mask", str(tmp_path / "mask.png"),
                 "--out", str(out), "--backend", "classical", "--parts", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [o["file"] for o in report["objects"]] == ["object-1.png", "object-2.png", "object-3.png"]
    for name in ("object-1.png", "object-2.png", "object-3.png", "background.png"):
        assert (out / name).exists()
    first = cv2.imread(str(out / "object-1.png"), cv2.IMREAD_UNCHANGED)
    assert first.shape == (*mask.shape, 4) and (first[..., 3] > 0).any()
