"""One joint dual-stream step vs two separate base Fill steps, on the same inputs.

The joint step is the paper's model (both streams in one token sequence, MCF, LoRA, gated cross-stream
attention); the baseline is the base FLUX Fill transformer run once per stream. Both are measured in this
process on the same tiny model (random weights, FLUX Fill's architecture), so only the ratios mean anything.
Time: the best of repeated forwards. Peak memory: the largest amount of tensor memory alive during a forward
(torch profiler's allocation events on CPU; the CUDA allocator's peak on a GPU). FLOPs: counted with the
math attention kernel (FlopCounterMode counts none for CPU's fused kernel).

    python bench/model_speed.py [--sizes 128 256] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import weakref

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from layerdecomp.model import AdapterConfig, LayerDecompositionModel, MCFConfig, build_tiny_components
from layerdecomp.model import context as ctx


class _LiveTensorBytes(TorchDispatchMode):
    """Counts the bytes of every tensor an op creates while it is alive; keeps the peak."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.seen: set[int] = set()

    def _free(self, key: int, size: int) -> None:
        self.seen.discard(key)
        self.live -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                key, size = tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes()
                if size and key not in self.seen:  # a view of a counted tensor adds nothing
                    self.seen.add(key)
                    self.live += size
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(tensor, self._free, key, size)
        return out


def peak_memory(fn, device: torch.device) -> int:
    """Bytes of tensor memory alive at the worst moment of ``fn()`` beyond what was alive before: the CUDA
    allocator's peak on a GPU, on CPU the tensors the ops created (counted as they are made and freed)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    gc.collect()
    with _LiveTensorBytes() as counter:
        fn()
    return counter.peak


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)  # the least disturbed run: this machine is shared


def flops(fn) -> int:
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def real_size_flops(size: int = 1024, rank: int = 256) -> tuple[float, float]:
    """(joint step, one base Fill step) in FLOPs for FLUX.1-Fill-dev's architecture at ``size``², counted on
    the meta device: shapes only, no weights, no memory, no GPU."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel

    from layerdecomp.model import Components
    from layerdecomp.model.components import flux_scheduler
    from layerdecomp.model.dual_stream import Conditions

    def transformer():
        return FluxTransformer2DModel(
            patch_size=1, in_channels=384, out_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=[16, 56, 56],
            guidance_embeds=True)

    meta = torch.device("meta")
    with meta:
        base = transformer()
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=16, layers_per_block=2,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False)
        components = Components(transformer(), vae, flux_scheduler(), torch.zeros(1, 512, 4096), torch.zeros(1, 768))
    model = LayerDecompositionModel(components, AdapterConfig(lora_rank=rank))
    tokens = (size // 16) ** 2

    def zeros(*shape):
        return torch.zeros(*shape, device=meta)

    cond = Conditions(zeros(1, tokens, 320), zeros(1, tokens, 320), zeros(1, 3, tokens, 64), zeros(1, 3), size, size)
    x, t = zeros(1, tokens, 64), zeros(1)
    joint = flops(lambda: model(x, x, t, cond))
    model.transformer.fuse_lora()  # what the backend runs: LoRA merged into the weights
    fused = flops(lambda: model(x, x, t, cond))
    single = flops(lambda: base(
        hidden_states=zeros(1, tokens, 384), timestep=t, guidance=zeros(1), pooled_projections=zeros(1, 768),
        encoder_hidden_states=zeros(1, 512, 4096), txt_ids=zeros(512, 3), img_ids=ctx.latent_ids(size, size, 8, meta),
        return_dict=False))
    return joint, fused, single


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="picture sides in pixels")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-real-size", action="store_true",
                        help="skip the FLOP count of FLUX.1-Fill-dev's architecture on the meta device (~40 s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 gives stable numbers on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name()}")
    else:
        print(f"device: CPU ({torch.get_num_threads()} torch threads). No GPU is lent to this task, so there is no "
              "real-size measurement here; run with --device cuda on a GPU machine for one.")

    base = build_tiny_components(seed=0)
    base.transformer.to(device)
    components = build_tiny_components(seed=0)
    components.transformer.to(device)
    components.vae.to(device)
    components.prompt_embeds, components.pooled_prompt_embeds = (components.prompt_embeds.to(device),
                                                                 components.pooled_prompt_embeds.to(device))
    model = LayerDecompositionModel(components, AdapterConfig(lora_rank=4, mcf=MCFConfig(
        out_channels=8, heads=2, head_dim=8, depth_model=None, segmentation_model=None)))
    # an adapter that has been trained a little: open gates, non-zero LoRA (a fresh one would be the same cost)
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.01)
    text, pooled = base.prompt_embeds.to(device), base.pooled_prompt_embeds.to(device)

    print(f"{'size':>6} {'tokens/stream':>13} {'time joint':>11} {'time 2×Fill':>12} {'ratio':>6} "
          f"{'peak joint':>11} {'peak 2×Fill':>12} {'ratio':>6} {'FLOP ratio':>10}")
    for size in args.sizes:
        generator = torch.Generator().manual_seed(size)
        image = torch.rand(1, 3, size, size, generator=generator) * 2 - 1
        mask = torch.zeros(1, 1, size, size)
        mask[:, :, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
        cond = model.encode_conditions(image.to(device), mask.to(device))
        n = cond.tokens
        noisy_bg = torch.randn(1, n, 16, generator=generator).to(device)
        noisy_fg = torch.randn(1, n, 16, generator=generator).to(device)
        t = torch.tensor([0.5], device=device)
        ids = ctx.latent_ids(size, size, model.vae_scale_factor, device)

        def joint():
            with torch.no_grad():
                model(noisy_bg, noisy_fg, t, cond)

        def fill(noisy, context):
            return base.transformer(
                hidden_states=torch.cat([noisy, context], -1), timestep=t, guidance=torch.tensor([30.0], device=device),
                pooled_projections=pooled, encoder_hidden_states=text,
                txt_ids=torch.zeros(text.shape[1], 3, device=device), img_ids=ids, return_dict=False)[0]

        def separate():
            with torch.no_grad():
                fill(noisy_bg, cond.context_bg)
                fill(noisy_fg, cond.context_fg)

        tj, ts = timed(joint, args.repeats, device), timed(separate, args.repeats, device)
        mj, ms = peak_memory(joint, device), peak_memory(separate, device)
        fj, fs = flops(joint), flops(separate)
        def mib(value):
            return f"{value / 2**20:.2f}MiB"

        ratio = f"{mj / ms:.2f}"
        print(f"{size:>6} {n:>13} {tj * 1e3:>9.1f}ms {ts * 1e3:>10.1f}ms {tj / ts:>6.2f} "
              f"{mib(mj):>11} {mib(ms):>12} {ratio:>6} {fj / fs:>10.2f}")
    print("ratio = joint step / two separate Fill steps. The joint step attends over the same token pairs as\n"
          "plain joint attention over 2L tokens: 4L² pairs against 2L² for two separate passes, while the\n"
          "projections and FFNs cost the same. The tiny model (width 32) is almost all attention, so its ratio\n"
          "tends to 2 as L grows; FLUX Fill (width 3072, 1024², L = 4096) counts 2.22 forwards for the joint\n"
          "pass vs 2.00 for two (docs/model-notes), i.e. a ratio of ~1.11.")
    if not args.no_real_size:
        joint, fused, single = real_size_flops()
        print(f"\nFLUX.1-Fill-dev architecture at 1024² (meta device, FLOPs counted, nothing run): one Fill step "
              f"{single / 1e12:.1f} TFLOP; joint step with a rank-256 LoRA {joint / 1e12:.1f} TFLOP = "
              f"{joint / (2 * single):.2f}× two Fill steps; with the LoRA merged (what the backend runs) "
              f"{fused / 1e12:.1f} TFLOP = {fused / (2 * single):.2f}×.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
