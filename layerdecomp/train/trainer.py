"""The training run: backbone, stages, checkpoints, resume, adapter export, on ``accelerate``.

One code path from a CPU to many GPUs and nodes: ``accelerate launch -m layerdecomp.train CONFIG``.
Every process builds the same model (same seed); each trains on its own positions of the sample stream
(:mod:`.data`), gradients are averaged by the accelerator, and only the main process writes files.

Exact resume: the data order, the noise and the timesteps of step s are functions of (seed, stage, s,
micro-step, process) only, the learning rate is a function of s, and the checkpoint (``save_state``) holds
the trainable weights, the optimiser state and the step. So a run stopped after any checkpoint and
started again ends where an uninterrupted run ends (up to float reduction order).

Output folder::

    OUT/config.json                      the checked config
    OUT/log.jsonl                        one line per logged step
    OUT/base/                            (tiny backbone only) the backbone the adapter belongs to
    OUT/checkpoints/<stage>/step-NNNNNN  accelerate state (trainable weights + optimiser) + trainer.json
    OUT/stages/<stage>.safetensors       a finished stage's weights (a restarted run skips the stage)
    OUT/adapter.safetensors              the adapter (layerdecomp.model.save_adapter)
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import torch

from .config import TrainConfig
from .data import BatchStream, loader, open_dataset
from . import stages

CHECKPOINT_PREFIX = "step-"


@dataclass
class Stage:
    name: str
    module: torch.nn.Module  # what is trained (the accelerator prepares it; save_state keeps the trained part)
    steps: int
    learning_rate: float
    micro_batch: int
    loss: Callable  # (prepared module, batch, generator) -> (loss, {name: tensor})


def _stage_id(name: str) -> int:
    return zlib.crc32(name.encode())


class _StageForward(torch.nn.Module):
    """The stage's whole loss as one module's forward, so that DistributedDataParallel sees every use of
    the trained weights (the VAE stages go through ``encode``/``decode``, not a forward)."""

    def __init__(self, module: torch.nn.Module, loss: Callable):
        super().__init__()
        self.module = module
        self.loss = loss

    def forward(self, batch, generator):
        return self.loss(self.module, batch, generator)


def parameter_groups(named: dict[str, torch.nn.Parameter], learning_rate: float, config: TrainConfig) -> list[dict]:
    """AdamW groups for a stage's trained parameters (``named``: name -> parameter).

    - ``gates`` (the cross-stream gates): ``train.gate_learning_rate``, no weight decay;
    - ``no_decay``: the widened ``x_embedder`` (its pretrained columns must not shrink) and every bias
      and norm scale (parameters of one dimension or less), at the stage's rate;
    - ``decay``: the weight matrices (LoRA, MCF, the RGBA VAE's convolutions) with ``train.weight_decay``.
    Each group keeps its ``base_lr``; the schedule scales it (warm-up, decay) every step.
    """
    t = config.train
    groups = {"gates": (t.gate_learning_rate, 0.0), "no_decay": (learning_rate, 0.0),
              "decay": (learning_rate, t.weight_decay)}
    members: dict[str, list[torch.nn.Parameter]] = {name: [] for name in groups}
    for name, p in named.items():
        if name.endswith("cross_gate"):
            members["gates"].append(p)
        elif "x_embedder" in name or p.ndim <= 1:
            members["no_decay"].append(p)
        else:
            members["decay"].append(p)
    return [{"name": name, "params": members[name], "lr": lr, "base_lr": lr, "weight_decay": decay}
            for name, (lr, decay) in groups.items() if members[name]]


class Interrupted(Exception):
    """Raised by ``stop_after`` (tests): the run stopped as if killed right after that step."""


def learning_rate(config: TrainConfig, base: float, step: int, steps: int, schedule: bool = True) -> float:
    """The rate at ``step``: linear warm-up, then the configured schedule (``schedule=False``: the VAE
    stages, constant after a warm-up of at most a tenth of their steps)."""
    warmup = config.train.warmup_steps if schedule else min(config.train.warmup_steps, steps // 10)
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    if config.train.lr_schedule == "constant" or not schedule:
        return base
    progress = (step - warmup) / max(1, steps - warmup)
    if config.train.lr_schedule == "linear":
        return base * (1 - progress)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def _seed_of(*parts: int) -> int:
    value = 0x9E3779B1
    for p in parts:
        value = (value * 1_000_003 + int(p) + 1) % (2**63 - 1)
    return value


class Trainer:
    def __init__(self, config: TrainConfig, log: Callable[[str], None] = print,
                 stop_after: Optional[tuple[str, int]] = None):
        from accelerate import Accelerator

        self.config = config
        self.out = Path(config.train.output_dir)
        self.stop_after = stop_after
        self.accelerator = Accelerator(mixed_precision=config.train.mixed_precision, project_dir=str(self.out))
        self._log = log
        self._trainable_names: set[str] = set()
        self.accelerator.register_save_state_pre_hook(self._keep_trainable_only)

    # ------------------------------------------------------------------------------------ logging
    def log(self, text: str) -> None:
        if self.accelerator.is_main_process:
            self._log(text)

    def _record(self, row: dict) -> None:
        if self.accelerator.is_main_process:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    # ------------------------------------------------------------------------------------ the run
    def run(self) -> Path:
        config, acc = self.config, self.accelerator
        torch.manual_seed(config.train.seed)  # every process builds identical weights
        dataset = open_dataset(config)
        dataset[0]  # a corrupt first item fails here, before the backbone is even loaded
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        self.log(f"{len(dataset)} training triplets at {config.data.resolution}², {acc.num_processes} process(es) "
                 f"on {acc.device}, global batch {config.train.batch_size} "
                 f"(micro {config.train.micro_batch_size} × accumulation {self.accumulation}), "
                 f"mixed precision {acc.mixed_precision}")
        vae, components = self._vae()
        if config.model.tiny_vae_pretrain_steps:
            vae.requires_grad_(True).train()
            # 8 composites + their 8 backgrounds a step at 3e-3: what fitted the tiny VAE fastest here.
            self._run_stage(Stage("tiny_vae", vae, config.model.tiny_vae_pretrain_steps, 3e-3, 8,
                                  stages.tiny_vae_loss), dataset)
            vae.requires_grad_(False).eval()
        if config.model.base == "tiny" and acc.is_main_process:
            from ..model import save_components

            save_components(components, self.out / "base")  # the base the adapter must be loaded over
        rgba_vae = self._train_rgba_vae(vae, dataset)
        # Only now the transformer: the RGBA decoder stage had the accelerator's memory to itself.
        components = self._components(vae, components)
        torch.manual_seed(config.train.seed + 1)  # the adapter's init, whether or not a stage ran before
        model = self._model(components, rgba_vae)
        if config.train.gradient_checkpointing:
            model.transformer.enable_gradient_checkpointing()
        model.transformer.train()
        cache = None
        if config.data.cache_latents and not self._stage_finished("adapter"):
            cache = stages.EncodingCache(model, dataset, config.data.resolution, self.accelerator.device)
        self._run_stage(Stage("adapter", model, config.train.steps, config.train.learning_rate,
                              config.train.micro_batch_size,
                              partial(stages.adapter_loss, decomposer=model,
                                      timestep_sampling=config.train.timestep_sampling,
                                      drop_context=config.train.drop_context, cache=cache,
                                      scheduler=components.scheduler if config.train.resolution_shift else None)),
                        dataset,
                        indices_only=cache is not None)
        model.eval()
        path = self.out / config.train.adapter_name
        if acc.is_main_process:
            from ..model import save_adapter

            save_adapter(model, path)
            self.log(f"wrote the adapter {path}")
        acc.wait_for_everyone()
        self.model = model
        return path

    @property
    def accumulation(self) -> int:
        per_pass = self.config.train.micro_batch_size * self.accelerator.num_processes
        if self.config.train.batch_size % per_pass:
            from .config import ConfigError

            raise ConfigError(f"{self.config.path}: train.batch_size {self.config.train.batch_size} is not a multiple "
                              f"of micro_batch_size × processes = {per_pass}")
        return self.config.train.batch_size // per_pass

    @property
    def _dtype(self) -> str:
        return {"no": "float32", "bf16": "bfloat16", "fp16": "float16"}[self.config.train.mixed_precision]

    def _vae(self):
        """The backbone's VAE on the accelerator, and (tiny base only) the whole tiny backbone with its
        transformer still on the CPU. A real base's transformer is not loaded yet."""
        from ..model import build_tiny_components
        from ..model.components import load_vae

        config = self.config
        if config.model.base == "tiny":
            components = build_tiny_components(seed=config.train.seed)
            return components.vae.to(self.accelerator.device), components
        return load_vae(config.model.base, dtype=self._dtype, device=str(self.accelerator.device)), None

    def _train_rgba_vae(self, vae, dataset):
        """Stage 2 on the VAEs alone: gradient checkpointing through encoder and decoder and a small
        micro-batch (a full VAE at 1024² keeps large activations per picture)."""
        from ..model import make_rgba_vae

        rgba_vae = make_rgba_vae(vae)
        for p in rgba_vae.parameters():  # trained in float32 (autocast computes in the low precision)
            p.data = p.data.float()
        if self.config.decoder.steps:
            if self.config.decoder.gradient_checkpointing:
                rgba_vae.enable_gradient_checkpointing()
            rgba_vae.requires_grad_(True).train()
            self._run_stage(Stage("decoder", rgba_vae, self.config.decoder.steps, self.config.decoder.learning_rate,
                                  self.config.decoder.micro_batch_size,
                                  partial(stages.decoder_loss, base_vae=vae)), dataset)
            rgba_vae.disable_gradient_checkpointing()
        return rgba_vae.requires_grad_(False).eval()

    def _components(self, vae, tiny=None):
        """The whole backbone on the accelerator, around the already loaded ``vae``."""
        from ..model import load_components

        if tiny is not None:
            tiny.transformer.to(self.accelerator.device)
            return tiny
        # Every process needs the empty-prompt embeddings: the main process computes and caches them
        # (CLIP + T5-XXL, once) while the others wait, then they read the cache.
        with self.accelerator.main_process_first():
            return load_components(self.config.model.base, dtype=self._dtype, device=str(self.accelerator.device),
                                   need_prompt=True, vae=vae)

    def _model(self, components, rgba_vae):
        from ..model import AdapterConfig, LayerDecompositionModel, MCFConfig

        config = self.config
        mcf = MCFConfig(depth_model=None, segmentation_model=None, local=config.model.mcf_local)
        if config.model.base == "tiny":
            mcf = MCFConfig(out_channels=8, heads=2, head_dim=8, position_frequencies=2, depth_model=None,
                            segmentation_model=None, local=config.model.mcf_local)
        adapter = AdapterConfig(lora_rank=config.model.lora_rank, lora_alpha=config.model.lora_alpha, mcf=mcf)
        model = LayerDecompositionModel(components, adapter)
        model.rgba_vae = rgba_vae  # trained (or not) by stage 2; frozen from here on
        # Mixed precision: frozen weights stay in the low precision they were loaded in, trained ones in
        # float32 (autocast computes in the low one); the optimiser state is float32 either way.
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()
        return model

    # ------------------------------------------------------------------------------- checkpoints
    def _keep_trainable_only(self, models, weights, output_dir) -> None:
        """save_state pre-hook: a checkpoint holds the trained weights, never the frozen backbone."""
        for state in weights:
            for key in [k for k in state if k not in self._trainable_names]:
                del state[key]

    def _checkpoints(self, stage: str) -> list[Path]:
        folder = self.out / "checkpoints" / stage
        return sorted(p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if (p / "trainer.json").is_file())

    def _resume_point(self, stage: str) -> Optional[Path]:
        resume = self.config.train.resume
        if resume == "none":
            return None
        if resume == "latest":
            found = self._checkpoints(stage)
            return found[-1] if found else None
        path = Path(resume)
        if not (path / "trainer.json").is_file():
            from .config import ConfigError

            raise ConfigError(f"{self.config.path}: train.resume: {resume!r} is not a checkpoint folder "
                              "(one with trainer.json)")
        return path if json.loads((path / "trainer.json").read_text())["stage"] == stage else None

    def _save_checkpoint(self, stage: str, step: int) -> None:
        acc = self.accelerator
        folder = self.out / "checkpoints" / stage / f"{CHECKPOINT_PREFIX}{step:06d}"
        acc.save_state(str(folder))
        if acc.is_main_process:
            (folder / "trainer.json").write_text(json.dumps({"stage": stage, "step": step}))
            for old in self._checkpoints(stage)[:-self.config.train.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()

    # ------------------------------------------------------------------------------------ one stage
    def _stage_finished(self, name: str) -> bool:
        return self.config.train.resume != "none" and (self.out / "stages" / f"{name}.safetensors").is_file()

    def _run_stage(self, stage: Stage, dataset, indices_only: bool = False) -> None:
        from safetensors.torch import load_file, save_file

        config, acc = self.config, self.accelerator
        module = stage.module
        named = {n: p for n, p in module.named_parameters() if p.requires_grad}
        finished = self.out / "stages" / f"{stage.name}.safetensors"
        if self._stage_finished(stage.name):
            state = load_file(str(finished))
            missing = set(named) - set(state)
            if missing:
                raise RuntimeError(f"{finished} lacks {len(missing)} trained weights (e.g. {sorted(missing)[0]}); "
                                   "delete it to train the stage again")
            with torch.no_grad():
                for name, p in named.items():
                    p.copy_(state[name])
            self.log(f"[{stage.name}] already trained ({finished}), skipped")
            return
        wrapper = _StageForward(module, stage.loss)
        self._trainable_names = {n for n, p in wrapper.named_parameters() if p.requires_grad}
        params = list(named.values())
        t = config.train
        optimizer = torch.optim.AdamW(parameter_groups(named, stage.learning_rate, config),
                                      betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_epsilon)
        prepared, optimizer = acc.prepare(wrapper, optimizer)
        start = 0
        resume_from = self._resume_point(stage.name)
        if resume_from is not None:
            acc.load_state(str(resume_from), strict=False)
            start = json.loads((resume_from / "trainer.json").read_text())["step"]
            self.log(f"[{stage.name}] resumed from {resume_from} at step {start}")
        accumulation = self.accumulation if stage.name == "adapter" else 1
        stream = BatchStream(dataset, stage.micro_batch, config.data.resolution,
                             _seed_of(t.seed, _stage_id(stage.name)), acc.process_index, acc.num_processes,
                             length=stage.steps * accumulation, indices_only=indices_only)
        batches = iter(loader(stream, start * accumulation, config.data.num_workers))
        device = acc.device
        seconds = time.perf_counter()
        window: dict[str, float] = {}  # sums since the last log line (the log shows window means)
        window_steps = 0
        for step in range(start, stage.steps):
            lr = learning_rate(config, stage.learning_rate, step, stage.steps, schedule=stage.name == "adapter")
            for group in optimizer.param_groups:  # every group follows the schedule at its own base rate
                group["lr"] = lr * group["base_lr"] / stage.learning_rate
            parts_sum: dict[str, float] = {}
            total = 0.0
            for micro in range(accumulation):
                batch = {k: v.to(device) for k, v in next(batches).items()}
                generator = torch.Generator(device).manual_seed(
                    _seed_of(t.seed, _stage_id(stage.name), step, micro, acc.process_index))
                sync = micro == accumulation - 1
                with (contextlib.nullcontext() if sync else acc.no_sync(prepared)), acc.autocast():
                    loss, parts = prepared(batch, generator)
                    acc.backward(loss / accumulation)
                total += float(loss.detach()) / accumulation
                for k, v in parts.items():
                    parts_sum[k] = parts_sum.get(k, 0.0) + float(v) / accumulation
            if t.max_grad_norm > 0:
                acc.clip_grad_norm_(params, t.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            window_steps += 1
            for k, v in {"loss": total, **parts_sum}.items():
                window[k] = window.get(k, 0.0) + v
            if done % t.log_every == 0 or done == stage.steps or step == start:
                elapsed = time.perf_counter() - seconds
                # Means over the window and over all processes (each saw different samples).
                names = list(window)
                reduced = acc.reduce(torch.tensor([window[k] / window_steps for k in names], device=device), "mean")
                means = dict(zip(names, (float(v) for v in reduced)))
                row = {"stage": stage.name, "step": done, **means, "lr": lr,
                       "seconds_per_step": elapsed / (done - start)}
                self._record(row)
                self.log(f"[{stage.name}] step {done}/{stage.steps} "
                         + " ".join(f"{k} {v:.4f}" for k, v in means.items()) + f" lr {lr:.2e}")
                window, window_steps = {}, 0
            if done % t.checkpoint_every == 0 and done < stage.steps:
                self._save_checkpoint(stage.name, done)
            if self.stop_after == (stage.name, done):
                raise Interrupted(f"stopped after {stage.name} step {done}")
        if acc.is_main_process:
            finished.parent.mkdir(parents=True, exist_ok=True)
            save_file({n: p.detach().float().cpu().contiguous() for n, p in named.items()}, str(finished))
        acc.wait_for_everyone()
        acc.free_memory()


def train(config: TrainConfig, log: Callable[[str], None] = print,
          stop_after: Optional[tuple[str, int]] = None) -> Path:
    """Run the whole training described by ``config``; returns the adapter's path."""
    return Trainer(config, log=log, stop_after=stop_after).run()
