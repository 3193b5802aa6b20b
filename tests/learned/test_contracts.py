"""The learned models' input/output contracts, checked against their reference implementations.

- ViTMatte: our numpy pre-processing equals transformers' own ``VitMatteImageProcessorPil`` byte for byte;
  feeding it BGR instead of RGB, or a trimap with object and background swapped, does not (the check can
  fail).
- MI-GAN: our inputs equal what Picsart-AI-Research/MI-GAN scripts/create_onnx_pipeline.py feeds its ONNX
  pipeline (``np.expand_dims(img, 0).transpose(0, 3, 1, 2)`` of an RGB picture; ``read_mask``: 255 known,
  everything else 0, as (1, 1, H, W)); the opposite mask polarity does not. The tiny graph has the
  published file's interface, and a graph without it is refused with a message.
- Loading never unpickles: a folder holding only a ``pytorch_model.bin`` is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from layerdecomp.learned import migan, vitmatte

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (37, 45, 3), dtype=np.uint8)  # sides not multiples of 32: padding is checked
TRIMAP = RNG.choice(np.array([0, 128, 255], np.uint8), (37, 45))
HOLE = np.zeros((37, 45), bool)
HOLE[9:25, 11:30] = True


def reference_vitmatte(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    from transformers.models.vitmatte.image_processing_pil_vitmatte import VitMatteImageProcessorPil

    return VitMatteImageProcessorPil()(images=image, trimaps=trimap, return_tensors="np")["pixel_values"]


def test_vitmatte_preprocessing_is_transformers_own_byte_for_byte():
    ours = vitmatte.preprocess(IMAGE, TRIMAP)
    reference = reference_vitmatte(IMAGE, TRIMAP)
    assert ours.shape == reference.shape == (1, 4, 64, 64)
    assert ours.dtype == reference.dtype == np.float32
    assert ours.tobytes() == reference.tobytes()


def test_vitmatte_contract_check_catches_a_wrong_channel_order():
    # What a BGR picture (OpenCV's order) would give: the check must see it.
    assert vitmatte.preprocess(IMAGE[..., ::-1].copy(), TRIMAP).tobytes() != reference_vitmatte(IMAGE, TRIMAP).tobytes()


def test_vitmatte_contract_check_catches_a_swapped_trimap():
    swapped = (255 - TRIMAP).astype(np.uint8)  # object <-> background, unknown (128 -> 127) almost kept
    assert vitmatte.preprocess(IMAGE, swapped).tobytes() != reference_vitmatte(IMAGE, TRIMAP).tobytes()


def test_vitmatte_postprocessing_crops_the_padding():
    alphas = np.zeros((1, 1, 64, 64), np.float32)
    alphas[0, 0, :37, :45] = 0.25
    alphas[0, 0, 37:, :] = 1.0
    out = vitmatte.postprocess(alphas, 37, 45)
    assert out.shape == (37, 45) and np.all(out == 0.25)


def test_trimap_levels_are_the_models():
    known = np.array([[0.0, 1.0, 1.0]], np.float32)
    unknown = np.array([[False, False, True]])
    assert vitmatte.make_trimap(known, unknown).tolist() == [[0, 255, 128]]


def reference_migan_inputs(image: np.ndarray, hole: np.ndarray) -> dict:
    """create_onnx_pipeline.py's main(): an RGB picture as (1, 3, H, W); read_mask(invert=True) of a mask
    that is white on the hole (the README's object masks), so 255 = known, 0 = hole."""
    mask = np.dstack([hole * 255] * 3).astype(np.uint8)
    mask = 255 - mask  # --invert-mask
    mask[mask < 255] = 0
    mask = mask[..., 0]  # Image.fromarray(mask).convert("L") of a grey picture
    return {"image": np.expand_dims(image, 0).transpose(0, 3, 1, 2), "mask": np.expand_dims(mask, (0, 1))}


def test_migan_inputs_are_the_reference_scripts_byte_for_byte():
    ours = migan.preprocess(IMAGE, HOLE)
    reference = reference_migan_inputs(IMAGE, HOLE)
    for name in ("image", "mask"):
        assert ours[name].dtype == reference[name].dtype == np.uint8
        assert ours[name].shape == reference[name].shape
        assert ours[name].tobytes() == reference[name].tobytes()


def test_migan_contract_check_catches_the_opposite_mask_polarity():
    flipped = migan.preprocess(IMAGE, ~HOLE)["mask"]  # 255 on the hole: what a "white = hole" mask gives
    assert flipped.tobytes() != reference_migan_inputs(IMAGE, HOLE)["mask"].tobytes()


def test_migan_contract_check_catches_a_wrong_channel_order():
    assert (migan.preprocess(IMAGE[..., ::-1].copy(), HOLE)["image"].tobytes()
            != reference_migan_inputs(IMAGE, HOLE)["image"].tobytes())


def test_migan_postprocessing_is_the_scripts():
    result = RNG.integers(0, 256, (1, 3, 5, 6), dtype=np.uint8)
    # the script: result[0].transpose(1, 2, 0)
    assert np.array_equal(migan.postprocess(result), result[0].transpose(1, 2, 0))


def test_tiny_migan_graph_has_the_published_interface(tiny_weights):
    import onnxruntime

    from layerdecomp import learned

    session = onnxruntime.InferenceSession(str(learned.removal_file(tiny_weights)), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape[1]) for i in session.get_inputs()}
    outputs = {o.name: (o.type, o.shape[1]) for o in session.get_outputs()}
    assert inputs == {"image": ("tensor(uint8)", 3), "mask": ("tensor(uint8)", 1)}
    assert outputs == {"result": ("tensor(uint8)", 3)}


def test_migan_keeps_known_pixels_and_fills_the_hole(tiny_weights):
    from layerdecomp import learned

    model = migan.MiGan(learned.removal_file(tiny_weights))
    image = np.zeros((40, 60, 3), np.uint8)
    image[...] = (10, 20, 200)
    image[12:28, 22:38] = (250, 10, 10)  # the object, inside the hole
    hole = np.zeros((40, 60), bool)
    hole[10:30, 20:40] = True
    out = model(image, hole)
    assert np.array_equal(out[~hole], image[~hole])
    assert np.all(out[hole] == (10, 20, 200))  # the object is gone: the fill comes from the known pixels


def test_a_graph_without_the_pipelines_interface_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "lama_like",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 512, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 512, 512])])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    with pytest.raises(ValueError, match="not MI-GAN's ONNX pipeline"):
        migan.MiGan(path)


def test_pad_to_square_mirrors_picture_and_hole():
    padded, padded_hole = migan.pad_to_square(IMAGE, HOLE, size=64)
    assert padded.shape == (64, 64, 3) and padded_hole.shape == (64, 64)
    assert np.array_equal(padded[:37, :45], IMAGE) and np.array_equal(padded_hole[:37, :45], HOLE)
    assert np.array_equal(padded[37:41, :45], IMAGE[33:37][::-1])  # mirrored, edge pixel repeated
    assert padded_hole[:37, 45:].any()  # the mirrored object is a hole too
    with pytest.raises(ValueError, match="does not fit"):
        migan.pad_to_square(np.zeros((70, 10, 3), np.uint8), np.zeros((70, 10), bool), size=64)


def test_vitmatte_loads_safetensors_only(tiny_weights, tmp_path):
    import torch
    from transformers import VitMatteForImageMatting

    from layerdecomp import learned

    folder = learned.matting_folder(tiny_weights)
    model = vitmatte.VitMatte(folder)
    alpha = model(IMAGE, TRIMAP)
    assert alpha.shape == (37, 45) and alpha.dtype == np.float32 and 0 <= alpha.min() <= alpha.max() <= 1
    assert alpha.std() > 0  # the random tiny model reads its input

    # The same weights as a pickle (pytorch_model.bin) only: refused, never unpickled.
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_bytes((folder / "config.json").read_bytes())
    torch.save(VitMatteForImageMatting.from_pretrained(str(folder)).state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(OSError):
        vitmatte.VitMatte(pickled)
