"""The diffusion path at real size on a GPU, before anyone rents one for long: FLUX.1-Fill-dev's
architecture built from its config with random bf16 weights (no hub, no download), at 1024².

One table: seconds and peak GPU memory for
- adapter mode: load (LoRA fused, then unloaded), and one step; the same with the LoRA fused but kept
  (what the backend did before), with model CPU offload, and with a bnb4 base where bitsandbytes is
  installed;
- five training steps of each stage: the RGBA decoder (VAEs alone, gradient checkpointing, micro-batch 1)
  and the adapter (bf16 autocast, gradient checkpointing, micro-batch 1, the trainer's optimiser groups);
- one joint dual-stream step against two Fill steps (the weights' values do not change the cost, so the
  Fill step runs the same transformer over one stream: plain FLUX attention, same projections).
And the weights counted on the meta device (what docs/model.md's memory table is built from).

    python bench/gpu_smoke.py                # a CUDA GPU with ~80 GB (H100/H200): about 3-6 minutes
    python bench/gpu_smoke.py --dry-run      # a tiny model on the CPU (CI runs this): the same code paths

Peak memory is the CUDA allocator's peak during the row (weights resident at the time included), and
"resident" what stays allocated after it. On the CPU (dry run) memory is not measured.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from layerdecomp.model import AdapterConfig, Components, LayerDecompositionModel, MCFConfig, build_tiny_components
from layerdecomp.model.components import flux_scheduler

# FLUX.1-Fill-dev's transformer/config.json and vae/config.json (the parts that shape the weights).
FILL_TRANSFORMER = dict(patch_size=1, in_channels=384, out_channels=64, num_layers=19, num_single_layers=38,
                        attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                        pooled_projection_dim=768, axes_dims_rope=[16, 56, 56], guidance_embeds=True)
FILL_VAE = dict(block_out_channels=(128, 256, 512, 512), latent_channels=16, layers_per_block=2,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                shift_factor=0.1159, scaling_factor=0.3611, use_quant_conv=False, use_post_quant_conv=False)
TRAIN_STEPS = 5


@dataclass
class Setup:
    device: torch.device
    real: bool  # FLUX.1-Fill-dev's size, or the tiny test model (dry run)
    size: int
    rank: int
    rows: list = field(default_factory=list)

    def adapter_config(self) -> AdapterConfig:
        if self.real:
            return AdapterConfig(lora_rank=self.rank, mcf=MCFConfig(depth_model=None, segmentation_model=None))
        return AdapterConfig(lora_rank=self.rank, mcf=MCFConfig(out_channels=8, heads=2, head_dim=8,
                                                                depth_model=None, segmentation_model=None))


def gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**30:.1f}"


@contextlib.contextmanager
def measured(setup: Setup, what: str, note: str = ""):
    """Adds a row: seconds, peak and resident GPU memory of the block."""
    cuda = setup.device.type == "cuda"
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    row = {"what": what, "note": note}
    started = time.perf_counter()
    try:
        yield row
    except Exception as exc:  # one failing row must not hide the others: the table says what broke
        row["note"] = f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:150] if str(exc) else ''}"
        if cuda:
            torch.cuda.empty_cache()
    if cuda:
        torch.cuda.synchronize()
    row["seconds"] = time.perf_counter() - started
    row["peak"] = torch.cuda.max_memory_allocated() if cuda else None
    row["resident"] = torch.cuda.memory_allocated() if cuda else None
    setup.rows.append(row)
    print(f"  {what}: {row['seconds']:.1f} s, peak {gib(row['peak'])} GiB {row['note']}", flush=True)


def backbone(setup: Setup, device=None) -> Components:
    """The Fill backbone with random weights (bf16 at real size), built where it will run."""
    if not setup.real:
        components = build_tiny_components(seed=0)
        components.transformer.to(device or setup.device)
        components.vae.to(device or setup.device)
        return components
    from diffusers import AutoencoderKL, FluxTransformer2DModel

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16 directly: never 48 GB of fp32 first
    try:
        with torch.device(device or setup.device):
            transformer = FluxTransformer2DModel(**FILL_TRANSFORMER).eval().requires_grad_(False)
            vae = AutoencoderKL(**FILL_VAE).eval().requires_grad_(False)
            prompt = torch.randn(1, 512, 4096) * 0.1
            pooled = torch.randn(1, 768) * 0.1
    finally:
        torch.set_default_dtype(before)
    return Components(transformer, vae, flux_scheduler(), prompt, pooled, source="random FLUX.1-Fill-dev")


def trained_a_little(model: LayerDecompositionModel) -> LayerDecompositionModel:
    """Non-zero LoRA B, open gates: an adapter as after training (a fresh one merges to nothing)."""
    with torch.no_grad():
        for name, p in model.transformer.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 1e-3)
            elif name.endswith("cross_gate"):
                p.fill_(0.1)
    return model.eval()


def scene(size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    hole = np.zeros((size, size), bool)
    hole[size // 4: 3 * size // 4, size // 3: 2 * size // 3] = True
    return image, hole


def adapter_pipeline(components: Components, setup: Setup, unload: bool = True):
    from layerdecomp.model.pipeline import LayerDecompositionPipeline

    model = trained_a_little(LayerDecompositionModel(components, setup.adapter_config()))
    model.transformer.fuse_lora()
    if unload:
        model.transformer.unload_lora()
    pipe = LayerDecompositionPipeline.from_model(model, components.scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def release() -> None:
    """Give back what the dropped references held (call after setting them to None)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------ rows
def adapter_rows(setup: Setup) -> None:
    image, hole = scene(setup.size)
    pipe = None
    with measured(setup, "adapter: load (LoRA fused, then unloaded)"):
        pipe = adapter_pipeline(backbone(setup), setup)
    if pipe is not None:
        with measured(setup, f"adapter: one step at {setup.size}²"):
            pipe(image, hole, steps=1)
        joint_vs_fill(setup, pipe)
    pipe = None
    release()
    with measured(setup, "adapter: load, LoRA fused but kept (before issue 14.2)"):
        pipe = adapter_pipeline(backbone(setup), setup, unload=False)
    pipe = None
    release()
    offload_row(setup, image, hole)
    bnb4_row(setup, image, hole)


def joint_vs_fill(setup: Setup, pipe) -> None:
    from layerdecomp.model import context as ctx

    model = pipe.decomposer
    image, hole = scene(setup.size)
    with torch.no_grad():
        cond = model.encode_conditions(ctx.to_image_tensor(image, setup.device), ctx.to_mask_tensor(hole, setup.device))
        n, channels = cond.tokens, cond.modality_tokens.shape[-1]
        noisy = torch.randn(1, n, channels, device=setup.device)
        t = torch.tensor([0.5], device=setup.device)
        transformer = model.transformer
        dtype = transformer.x_embedder.weight.dtype
        width = transformer.x_embedder.in_features
        text = model.prompt_embeds.to(setup.device, dtype)
        ids = ctx.latent_ids(setup.size, setup.size, model.vae_scale_factor, setup.device, dtype)

        def fill_step():  # one stream, plain FLUX attention (streams=None): a Fill step's cost
            dev = setup.device
            transformer(hidden_states=torch.zeros(1, n, width, device=dev, dtype=dtype), timestep=t.to(dtype),
                        guidance=torch.full((1,), 30.0, device=dev), pooled_projections=model.pooled_prompt_embeds,
                        encoder_hidden_states=text, txt_ids=torch.zeros(text.shape[1], 3, device=dev, dtype=dtype),
                        img_ids=ids, return_dict=False)

        model(noisy, noisy, t, cond)  # warm-up (kernels, allocator)
        fill_step()
        with measured(setup, "joint dual-stream step (forward)") as joint:
            model(noisy, noisy, t, cond)
        with measured(setup, "two Fill steps (forward)") as two:
            fill_step()
            fill_step()
    if "seconds" in joint and "seconds" in two:
        joint["note"] = f"{joint['seconds'] / two['seconds']:.2f}× two Fill steps"


def offload_row(setup: Setup, image, hole) -> None:
    if setup.device.type != "cuda":
        setup.rows.append({"what": "adapter: model CPU offload, one step", "note": "skipped: needs CUDA"})
        return
    from layerdecomp.model.pipeline import apply_offload

    pipe = None
    with measured(setup, "adapter: model CPU offload, load", "weights rest in CPU RAM"):
        pipe = adapter_pipeline(backbone(setup, device="cpu"), setup)
        apply_offload(pipe, "model")
    if pipe is not None:
        with measured(setup, f"adapter: model CPU offload, one step at {setup.size}²"):
            pipe(image, hole, steps=1)
    pipe = None
    release()


def bnb4_row(setup: Setup, image, hole) -> None:
    what = "adapter: bnb4 base (LoRA unmerged), load + one step"
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        setup.rows.append({"what": what, "note": "skipped: bitsandbytes is not installed"})
        return
    if setup.device.type != "cuda":
        setup.rows.append({"what": what, "note": "skipped: needs CUDA"})
        return
    from layerdecomp.model import load_components, save_components
    from layerdecomp.model.pipeline import LayerDecompositionPipeline

    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        components = backbone(setup)
        save_components(components, folder)  # bitsandbytes quantises while loading from files
        components = None
        release()
        with measured(setup, what):
            components = load_components(folder, dtype="bf16", device="cuda", quantization="bnb4")
            model = trained_a_little(LayerDecompositionModel(components, setup.adapter_config()))
            pipe = LayerDecompositionPipeline.from_model(model, components.scheduler)
            pipe.set_progress_bar_config(disable=True)
            pipe(image, hole, steps=1)
        components = model = pipe = None
        release()


def training_rows(setup: Setup) -> None:
    """Five steps of each stage, in the trainer's order: the RGBA decoder on the VAEs alone, then the adapter."""
    from layerdecomp.data import procedural
    from layerdecomp.model import make_rgba_vae
    from layerdecomp.train import parse, stages
    from layerdecomp.train.data import to_tensors
    from layerdecomp.train.trainer import parameter_groups

    config = parse({"train": {"learning_rate": 5e-5, "gate_learning_rate": 1e-3}})
    batch = {k: v.to(setup.device) for k, v in
             to_tensors([procedural.triplet(setup.size, np.random.default_rng(1))], setup.size).items()}
    cuda = setup.device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext

    def steps(module, loss_fn, named):
        optimizer = torch.optim.AdamW(parameter_groups(named, 5e-5, config))
        generator = torch.Generator(setup.device).manual_seed(0)
        for _ in range(TRAIN_STEPS):
            with autocast():
                loss, _ = loss_fn(module, batch, generator)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    components = backbone(setup)
    transformer = components.transformer.to("cpu")  # as the trainer: not on the GPU during stage 2
    with measured(setup, f"train: RGBA decoder, {TRAIN_STEPS} steps at {setup.size}²",
                  "micro-batch 1, gradient checkpointing, VAEs only"):
        rgba_vae = make_rgba_vae(components.vae)
        for p in rgba_vae.parameters():
            p.data = p.data.float()
        rgba_vae.enable_gradient_checkpointing()
        rgba_vae.requires_grad_(True).train()
        steps(rgba_vae, lambda m, b, g: stages.decoder_loss(m, b, g, base_vae=components.vae),
              {n: p for n, p in rgba_vae.named_parameters()})
    rgba_vae = None
    release()
    components.transformer = transformer.to(setup.device)
    with measured(setup, f"train: adapter, {TRAIN_STEPS} steps at {setup.size}²",
                  f"rank {setup.rank}, micro-batch 1, gradient checkpointing" + (", bf16 autocast" if cuda else "")):
        model = LayerDecompositionModel(components, setup.adapter_config())
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()
        model.rgba_vae.requires_grad_(False)
        model.transformer.enable_gradient_checkpointing()
        model.transformer.train()
        named = {n: p for n, p in model.named_parameters() if p.requires_grad}
        steps(model, lambda m, b, g: stages.adapter_loss(m, b, g, decomposer=m, scheduler=components.scheduler), named)
    components = model = named = None
    release()


def counted(rank: int) -> list[tuple[str, int]]:
    """Parameters of FLUX.1-Fill-dev and of an adapter at ``rank``, counted on the meta device."""
    from diffusers import AutoencoderKL, FluxTransformer2DModel

    with torch.device("meta"):
        transformer = FluxTransformer2DModel(**FILL_TRANSFORMER)
        vae = AutoencoderKL(**FILL_VAE)
        base_transformer = sum(p.numel() for p in transformer.parameters())
        base_vae = sum(p.numel() for p in vae.parameters())
        components = Components(transformer, vae, flux_scheduler(), torch.zeros(1, 512, 4096), torch.zeros(1, 768))
    model = LayerDecompositionModel(components, AdapterConfig(lora_rank=rank, mcf=MCFConfig(
        depth_model=None, segmentation_model=None)))
    groups = model.parameter_groups()
    size = {name: sum(p.numel() for p in ps) for name, ps in groups.items()}
    return [("transformer (FLUX.1-Fill-dev)", base_transformer), ("VAE", base_vae),
            (f"LoRA at rank {rank}", size["lora"]),
            ("x_embedder widening (MCF + local path)", size["x_embedder"] - 3072 * 384 - 3072),
            ("MCF + gates", size["mcf"] + size["gates"]), ("RGBA VAE", size["rgba_vae"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="a tiny model on the CPU (the same code paths)")
    parser.add_argument("--size", type=int, default=None, help="picture side (default 1024; 64 in a dry run)")
    parser.add_argument("--rank", type=int, default=None, help="LoRA rank (default 256; 4 in a dry run)")
    parser.add_argument("--no-count", action="store_true", help="skip counting the real weights on the meta device")
    args = parser.parse_args(argv)
    if args.dry_run:
        setup = Setup(torch.device("cpu"), real=False, size=args.size or 64, rank=args.rank or 4)
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            print("no CUDA GPU here: run with --dry-run for the tiny CPU version", file=sys.stderr)
            return 2
        setup = Setup(torch.device("cuda"), real=True, size=args.size or 1024, rank=args.rank or 256)
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    started = time.perf_counter()
    training_rows(setup)
    adapter_rows(setup)
    print(f"\n{'what':<58} {'seconds':>8} {'peak GiB':>9} {'resident GiB':>13}  note")
    for row in setup.rows:
        seconds = f"{row['seconds']:.1f}" if "seconds" in row else "-"
        print(f"{row['what']:<58} {seconds:>8} {gib(row.get('peak')):>9} {gib(row.get('resident')):>13}  {row['note']}")
    kind = "tiny model, CPU" if args.dry_run else "random weights, bf16"
    print(f"total {time.perf_counter() - started:.0f} s ({kind})")
    if not args.no_count:
        rank = args.rank or 256
        print(f"\nweights counted on the meta device (FLUX.1-Fill-dev architecture, adapter at rank {rank}):")
        for what, count in counted(rank):
            print(f"  {what:<42} {count / 1e6:>9.1f} M parameters  {count * 2 / 1e9:>6.2f} GB in bf16")
    failed = [row for row in setup.rows if row["note"].startswith("FAILED")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
