"""What the learned backend's matting costs on this CPU: ViTMatte-S with the real architecture (random
weights: the cost does not depend on the weights, and the real ones cannot be downloaded here) at several
working sizes, against the classical backend's matting of the same picture in the same process.

The architecture is hustvl/vitmatte-small-composition-1k's (transformers' convert_vitmatte_to_hf.py
get_config: a 12-block ViT-S/16 with windowed attention in 8 blocks, global in 4); its parameter count is
printed too (the download is about 4 bytes per parameter). Only ratios are comparable across runs: the
machine is shared, so the load average is printed beside them.

    python bench/learned_cost.py [--sizes 512 768 1024] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np


def vitmatte_small():
    from transformers import VitDetConfig, VitMatteConfig, VitMatteForImageMatting

    backbone = VitDetConfig(num_channels=4, image_size=512, pretrain_image_size=224, patch_size=16, hidden_size=384,
                            num_attention_heads=6, use_absolute_position_embeddings=True,
                            use_relative_position_embeddings=True, window_size=14,
                            window_block_indices=[0, 1, 3, 4, 6, 7, 9, 10], residual_block_indices=[2, 5, 8, 11],
                            out_features=["stage12"])
    config = VitMatteConfig(backbone_config=backbone, hidden_size=384, convstream_hidden_sizes=[48, 96, 192],
                            fusion_hidden_sizes=[256, 128, 64, 32])
    return VitMatteForImageMatting(config).eval()


def best_of(repeats: int, call) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import torch

    from layerdecomp import matting
    from layerdecomp.learned.vitmatte import make_trimap, preprocess

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 768, 1024])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    model = vitmatte_small()
    print(f"ViTMatte-S: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters; "
          f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}")
    print("| working size | classical matte (s) | ViTMatte-S forward (s) | ratio |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    for size in args.sizes:
        y, x = np.mgrid[:size, :size]
        image = np.clip(np.dstack([x * 255 / size, y * 255 / size, np.full_like(x, 128)])
                        + rng.normal(0, 10, (size, size, 3)), 0, 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        cv2.circle(mask, (size // 2, size // 2), size // 3, 255, -1)
        hole = cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0
        classical = best_of(args.repeats, lambda: matting.matte(image, mask, hole))
        known, unknown = matting.trimap(mask, hole, matting.band_radius(mask))
        pixels = torch.from_numpy(preprocess(image, make_trimap(known, unknown)))
        with torch.inference_mode():
            model(pixel_values=pixels)  # first call: allocations, kernels
            learned = best_of(args.repeats, lambda: model(pixel_values=pixels))
        print(f"| {size}² | {classical:.2f} | {learned:.2f} | {learned / classical:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
