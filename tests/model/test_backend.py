"""The diffusion backend through the public API and the command line, on a tiny model saved to disk."""

import json

import cv2
import numpy as np
import pytest
import torch

import layerdecomp
from layerdecomp import backends
from layerdecomp.backends.diffusion import DiffusionBackend
from layerdecomp.cli import main
from layerdecomp.crop import DEFAULT_GROW
from layerdecomp.errors import BackendUnavailable


@pytest.fixture
def picture():
    rng = np.random.default_rng(1)
    image = (rng.random((120, 150, 3)) * 255).astype(np.uint8)
    mask = np.zeros((120, 150), np.uint8)
    cv2.circle(mask, (70, 60), 22, 255, -1)
    return image, mask


def test_auto_picks_diffusion_only_when_a_model_is_configured_and_present(base_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("LAYERDECOMP_MODEL", raising=False)
    monkeypatch.delenv("LAYERDECOMP_ADAPTER", raising=False)
    assert "no model is configured" in DiffusionBackend.unavailable_reason()
    assert backends.resolve("auto").name == "classical"
    assert "not on this machine" in DiffusionBackend.unavailable_reason(model=str(tmp_path / "none"))
    assert backends.resolve("auto", model=str(tmp_path / "none")).name == "classical"
    assert "adapter file" in DiffusionBackend.unavailable_reason(model=str(base_dir),
                                                                 adapter=str(tmp_path / "a.safetensors"))
    assert backends.resolve("auto", model=str(base_dir)).name == "diffusion"
    monkeypatch.setenv("LAYERDECOMP_MODEL", str(base_dir))
    assert backends.resolve("auto").name == "diffusion"
    assert DiffusionBackend.priority > backends.backend_class("classical").priority


def test_a_decomposer_fixes_its_load_options(base_dir, picture):
    decomposer = layerdecomp.Decomposer("diffusion", model=str(base_dir), steps=2)
    assert decomposer.load_options == {"model": str(base_dir)} and decomposer.default_options == {"steps": 2}
    with pytest.raises(layerdecomp.InvalidInput, match="model is fixed when the diffusion backend is loaded"):
        decomposer.decompose(*picture, model=str(base_dir))


def test_adapter_mode_through_the_api(base_dir, adapter_file, picture):
    image, mask = picture
    seen = []
    result = layerdecomp.decompose(image, mask, backend="diffusion", model=str(base_dir), adapter=str(adapter_file),
                                   steps=2, resolution=64, progress=lambda stage, f: seen.append(stage))
    meta = result.metadata
    assert meta["backend"] == "diffusion" and meta["mode"] == "adapter" and meta["occlusion_recovery"] is True
    assert meta["working_size"][0] == 64 and meta["missing_modalities"] == ["depth", "segmentation"]
    assert seen.count("step") == 2
    # faithful layers whatever the model says: the background is the input outside the dilated selection
    reach = 2 * DEFAULT_GROW + 3
    outside = cv2.dilate(mask, np.ones((reach, reach), np.uint8)) == 0
    assert np.array_equal(result.background[outside], image[outside])
    assert result.foreground.shape == (120, 150, 4)


def test_adapter_lora_is_merged_and_unloaded(base_dir, adapter_file, scene):
    """Fused into the base weights and then removed: at rank 256 the LoRA matrices left beside merged
    weights would keep ~2 GB of VRAM for nothing. The outputs stay those of the unmerged adapter."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    from layerdecomp.model import load_adapter, load_components
    from layerdecomp.model.pipeline import LayerDecompositionPipeline

    engine = layerdecomp.Decomposer("diffusion", model=str(base_dir), adapter=str(adapter_file)).engine
    transformer = engine.pipeline.transformer
    assert not [n for n, _ in transformer.named_parameters() if "lora_" in n]
    assert not [m for m in transformer.modules() if isinstance(m, BaseTunerLayer)]
    assert not getattr(transformer, "peft_config", None)
    components = load_components(base_dir)
    unmerged = LayerDecompositionPipeline.from_model(load_adapter(adapter_file, components), components.scheduler)
    image, hole = scene
    a = engine.pipeline(image, hole, steps=2, seed=5)
    b = unmerged(image, hole, steps=2, seed=5)
    assert np.allclose(a.foreground, b.foreground, atol=1e-4) and np.allclose(a.background, b.background, atol=1e-4)


def test_out_of_memory_becomes_a_clear_message(base_dir, adapter_file, picture, monkeypatch):
    image, mask = picture
    engine = layerdecomp.Decomposer("diffusion", model=str(base_dir), adapter=str(adapter_file)).engine

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(type(engine.pipeline), "__call__", out_of_memory)
    expected = r"ran out of memory at a working size of 64×64: lower -O resolution= \(now 64\).*offload"
    with pytest.raises(BackendUnavailable, match=expected):
        layerdecomp.decompose(image, mask, backend="diffusion", model=str(base_dir), adapter=str(adapter_file),
                              steps=2, resolution=64)


def test_cli_end_to_end_adapter_and_zero_shot(base_dir, adapter_file, picture, tmp_path):
    image, mask = picture
    cv2.imwrite(str(tmp_path / "in.png"), image[..., ::-1])
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    common = [str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "--backend", "diffusion",
              "--model", str(base_dir), "-O", "resolution=64", "-O", "steps=2", "-q"]
    assert main(["decompose", *common, "--out", str(tmp_path / "a"), "--adapter", str(adapter_file)]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["mode"] == "adapter" and report["occlusion_recovery"] is True
    assert main(["decompose", *common, "--out", str(tmp_path / "z")]) == 0
    report = json.loads((tmp_path / "z" / "report.json").read_text())
    assert report["mode"] == "zero-shot" and report["occlusion_recovery"] is False
    foreground = cv2.imread(str(tmp_path / "z" / "foreground.png"), cv2.IMREAD_UNCHANGED)
    assert foreground.shape == (120, 150, 4) and foreground[..., 3].max() == 255


def test_cli_bad_model_and_adapter_say_what_to_change(base_dir, picture, tmp_path, capsys):
    image, mask = picture
    cv2.imwrite(str(tmp_path / "in.png"), image)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    pickle = tmp_path / "adapter.ckpt"
    torch.save({"w": torch.zeros(1)}, pickle)
    common = [str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o"),
              "--backend", "diffusion", "-q"]
    assert main(["decompose", *common, "--model", str(tmp_path / "missing")]) == 2
    assert "not on this machine" in capsys.readouterr().err
    assert main(["decompose", *common, "--model", str(base_dir), "--adapter", str(pickle)]) == 2
    assert "adapter.ckpt is a pickle checkpoint" in capsys.readouterr().err
    # the command may make the output folder up front (to check it is writable), but writes nothing into it
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_gpu_only_options_are_refused_clearly_on_a_cpu_machine(base_dir):
    with pytest.raises(BackendUnavailable, match=r"offload=model needs a CUDA GPU"):
        DiffusionBackend(model=str(base_dir), offload="model")
    with pytest.raises(BackendUnavailable, match=r"device=cuda .* no CUDA GPU"):
        DiffusionBackend(model=str(base_dir), device="cuda")


def test_working_size_follows_the_crop_up_to_the_cap():
    from layerdecomp.backends.diffusion import working_size

    assert working_size(300, 200, 1024, 16) == (512, 336)  # small crops go up to 512
    assert working_size(700, 600, 1024, 16) == (704, 608)  # mid-size crops keep their size
    assert working_size(3000, 1500, 1024, 16) == (1024, 512)  # large crops are capped
    assert working_size(120, 150, 64, 8) == (48, 64)  # a cap below 512 wins


def test_hub_id_from_the_local_cache_through_the_command(base_dir, picture, tmp_path):
    """A hub id resolves through the Hugging Face cache (never the network), picked by auto via the env var."""
    import os
    import shutil
    import subprocess
    import sys

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-fill"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(base_dir, repo / "snapshots" / revision)
    image, mask = picture
    cv2.imwrite(str(tmp_path / "in.png"), image)
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "LAYERDECOMP_MODEL": "tiny-org/tiny-fill", "OMP_NUM_THREADS": "1"}
    env.pop("LAYERDECOMP_ADAPTER", None)
    run = subprocess.run([sys.executable, "-m", "layerdecomp", "decompose", str(tmp_path / "in.png"), "--mask",
                          str(tmp_path / "mask.png"), "--out", str(tmp_path / "out"), "-O", "resolution=64",
                          "-O", "steps=2", "-q"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["backend"], report["mode"], report["model"]) == ("diffusion", "zero-shot", "tiny-org/tiny-fill")
    assert "not on this machine" in DiffusionBackend.unavailable_reason(model="layerdecomp-tests/not-a-model")
