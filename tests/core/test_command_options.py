"""decompose, serve and eval take the backend options the same way: -O KEY=VALUE, --model, --adapter."""

from __future__ import annotations

import pytest

from layerdecomp.cli import build_parser
from layerdecomp.commands.eval import _options_for
from layerdecomp.commands.options import backend_options, model_options

COMMANDS = {
    "decompose": ["decompose", "in.png", "--mask", "m.png", "--out", "out"],
    "serve": ["serve"],
    "eval": ["eval", "--cases", "1"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_model_adapter_and_options(command):
    args = build_parser().parse_args([*COMMANDS[command], "--model", "~/flux", "--adapter", "a.safetensors",
                                      "-O", "steps=28", "-O", "model=ignored"])
    assert model_options(args) == {"model": "~/flux", "adapter": "a.safetensors"}
    assert backend_options(args) == {"steps": 28, "model": "~/flux", "adapter": "a.safetensors"}  # flags win


def test_without_the_flags_no_model_option_is_made():
    args = build_parser().parse_args([*COMMANDS["serve"], "-O", "seed=3"])
    assert model_options(args) == {} and backend_options(args) == {"seed": 3}


def test_eval_gives_the_model_only_to_backends_that_load_one():
    models = {"model": "/m", "adapter": "/a.safetensors"}
    options = [("steps", 4), ("classical.matting", "guided")]
    assert _options_for("diffusion", options, models) == {"model": "/m", "adapter": "/a.safetensors", "steps": 4}
    assert _options_for("auto", options, models) == {"model": "/m", "adapter": "/a.safetensors", "steps": 4}
    assert _options_for("classical", options, models) == {"steps": 4, "matting": "guided"}
