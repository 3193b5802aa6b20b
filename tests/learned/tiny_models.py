"""Tiny stand-ins for the learned backend's weights, with the real files' input/output contract.

- ViTMatte: a random ``VitMatteConfig`` (a 2-layer VitDet backbone of width 16, 4 input channels, patch
  16) saved with ``save_pretrained`` as config.json + model.safetensors, loaded the way the real
  hustvl/vitmatte-small-composition-1k folder is.
- MI-GAN: an ONNX graph built with the ``onnx`` package with the published pipeline's interface
  (migan_pipeline_v2.onnx: inputs ``image`` uint8 (N, 3, H, W) and ``mask`` uint8 (N, 1, H, W), 255 =
  known; output ``result`` uint8 (N, 3, H, W)); inside, a real if crude inpainting: known pixels kept,
  the hole filled with the mean colour of the known pixels.

``build_weights(folder)`` writes both in the layout ``layerdecomp.learned`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layerdecomp import learned


def build_vitmatte(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    backbone = VitDetConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                            num_channels=4, image_size=64, patch_size=16, out_features=["stage2"])
    config = VitMatteConfig(backbone_config=backbone, hidden_size=16, convstream_hidden_sizes=[8, 8, 8],
                            fusion_hidden_sizes=[16, 8, 8, 8])
    torch.manual_seed(seed)
    model = VitMatteForImageMatting(config).eval()
    with torch.no_grad():  # random weights everywhere, so the alpha depends on the input
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def build_migan(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    def const(name, value, dtype=np.float32):
        tensor = onnx.numpy_helper.from_array(np.array(value, dtype), name)
        return helper.make_node("Constant", [], [name], value=tensor)

    nodes = [
        const("c255", 255.0), const("c1", 1.0), const("chalf", 0.5), const("axes", [2, 3], np.int64),
        helper.make_node("Cast", ["image"], ["img"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["mask_f", "c255"], ["known"]),
        helper.make_node("Mul", ["img", "known"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "axes"], ["sums"], keepdims=1),
        helper.make_node("ReduceSum", ["known", "axes"], ["count0"], keepdims=1),
        helper.make_node("Max", ["count0", "c1"], ["count"]),
        helper.make_node("Div", ["sums", "count"], ["mean"]),
        helper.make_node("Sub", ["c1", "known"], ["holes"]),
        helper.make_node("Mul", ["mean", "holes"], ["filled"]),
        helper.make_node("Add", ["kept", "filled"], ["out0"]),
        helper.make_node("Add", ["out0", "chalf"], ["out1"]),  # Cast truncates: round to nearest
        helper.make_node("Cast", ["out1"], ["result"], to=TensorProto.UINT8),
    ]
    dims = ["batch_size", None, "height", "width"]
    graph = helper.make_graph(
        nodes, "tiny_migan_pipeline",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [dims[0], 3, dims[2], dims[3]]),
         helper.make_tensor_value_info("mask", TensorProto.UINT8, [dims[0], 1, dims[2], dims[3]])],
        [helper.make_tensor_value_info("result", TensorProto.UINT8, [dims[0], 3, dims[2], dims[3]])])
    # opset 17 and IR 8: what the real file was exported with (create_onnx_pipeline.py: opset_version=17).
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_weights(folder: Path) -> Path:
    build_vitmatte(learned.matting_folder(folder))
    build_migan(learned.removal_file(folder))
    assert not learned.missing_files(folder)
    return folder
