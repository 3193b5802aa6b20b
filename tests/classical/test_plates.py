"""The known-plate measurement (layerdecomp.eval.plates) on a small made-up photo."""

import numpy as np

from layerdecomp.eval import plates
from layerdecomp.eval.photos import Photo


def test_zones_split_the_hole_at_the_outline():
    alpha = np.zeros((40, 40), np.uint8)
    alpha[10:30, 10:30] = 255
    hole = np.zeros((40, 40), bool)
    hole[4:36, 4:36] = True
    outline, interior = plates.zones(alpha, hole)
    # 4 px on both sides of the edge (rows 6..13), the object's pixels beyond that are the interior
    assert outline[6:14, 20].all() and not outline[5, 20] and not outline[14, 20]
    assert interior[14:26, 20].all() and not interior[13, 20] and not interior[5, 20]
    assert not (outline & interior).any()


def test_a_perfect_plate_scores_perfectly_and_telea_does_not():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alpha = np.zeros((64, 64), np.uint8)
    alpha[20:44, 20:44] = 255
    case = plates.make_case(Photo("tiny", image, alpha))
    assert case.plate.shape == image.shape
    # The object's colours are the photo's where it is opaque: the composite shows them there.
    assert np.abs(case.image[25:40, 25:40].astype(int) - image[25:40, 25:40]).max() <= 1
    hole = np.zeros((64, 64), bool)
    hole[14:50, 14:50] = True
    perfect = plates.plate_scores(case.plate, case, hole)
    assert perfect["outline"] == 0 and perfect["interior"] == 0 and np.isinf(perfect["psnr_hole"])
    rows = plates.evaluate_plates([case], ["exact"])
    assert rows[0]["telea"]["interior"] > 0 and np.isfinite(rows[0]["tool"]["psnr_hole"])
    table = plates.table(plates.summarise(rows))
    assert table.count("\n") == 3 and "| exact |" in table and "| all |" in table
