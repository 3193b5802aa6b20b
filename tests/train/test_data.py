"""The triplet composer, shards, readers and `layerdecomp data`: real files in tmp folders, no torch."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from layerdecomp.cli import main
from layerdecomp.data import (
    MASK_STYLES, BackgroundFolder, Layer, MuLAnFolder, RGBAFolder, ShardWriter, Sources, TripletShards, build,
    compose, make_triplet,
)
from layerdecomp.data import procedural
from layerdecomp.errors import InvalidInput


def _square(size, colour, alpha=255):
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha
    return rgba


def test_compose_layers_truths_and_visibility():
    rng = np.random.default_rng(0)
    background = np.full((32, 32, 3), 100, np.uint8)
    target = Layer(_square(12, (255, 0, 0)), 4, 4)
    occluder = Layer(_square(12, (0, 0, 255)), 10, 4)  # covers the target's right half
    t = compose(background, [target, occluder], 0, rng, mask_style="exact")
    # The composite: occluder over target over background.
    assert tuple(t.image[8, 5]) == (255, 0, 0) and tuple(t.image[8, 12]) == (0, 0, 255)
    assert tuple(t.image[30, 30]) == (100, 100, 100)
    # The background truth keeps the occluder, loses the target.
    assert tuple(t.background[8, 5]) == (100, 100, 100) and tuple(t.background[8, 12]) == (0, 0, 255)
    # The foreground truth is the complete target, hidden part included.
    assert t.foreground[8, 12, 3] == 255 and tuple(t.foreground[8, 12, :3]) == (255, 0, 0)
    assert t.foreground[30, 30, 3] == 0
    # Visible alpha stops at the occluder; the hidden part is where the object is and cannot be seen.
    assert t.visible[8, 5] == 255 and t.visible[8, 12] == 0
    assert t.hidden.sum() == 12 * 6
    assert np.array_equal(t.mask > 0, t.visible >= 128)


@pytest.mark.parametrize("style", MASK_STYLES)
def test_mask_styles_depart_from_the_truth_as_named(style):
    rng = np.random.default_rng(1)
    background = np.zeros((64, 64, 3), np.uint8)
    t = compose(background, [Layer(_square(30, (200, 200, 200)), 17, 17)], 0, rng, mask_style=style)
    truth = t.visible >= 128
    mask = t.mask > 0
    assert t.meta["mask_style"] == style
    if style == "exact":
        assert np.array_equal(mask, truth)
    elif style in ("dilated", "box"):
        assert mask.sum() > truth.sum() and not (truth & ~mask).any()
    elif style == "eroded":
        assert 0 < mask.sum() < truth.sum() and not (mask & ~truth).any()
    elif style == "rough":
        assert not np.array_equal(mask, truth)
        assert (mask & truth).sum() > 0.7 * truth.sum()


def test_fully_hidden_target_is_refused():
    rng = np.random.default_rng(0)
    background = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(InvalidInput, match="not visible"):
        compose(background, [Layer(_square(8, (1, 2, 3)), 4, 4), Layer(_square(16, (9, 9, 9)))], 0, rng)


def test_procedural_triplets_are_deterministic_and_varied():
    a = procedural.triplets(20, 32, seed=5)
    b = procedural.triplets(20, 32, seed=5)
    c = procedural.triplets(20, 32, seed=6)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c))
    assert sum(t.hidden.any() for t in a) >= 5  # occlusions happen often
    assert len({t.meta["mask_style"] for t in a}) >= 3


def test_shards_round_trip_lazily_and_bit_for_bit(tmp_path):
    triplets = procedural.triplets(7, 32, seed=1)
    with ShardWriter(tmp_path / "set", per_shard=3, info={"note": "x"}) as writer:
        for t in triplets:
            writer.write(t)
    assert sorted(p.name for p in (tmp_path / "set").glob("*.tar")) == [
        "triplets-000000.tar", "triplets-000001.tar", "triplets-000002.tar"]
    index = json.loads((tmp_path / "set" / "index.json").read_text())
    assert index["count"] == 7 and index["note"] == "x"
    shards = TripletShards(tmp_path / "set")
    assert len(shards) == 7
    for i in (6, 0, 4):  # random access
        for field in ("image", "mask", "foreground", "background", "visible"):
            assert np.array_equal(getattr(shards[i], field), getattr(triplets[i], field))
    # Standard tar layout: any tar tool (or webdataset) sees <key>.<field> members.
    with tarfile.open(tmp_path / "set" / "triplets-000000.tar") as tar:
        names = tar.getnames()
    assert "00000000.image.png" in names and "00000000.json" in names


def test_build_is_deterministic_by_seed(tmp_path):
    build(tmp_path / "a", 5, 32, seed=2, per_shard=2)
    build(tmp_path / "b", 5, 32, seed=2, per_shard=2)
    for name in ("triplets-000000.tar", "triplets-000002.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with pytest.raises(InvalidInput, match="already holds"):
        build(tmp_path / "a", 1, 32)
    # Built in two parts, the same triplets under the same keys.
    build(tmp_path / "p1", 2, 32, seed=2)
    build(tmp_path / "p2", 3, 32, seed=2, start=2)
    whole, parts = TripletShards(tmp_path / "a"), TripletShards([tmp_path / "p1", tmp_path / "p2"])
    assert [parts.where(i).rsplit(":", 1)[1] for i in range(5)] == [f"{i:08d}" for i in range(5)]
    assert all(np.array_equal(whole[i].image, parts[i].image) for i in range(5))


def test_shard_reader_errors_name_the_file(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        TripletShards(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no .tar shards"):
        TripletShards(tmp_path / "empty")
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar file" * 40)
    with pytest.raises(InvalidInput, match="bad.tar"):
        TripletShards(bad)
    # A tar whose PNG is corrupt: the error names the shard and the key.
    broken = tmp_path / "broken.tar"
    t = procedural.triplets(1, 32, seed=0)[0]
    members = t.encode()
    members["mask.png"] = b"\x89PNG garbage"
    with tarfile.open(broken, "w") as tar:
        import io
        for ext, data in members.items():
            info = tarfile.TarInfo(f"k1.{ext}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    shards = TripletShards(broken)
    with pytest.raises(InvalidInput, match=r"broken.tar:k1: mask.png is not a readable PNG"):
        shards[0]
    empty_tar = tmp_path / "empty.tar"
    tarfile.open(empty_tar, "w").close()
    with pytest.raises(InvalidInput, match="empty"):
        TripletShards(empty_tar)


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folders_feed_the_composer(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        _save(tmp_path / "bg" / f"sub/{i}.jpg", rng.integers(0, 255, (80, 120, 3), dtype=np.uint8))
        obj = _square(40, (rng.integers(255), 50, 50))
        obj[:5] = 0  # transparent margin, cropped away by the reader
        _save(tmp_path / "obj" / f"{i}.png", obj)
    sources = Sources(objects=RGBAFolder(tmp_path / "obj"), backgrounds=BackgroundFolder(tmp_path / "bg"))
    assert sources.objects.load(0).shape == (35, 40, 4)
    t = make_triplet(sources, 64, seed=0, index=3)
    assert t.image.shape == (64, 64, 3) and t.meta["source"] == "synthetic"
    assert t.meta["background"].endswith(".jpg") and all(o.endswith(".png") for o in t.meta["objects"])
    assert np.array_equal(make_triplet(sources, 64, seed=0, index=3).image, t.image)


def test_mulan_layout(tmp_path):
    scene = tmp_path / "mulan" / "img001"
    background = np.full((50, 60, 3), 80, np.uint8)
    _save(scene / "background.png", background)
    layer = np.zeros((50, 60, 4), np.uint8)
    layer[10:30, 10:30] = (255, 0, 0, 255)
    _save(scene / "layer1.png", layer)
    front = np.zeros((50, 60, 4), np.uint8)
    front[20:40, 20:40] = (0, 255, 0, 255)
    _save(scene / "layer2.png", front)
    folder = MuLAnFolder(tmp_path / "mulan")
    bg, layers = folder.load(0)
    assert bg.shape == (50, 60, 3) and len(layers) == 2 and layers[1][25, 25, 1] == 255
    t = make_triplet(Sources(mulan=folder, mulan_fraction=1.0), 32, seed=0, index=0)
    assert t.meta["source"] == "mulan" and t.meta["scene"].endswith("img001")


def test_reader_errors_name_the_file(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        RGBAFolder(tmp_path / "nowhere")
    (tmp_path / "none").mkdir()
    with pytest.raises(InvalidInput, match="holds no"):
        BackgroundFolder(tmp_path / "none")
    _save(tmp_path / "flat" / "opaque.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidInput, match=r"opaque.png.*no transparency"):
        RGBAFolder(tmp_path / "flat").load(0)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "x.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInput, match=r"x.png.*not an image"):
        RGBAFolder(tmp_path / "corrupt").load(0)
    scene = tmp_path / "mulan" / "img7"
    _save(scene / "layer1.png", np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(InvalidInput, match=r"img7.*no background"):
        MuLAnFolder(tmp_path / "mulan")
    _save(scene / "background.png", np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(InvalidInput, match=r"layer1.png.*8×8.*8×9"):
        MuLAnFolder(tmp_path / "mulan").load(0)


def test_data_cli(tmp_path, capsys):
    assert main(["data", "build", str(tmp_path / "s"), "--count", "4", "--size", "32", "--per-shard", "2", "-q"]) == 0
    assert len(TripletShards(tmp_path / "s")) == 4
    assert main(["data", "show", str(tmp_path / "s")]) == 0
    assert "4 triplets in 2 shards" in capsys.readouterr().out
    assert main(["data", "build", str(tmp_path / "t"), "--count", "2", "--objects", str(tmp_path / "no")]) == 2
    assert "RGBA object folder" in capsys.readouterr().err
