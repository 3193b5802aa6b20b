"""MCF's modality pictures: Canny always; depth and segmentation through transformers pipelines loaded from
(tiny, randomly initialised) local models; a missing or broken estimator is a zero map plus a flag."""

import numpy as np
import pytest

from layerdecomp.model import MCFConfig, ModalityEstimators


@pytest.fixture(scope="module")
def estimator_dirs(tmp_path_factory):
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor,
                              SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor)

    root = tmp_path_factory.mktemp("estimators")
    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            patch_size=14, image_size=56, out_features=["stage1", "stage2"],
                            reshape_hidden_states=False)
    depth = DepthAnythingForDepthEstimation(DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 16], fusion_hidden_size=16,
        reassemble_factors=[2, 1], head_hidden_size=8))
    depth.save_pretrained(root / "depth")
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False).save_pretrained(root / "depth")
    labels = {0: "sky", 1: "tree", 2: "person"}
    segmentation = SegformerForSemanticSegmentation(SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
        num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=3, id2label=labels,
        label2id={v: k for k, v in labels.items()}))
    segmentation.save_pretrained(root / "seg")
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(root / "seg")
    return root


def _picture():
    image = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    image[20:40, 20:50] = 255
    return image


def test_all_modalities_from_local_models(estimator_dirs):
    estimators = ModalityEstimators(MCFConfig(depth_model=str(estimator_dirs / "depth"),
                                              segmentation_model=str(estimator_dirs / "seg")), device="cpu")
    maps, missing = estimators(_picture())
    assert maps.shape == (3, 64, 80, 3) and maps.dtype == np.float32
    assert missing.tolist() == [False, False, False] and estimators.problems == {}
    assert maps[0].max() == 1.0  # Canny found the square's edges
    assert maps[1].min() == 0.0 and maps[1].max() == 1.0  # depth, normalised
    assert maps[2].max() > 0  # segments painted by label


def test_missing_or_unusable_estimators_are_flagged_not_fatal(estimator_dirs):
    estimators = ModalityEstimators(MCFConfig(depth_model=str(estimator_dirs / "absent"),
                                              segmentation_model=None), device="cpu")
    maps, missing = estimators(_picture())
    assert missing.tolist() == [False, True, True]
    assert not maps[1:].any()
    assert "absent could not be loaded" in estimators.problems["depth"]
    assert estimators.problems["segmentation"] == "no model configured"
