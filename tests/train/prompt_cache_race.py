"""Run by test_recipe.py under ``torchrun --nproc_per_node 2``: train on a base folder that has no
precomputed empty-prompt embeddings, with a stand-in for diffusers' FluxPipeline (the text encoders) that
records every time it is loaded. Arguments: BASE_FOLDER OUTPUT_FOLDER RECORD_FILE."""

import os
import sys
import time

import torch

import diffusers
from layerdecomp.train import parse, train

base, out, record = sys.argv[1:4]


class TextEncodersStandIn:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        with open(record, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(1.0)  # as long as a real load would keep the others waiting (or racing)
        return cls()

    def encode_prompt(self, **kwargs):
        return torch.full((1, 8, 32), 0.5), torch.full((1, 32), 0.25), None


diffusers.FluxPipeline = TextEncodersStandIn
train(parse({"model": {"base": base, "lora_rank": 4}, "data": {"procedural_count": 8, "resolution": 16},
             "train": {"output_dir": out, "steps": 1, "batch_size": 2, "micro_batch_size": 1, "log_every": 1}}),
      log=print)
