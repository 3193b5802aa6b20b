import math

import numpy as np
import pytest
from scipy import ndimage

from layerdecomp.eval import make_case
from layerdecomp.eval import metrics as m


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return ndimage.gaussian_filter(rng.random((64, 64, 3)) * 255, (1, 1, 0))


def test_psnr_values(photo):
    assert m.psnr(photo, photo) == math.inf
    noisy = photo + 5.0
    assert m.psnr(noisy, photo) == pytest.approx(20 * math.log10(255 / 5), abs=1e-9)
    region = np.zeros((64, 64), bool)
    assert math.isnan(m.psnr(noisy, photo, region))


def test_ssim_is_one_for_identical_and_lower_for_blur(photo):
    assert m.ssim(photo, photo) == pytest.approx(1.0)
    assert m.ssim(ndimage.gaussian_filter(photo, (2, 2, 0)), photo) < 0.9


def test_detail_ratio_and_its_log_error(photo):
    blurred = ndimage.gaussian_filter(photo, (2, 2, 0))
    assert m.detail_ratio(photo, photo) == pytest.approx(1.0)
    assert m.detail_ratio(blurred, photo) < 0.5
    assert m.detail_error(2 * photo, photo) == pytest.approx(2.0)  # 2x gradients = 4x energy


def test_exact_outside():
    image = np.zeros((8, 8, 3), np.uint8)
    hole = np.zeros((8, 8), bool)
    hole[2:4, 2:4] = True
    background = image.copy()
    background[hole] = 9
    assert m.max_abs_outside(background, image, hole) == 0
    background[0, 0] = 3
    assert m.max_abs_outside(background, image, hole) == 3


def test_alpha_metrics():
    truth = np.zeros((10, 10))
    truth[:, 5:] = 1.0
    pred = truth.copy()
    pred[:, 4] = 0.5
    assert m.alpha_sad(pred, truth) == pytest.approx(5 / 1000)
    assert m.alpha_mse(pred, truth) == pytest.approx(10 * 0.25 / 100)
    assert m.alpha_gradient_error(truth, truth) == 0
    assert m.alpha_gradient_error(pred, truth) > 0
    assert m.alpha_soft_iou(pred, truth) == pytest.approx(50 / 55)
    assert m.edge_band(truth, width=1)[:, 3:7].all() and not m.edge_band(truth, width=1)[:, 0].any()


def test_colour_metrics():
    truth = np.full((4, 4, 3), 100.0)
    alpha = np.full((4, 4), 0.5)
    assert m.edge_colour_error(truth + 10, alpha, truth, alpha) == pytest.approx(10)
    assert math.isnan(m.edge_colour_error(truth, np.zeros((4, 4)), truth, alpha))
    assert m.weighted_rgb_l1(truth + 4, truth, alpha) == pytest.approx(4)


def test_recomposition_of_exact_layers_is_perfect():
    rng = np.random.default_rng(1)
    background = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    foreground = np.dstack([rng.integers(0, 256, (16, 16, 3)), np.full((16, 16), 255)]).astype(np.uint8)
    assert m.recomposition_psnr(foreground, background, foreground[..., :3]) == math.inf


def test_evaluate_on_the_truth_itself_is_perfect():
    case = make_case(4, 96, occluder=False, mask_kind="exact")
    alpha8 = np.rint(case.alpha_visible * 255).astype(np.uint8)
    fg = np.dstack([case.foreground, alpha8])
    hole = case.alpha_visible > 0
    scores = m.evaluate(case, fg, case.background, hole)
    assert scores["alpha_sad"] < 0.01 and scores["edge_colour"] < 1
    assert scores["bg_psnr_hole"] == math.inf and scores["detail_ratio"] == pytest.approx(1.0)
    assert scores["recomp_psnr"] > 40


def test_evaluate_scores_the_hidden_part_of_a_complete_object():
    case = make_case(5, 96, occluder=True, mask_kind="exact")
    assert case.hidden.any()
    alpha8 = np.rint(case.alpha * 255).astype(np.uint8)
    fg = np.dstack([case.foreground, alpha8])
    scores = m.evaluate(case, fg, case.background, case.alpha_visible > 0, occlusion=True)
    assert scores["occl_iou"] > 0.99 and scores["occl_psnr"] == math.inf
    fg[case.hidden, 3] = 0  # nothing recovered
    assert m.evaluate(case, fg, case.background, case.alpha_visible > 0, occlusion=True)["occl_iou"] < 0.5
