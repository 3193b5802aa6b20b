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
