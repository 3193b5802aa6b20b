"""Training configuration: TOML, YAML or JSON files checked completely before any training time is spent.

Every error names the file and the key (and, for TOML/YAML, the line): an unknown key (with the closest
known one), a value of the wrong type or out of range, a data folder or base model that does not exist.

The file has four sections (all keys optional, defaults below):

- ``[model]``: the backbone and the adapter's shapes;
- ``[data]``: triplet shards (or ``procedural``) and the training resolution;
- ``[train]``: the flow-matching stage (optimiser, schedule, batch, precision, checkpoints);
- ``[decoder]``: the stage that fine-tunes the RGBA decoder (runs first; ``steps = 0`` skips it).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union, get_args, get_origin, get_type_hints

from ..errors import InvalidInput


class ConfigError(InvalidInput):
    """A configuration file that cannot be trained from, with the file, key and line in the message."""

    code = "invalid_config"


@dataclass
class ModelSection:
    # "tiny": a random-weight miniature FLUX Fill (tests, smoke runs); otherwise a local diffusers folder
    # of FLUX.1-Fill-dev (with transformer/ and vae/), never downloaded by training.
    base: str = "tiny"
    lora_rank: int = 256
    lora_alpha: Optional[float] = None
    # MCF's local path: each token also reads its own modality latents (see layerdecomp/model/config.py)
    mcf_local: bool = True
    # Only for base = "tiny": the VAE has random weights, so it is first fitted as a plain autoencoder
    # on the training images, standing in for the pretrained FLUX VAE (steps; 0 = leave it random).
    tiny_vae_pretrain_steps: int = 0


@dataclass
class DataSection:
    # Shard folders or .tar files (from `layerdecomp data build`), or the single word "procedural".
    train: list[str] = field(default_factory=lambda: ["procedural"])
    procedural_count: int = 512  # how many procedural triplets, when train = ["procedural"]
    resolution: int = 1024
    num_workers: int = 0  # DataLoader worker processes per device
    # Encode every item once before the flow-matching stage and keep the encodings in memory (small
    # sets only: tests and smoke runs; a 100k set at 1024² would need far too much memory).
    cache_latents: bool = False


@dataclass
class TrainSection:
    output_dir: str = "runs/adapter"
    steps: int = 7200  # optimiser steps
    batch_size: int = 8  # global: micro_batch_size × devices × accumulation
    micro_batch_size: int = 1  # per device and forward pass
    learning_rate: float = 5e-5
    # The cross-stream gates are one scalar per attention layer starting at 0; Adam moves a scalar by about
    # the learning rate per step, so at 5e-5 they could open by at most ~0.36 in 7,200 steps.
    gate_learning_rate: float = 1e-3
    # Applied to the LoRA and MCF weight matrices only: never to the gates, the widened x_embedder (its
    # pretrained columns would shrink) or any bias or norm scale.
    weight_decay: float = 1e-2
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    lr_schedule: str = "constant"  # constant | linear | cosine (after warmup)
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    timestep_sampling: str = "logit_normal"  # logit_normal (SD3/FLUX practice) | uniform
    # Shift the sampled timesteps by the resolution-dependent mu inference uses (FLUX's dynamic shift).
    resolution_shift: bool = True
    mixed_precision: str = "no"  # no | bf16 | fp16
    gradient_checkpointing: bool = False
    # Ablation used by the tests: zero every context (both streams' image-mask context and MCF), so the
    # model sees only noise. A model trained so cannot know where the object is.
    drop_context: bool = False
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    resume: str = "latest"  # latest | none | a checkpoint folder
    adapter_name: str = "adapter.safetensors"  # written into output_dir at the end


@dataclass
class DecoderSection:
    steps: int = 0
    learning_rate: float = 1e-4
    micro_batch_size: int = 1
    # Recompute the VAE's activations in backward: a full VAE at 1024² would not fit otherwise.
    gradient_checkpointing: bool = True


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    decoder: DecoderSection = field(default_factory=DecoderSection)
    path: Optional[str] = None  # the file it came from (not a key)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("path")
        return out


_CHOICES = {
    ("train", "lr_schedule"): ("constant", "linear", "cosine"),
    ("train", "timestep_sampling"): ("logit_normal", "uniform"),
    ("train", "mixed_precision"): ("no", "bf16", "fp16"),
}
_POSITIVE = {("data", "resolution"), ("train", "steps"), ("train", "batch_size"), ("train", "micro_batch_size"),
             ("train", "learning_rate"), ("train", "gate_learning_rate"), ("train", "log_every"),
             ("train", "checkpoint_every"),
             ("train", "keep_checkpoints"), ("model", "lora_rank"), ("decoder", "learning_rate"),
             ("decoder", "micro_batch_size"), ("data", "procedural_count")}


def _line_of(text: str, section: str, key: Optional[str]) -> Optional[int]:
    """The 1-based line where ``key`` is set in ``section`` (TOML/YAML text), or the section's line."""
    lines = text.splitlines()
    start = 0
    for i, line in enumerate(lines):
        if re.match(rf"^\s*(\[{re.escape(section)}\]|{re.escape(section)}\s*:|\"{re.escape(section)}\"\s*:)", line):
            start = i
            if key is None:
                return i + 1
            break
    if key is None:
        return None
    for i in range(start, len(lines)):
        if re.match(rf"^\s*\"?{re.escape(key)}\"?\s*[=:]", lines[i]):
            return i + 1
    return None


def _check_type(value: Any, hint: Any) -> Any:
    """``value`` converted to ``hint`` (int -> float allowed), or raise TypeError."""
    origin = get_origin(hint)
    if origin is Union:  # Optional[X]
        args = [a for a in get_args(hint) if a is not type(None)]
        return None if value is None else _check_type(value, args[0])
    if origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError("a list of strings")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError("a string")
        return value
    raise TypeError(f"{hint}")


def parse(data: Any, path: str = "<config>", text: str = "") -> TrainConfig:
    """A checked :class:`TrainConfig` from already-parsed data (``text`` only serves line numbers)."""

    def fail(message: str, section: str, key: Optional[str] = None) -> ConfigError:
        line = _line_of(text, section, key) if text else None
        where = f"{path}, line {line}" if line else path
        name = f"{section}.{key}" if key else section
        return ConfigError(f"{where}: {name}: {message}")

    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold a table of sections ([model], [data], [train], [decoder])")
    config = TrainConfig(path=path)
    sections = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "path"}
    for section, values in data.items():
        if section not in sections:
            close = difflib.get_close_matches(section, sections, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (sections: {', '.join(sections)})"
            raise fail(f"unknown section{hint}", section)
        if not isinstance(values, dict):
            raise fail("must be a table of keys", section)
        target = getattr(config, section)
        hints = get_type_hints(type(target))
        for key, value in values.items():
            if key not in hints:
                close = difflib.get_close_matches(key, hints, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(f"unknown key{hint}", section, key)
            try:
                value = _check_type(value, hints[key])
            except TypeError as exc:
                raise fail(f"must be {exc}, got {value!r}", section, key) from None
            choices = _CHOICES.get((section, key))
            if choices and value not in choices:
                raise fail(f"must be one of {', '.join(choices)}, got {value!r}", section, key)
            if (section, key) in _POSITIVE and value <= 0:
                raise fail(f"must be greater than 0, got {value!r}", section, key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise fail(f"must not be negative, got {value!r}", section, key)
            setattr(target, key, value)
    _check_consistency(config, fail)
    return config


def _check_consistency(config: TrainConfig, fail) -> None:
    if config.data.resolution % 16:
        raise fail(f"must be a multiple of 16, got {config.data.resolution}", "data", "resolution")
    if config.train.batch_size % config.train.micro_batch_size:
        raise fail(f"batch_size {config.train.batch_size} is not a multiple of micro_batch_size "
                   f"{config.train.micro_batch_size}", "train", "batch_size")
    if config.train.warmup_steps > config.train.steps:
        raise fail("is larger than train.steps", "train", "warmup_steps")
    if config.model.tiny_vae_pretrain_steps and config.model.base != "tiny":
        raise fail("only applies to base = \"tiny\" (a real base has a pretrained VAE)", "model",
                   "tiny_vae_pretrain_steps")
    base_dir = Path(config.path).parent if config.path and config.path != "<config>" else Path(".")
    if config.model.base != "tiny":
        base = _resolve(config.model.base, base_dir)
        if not base.is_dir():
            raise fail(f"the base model folder {str(base)!r} does not exist (a local diffusers folder of "
                       "FLUX.1-Fill-dev, or \"tiny\")", "model", "base")
        config.model.base = str(base)
    if config.data.train != ["procedural"]:
        resolved = []
        for entry in config.data.train:
            p = _resolve(entry, base_dir)
            if not p.exists():
                raise fail(f"{str(p)!r} does not exist (shard folders or .tar files from "
                           "`layerdecomp data build`, or \"procedural\")", "data", "train")
            resolved.append(str(p))
        config.data.train = resolved


def _resolve(entry: str, base_dir: Path) -> Path:
    """Relative paths are taken from the working folder, then from the config file's folder."""
    p = Path(entry).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return base_dir / p


def load(path: str) -> TrainConfig:
    """Read and check a config file (.toml, .yaml/.yml or .json)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib  # Python 3.11+; on 3.10 use a .yaml or .json config

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file {str(p)!r}: use .toml, .yaml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # each parser has its own error type; all of them say where
        raise ConfigError(f"config file {str(p)!r} is not valid {suffix[1:].upper()}: {exc}") from None
    return parse(data, str(p), text)
