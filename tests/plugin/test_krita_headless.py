"""The plugin's pixel reading and writing in real Krita (kritarunner, no window): exact round trips,
BGRA order, soft selection values, the library's result written so that the composite is unchanged."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import layerdecomp
from layerdecomp.region import plan_region

from .conftest import HERE, clean_env


def test_pixels_in_real_krita(staged_plugin, tmp_path, krita_launcher):
    work = tmp_path / "work"
    work.mkdir()
    rng = np.random.default_rng(0)
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 2, yy * 2, (xx + yy)], -1).astype(np.uint8)
    rgb[10:20, 10:20] = (255, 0, 0)  # pure red: B, G, R, A = 0, 0, 255, 255 in Krita
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, :8] = rng.integers(0, 256, (h, 8))  # some transparency, kept exactly
    rgba = np.dstack([rgb, alpha])
    Image.fromarray(rgba, "RGBA").save(work / "photo.png")
    bgra = rgba[..., [2, 1, 0, 3]]
    (work / "photo_bgra.raw").write_bytes(bgra.tobytes())
    mask = np.zeros((h, w), np.uint8)
    mask[30:60, 40:80] = 255
    mask[30:60, 40:56] = np.arange(1, 256, 16, dtype=np.uint8)  # a soft edge, every grey level kind
    (work / "mask.raw").write_bytes(mask.tobytes())
    pattern = rng.integers(0, 256, (7, 11, 4), dtype=np.uint8)
    (work / "pattern.raw").write_bytes(pattern.tobytes())

    # The library's result for the crop the plugin will send (same crop rule, checked in test_logic).
    crop = plan_region(mask).box
    expected = layerdecomp.decompose(rgba, mask, backend="classical")
    sl = crop.slices
    (work / "fg.raw").write_bytes(expected.foreground[sl][..., [2, 1, 0, 3]].tobytes())
    (work / "bg.raw").write_bytes(expected.background[sl][..., [2, 1, 0, 3]].tobytes())
    (work / "vis.raw").write_bytes(expected.visibility[sl].tobytes())
    (work / "inputs.json").write_text(json.dumps({"width": w, "height": h, "pattern_w": 11, "pattern_h": 7,
                                                  "box": [0, 0, crop.w, crop.h]}))

    env = clean_env(tmp_path / "home", QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(HERE / "krita_scripts"))
    run = krita_launcher.headless(["-s", "headless_checks", "-f", "main", str(staged_plugin), str(work)],
                                  env=env, cwd=tmp_path, timeout=120)
    report_file = work / "report.json"
    assert report_file.exists(), f"kritarunner wrote no report (exit {run.returncode}):\n{run.stderr[-3000:]}"
    report = json.loads(report_file.read_text())
    assert report["errors"] == [], report["errors"]

    # Reading: the crop, BGRA bytes exactly as in the file, soft selection values intact.
    assert tuple(report["crop"]) == crop.as_tuple()
    read = np.frombuffer((work / "read_image.raw").read_bytes(), np.uint8).reshape(crop.h, crop.w, 4)
    assert np.array_equal(read, bgra[sl])
    assert tuple(bgra[15, 15]) == (0, 0, 255, 255)
    assert np.array_equal(np.frombuffer((work / "read_mask.raw").read_bytes(), np.uint8).reshape(crop.h, crop.w),
                          mask[sl])
    assert report["roundtrip_equal"] is True

    # Writing: one group above the source, layers equal the library's. The photo's soft alpha lies outside
    # the result's box, so the group covers the source there: the source stays visible, the clean plate
    # holds the box alone.
    assert report["hide_source"] is False
    names = [(n[0], n[1], n[2]) for n in report["tree"]]
    # (The layer is called "Background": the result takes the file's name.)
    assert names[:2] == [("Background", "paintlayer", True), ("photo (split)", "grouplayer", True)]
    group = report["tree"][1]
    assert [(c[0], c[1], c[2]) for c in group[4]] == [("photo – clean plate", "paintlayer", True),
                                                       ("photo – object", "paintlayer", True)]
    assert report["source_unchanged"] is True
    obj = np.frombuffer((work / "object.raw").read_bytes(), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
    background = np.frombuffer((work / "background.raw").read_bytes(), np.uint8).reshape(h, w, 4)[..., [2, 1, 0, 3]]
    assert np.array_equal(obj, expected.foreground)
    inside = np.zeros((h, w), bool)
    inside[expected.box.slices] = True
    assert np.array_equal(background[inside], expected.background[inside]) and not background[~inside].any()

    # The composite: Krita's own blending of Object over Background gives back the picture (to within
    # one level of rounding on soft edges). Fully transparent pixels have no colour to compare.
    before = np.frombuffer((work / "before.raw").read_bytes(), np.uint8).reshape(h, w, 4).astype(int)
    after = np.frombuffer((work / "after.raw").read_bytes(), np.uint8).reshape(h, w, 4).astype(int)
    opaque = before[..., 3] > 0
    assert np.array_equal(before[..., [2, 1, 0, 3]][opaque], rgba.astype(int)[opaque])
    assert np.abs(after - before)[opaque].max() <= 1
    assert np.array_equal(after[..., 3], before[..., 3])
    exported = np.asarray(Image.open(work / "after.png").convert("RGBA")).astype(int)
    assert np.abs(exported - before[..., [2, 1, 0, 3]])[opaque].max() <= 1

    # Hidden parts: the picture does not change. Krita 5.1's scripting cannot fill a transparency mask, so
    # headless (no view for Krita's own action) they go to a hidden layer; 5.2+ has createTransparencyMask.
    tree = report["hidden_tree"]
    label = tree[0][0].removesuffix(" – clean plate")  # the new document's title, or the object's position
    assert label != "Background" and label != tree[0][0]
    if krita_launcher.version.startswith("5.1."):
        assert [(c[0], c[2]) for c in tree] == [
            (f"{label} – clean plate", True), (f"{label} – object", True), (f"{label} – hidden parts", False)]
    else:
        assert [(c[0], c[2]) for c in tree] == [(f"{label} – clean plate", True), (f"{label} – object", True)]
        assert [(m[0], m[1]) for m in tree[1][4]] == [("Visible part", "transparencymask")]
        assert report["hidden_mask_equals_visibility"] is True
    assert report["hidden_composite_unchanged"] is True

    assert report["refusals"] == {"no_selection": "no_selection", "whole_image": "whole_image",
                                  "empty": "empty_selection", "u16": "unsupported_color",
                                  "transparent": "nothing_to_decompose"}
