"""The training recipe's details that a tiny run cannot show by learning: the noise levels it trains on."""

from __future__ import annotations

import numpy as np
import torch

from layerdecomp.model.components import flux_scheduler
from layerdecomp.model.pipeline import flow_timesteps
from layerdecomp.train import stages


class _Recorder:
    """Stands in for the model: records the timesteps it is asked about."""

    def __init__(self):
        self.seen = []

    def __call__(self, xt_bg, xt_fg, t, cond):
        self.seen.append(t.detach().clone())
        return torch.zeros_like(xt_bg), torch.zeros_like(xt_fg)


class _Cache:
    def __init__(self, tokens):
        self.tokens = tokens

    def lookup(self, index):
        x0 = torch.zeros(len(index), self.tokens, 1)
        return None, x0, x0


def sampled_sigmas(tokens: int, scheduler, count: int = 4000) -> np.ndarray:
    model = _Recorder()
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        stages.adapter_loss(model, {"index": torch.arange(count // 4)}, generator, decomposer=None,
                            cache=_Cache(tokens), scheduler=scheduler)
    return torch.cat(model.seen).numpy()


def test_training_noise_levels_follow_the_inference_schedule_at_1024():
    """At 1024² (4096 tokens a stream) inference shifts its sigmas by mu = 1.15: training must sample the
    same region, or most inference steps fall where the model was rarely trained."""
    scheduler = flux_scheduler()
    inference = flow_timesteps(flux_scheduler(), 28, 4096, "cpu").numpy() / 1000
    high_inference = float((inference > 0.7).mean())
    sigmas = sampled_sigmas(4096, scheduler)
    assert abs(float((sigmas > 0.7).mean()) - high_inference) < 0.06, ((sigmas > 0.7).mean(), high_inference)
    # a smaller picture gets a smaller shift, as at inference
    small = sampled_sigmas(256, scheduler)
    assert float(np.median(small)) < float(np.median(sigmas)) - 0.1


def test_optimiser_groups_give_the_gates_their_own_rate_and_spare_x_embedder_and_biases(tmp_path):
    from layerdecomp.model import AdapterConfig, LayerDecompositionModel, MCFConfig, build_tiny_components
    from layerdecomp.train import parse
    from layerdecomp.train.trainer import parameter_groups

    config = parse({"train": {"learning_rate": 5e-5, "gate_learning_rate": 1e-3, "weight_decay": 0.01}})
    model = LayerDecompositionModel(build_tiny_components(), AdapterConfig(lora_rank=4, mcf=MCFConfig(
        out_channels=8, heads=2, head_dim=8, depth_model=None, segmentation_model=None)))
    named = {n: p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("rgba_vae.")}
    groups = {g["name"]: g for g in parameter_groups(named, 5e-5, config)}
    ids = {name: {id(p) for p in g["params"]} for name, g in groups.items()}
    gates = {id(p) for n, p in named.items() if n.endswith("cross_gate")}
    assert gates and ids["gates"] == gates and groups["gates"]["lr"] == 1e-3 and groups["gates"]["weight_decay"] == 0
    assert {id(p) for p in model.transformer.x_embedder.parameters()} <= ids["no_decay"]
    assert {id(p) for n, p in named.items() if n.endswith(".bias")} <= ids["no_decay"]
    assert groups["no_decay"]["weight_decay"] == 0 and groups["no_decay"]["lr"] == 5e-5
    lora = {id(p) for n, p in named.items() if "lora_" in n}
    assert lora and lora <= ids["decay"] and groups["decay"]["weight_decay"] == 0.01
    assert sum(len(v) for v in ids.values()) == len(named)  # every trained parameter in exactly one group


def test_gates_open_at_their_own_rate_in_a_run(tmp_path):
    """Six steps at lr 1e-4 could move a gate by ~6e-4; with the gates' own rate of 1e-2 they move ~100x more."""
    from safetensors.torch import load_file

    from layerdecomp.train import parse, train

    config = parse({
        "model": {"base": "tiny", "lora_rank": 4},
        "data": {"procedural_count": 8, "resolution": 16},
        "train": {"output_dir": str(tmp_path), "steps": 6, "batch_size": 2, "micro_batch_size": 2,
                  "learning_rate": 1e-4, "gate_learning_rate": 1e-2, "log_every": 6},
    })
    adapter = load_file(str(train(config, log=lambda s: None)))
    gates = [float(v) for k, v in adapter.items() if k.startswith("gates/")]
    assert gates and max(abs(g) for g in gates) > 0.02, gates


def test_rgba_decoder_stage_runs_checkpointed_before_the_transformer_is_loaded(tmp_path, monkeypatch):
    """A real base: the decoder stage (a full VAE at 1024²) gets the memory to itself, with gradient
    checkpointing; the transformer is loaded afterwards."""
    from layerdecomp.model import build_tiny_components, save_components
    from layerdecomp.model import components as components_module
    from layerdecomp.train import parse, train

    save_components(build_tiny_components(seed=0), tmp_path / "base")
    events = []
    load_transformer = components_module._load_transformer

    def recording_load(*args, **kwargs):
        events.append("transformer loaded")
        return load_transformer(*args, **kwargs)

    decoder_loss = stages.decoder_loss

    def recording_loss(rgba_vae, batch, generator, base_vae):
        events.append(("decoder step", rgba_vae.decoder.gradient_checkpointing, rgba_vae.encoder.gradient_checkpointing,
                       len(batch["foreground"])))
        return decoder_loss(rgba_vae, batch, generator, base_vae)

    monkeypatch.setattr(components_module, "_load_transformer", recording_load)
    monkeypatch.setattr(stages, "decoder_loss", recording_loss)
    config = parse({
        "model": {"base": str(tmp_path / "base"), "lora_rank": 4},
        "data": {"procedural_count": 4, "resolution": 16},
        "train": {"output_dir": str(tmp_path / "run"), "steps": 1, "batch_size": 1, "log_every": 1},
        "decoder": {"steps": 2, "micro_batch_size": 1},
    })
    train(config, log=lambda s: None)
    assert events == [("decoder step", True, True, 1)] * 2 + ["transformer loaded"], events
    assert config.decoder.gradient_checkpointing  # the default


def test_empty_prompt_embeddings_are_computed_once_across_processes(tmp_path):
    """Two processes on a base without precomputed embeddings: only the main one loads the text encoders
    (CLIP + T5-XXL) and fills the cache; the other waits and reads it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from layerdecomp.model import build_tiny_components, save_components
    from layerdecomp.model.components import PROMPT_EMBEDS_FILE

    save_components(build_tiny_components(seed=0), tmp_path / "base")
    (tmp_path / "base" / PROMPT_EMBEDS_FILE).unlink()
    record = tmp_path / "loads.txt"
    script = Path(__file__).with_name("prompt_cache_race.py")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script),
                             str(tmp_path / "base"), str(tmp_path / "run"), str(record)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(record.read_text().split()) == 1, record.read_text()
    assert list((tmp_path / "cache" / "layerdecomp").glob("prompt_embeds-*.safetensors"))
    assert (tmp_path / "run" / "adapter.safetensors").is_file()
