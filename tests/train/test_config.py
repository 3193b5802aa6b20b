"""Training configs: every mistake is reported with the file, the key and the line, before any training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from layerdecomp.train import ConfigError, load, parse

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_configs_load():
    tiny = load(str(REPO / "configs" / "tiny-cpu.toml"))
    assert tiny.model.base == "tiny" and tiny.data.resolution == 32
    paper = parse_paper()
    assert (paper.data.resolution, paper.model.lora_rank, paper.train.batch_size, paper.train.learning_rate,
            paper.train.steps) == (1024, 256, 8, 5e-5, 7200)


def parse_paper():
    import tomllib

    path = REPO / "configs" / "paper-1024.toml"
    data = tomllib.loads(path.read_text())
    # The recipe names the user's FLUX.1-Fill-dev folder and shard folders, which do not exist here.
    data["model"]["base"] = str(REPO)
    data["data"]["train"] = [str(REPO)]
    return parse(data, str(path))


@pytest.mark.parametrize("text, message", [
    ("[train]\nsteps = 10\nlearnig_rate = 3\n",
     r"c.toml, line 3: train.learnig_rate: unknown key \(did you mean 'learning_rate'\?\)"),
    ("[trian]\nsteps = 10\n", r"c.toml, line 1: trian: unknown section \(did you mean 'train'\?\)"),
    ("[train]\nsteps = \"ten\"\n", r"line 2: train.steps: must be an integer"),
    ("[train]\nsteps = 0\n", r"train.steps: must be greater than 0"),
    ("[train]\nmixed_precision = \"fp8\"\n", r"train.mixed_precision: must be one of no, bf16, fp16"),
    ("[train]\nbatch_size = 8\nmicro_batch_size = 3\n", r"train.batch_size: batch_size 8 is not a multiple"),
    ("[data]\nresolution = 100\n", r"line 2: data.resolution: must be a multiple of 16"),
    ("[data]\ntrain = [\"no/such/shards\"]\n", r"line 2: data.train: .*no/such/shards' does not exist"),
    ("[model]\nbase = \"/no/flux/here\"\n",
     r"line 2: model.base: the base model folder '/no/flux/here' does not exist"),
    ("[model\nbase = 1\n", r"c.toml' is not valid TOML"),
])
def test_toml_errors_name_file_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load(str(_write(tmp_path, "c.toml", text)))


def test_yaml_and_json(tmp_path):
    config = load(str(_write(tmp_path, "c.yaml", "model:\n  base: tiny\ntrain:\n  steps: 12\n")))
    assert config.train.steps == 12
    with pytest.raises(ConfigError, match=r"c.yaml, line 4: train.stpes: unknown key"):
        load(str(_write(tmp_path, "c.yaml", "model:\n  base: tiny\ntrain:\n  stpes: 12\n")))
    config = load(str(_write(tmp_path, "c.json", '{"train": {"steps": 3, "learning_rate": 1}}')))
    assert config.train.learning_rate == 1.0
    with pytest.raises(ConfigError, match="does not exist"):
        load(str(tmp_path / "missing.toml"))


def test_the_command_fails_fast_and_clearly(tmp_path):
    config = _write(tmp_path, "bad.toml", "[data]\ntrain = [\"missing-shards\"]\n")
    result = subprocess.run([sys.executable, "-m", "layerdecomp.train", str(config)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "bad.toml, line 2: data.train:" in result.stderr and "missing-shards" in result.stderr
    assert "Traceback" not in result.stderr
