"""GPU detection and the torch build / pip commands it leads to: pure functions, no hardware, no pip run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from installer import environment, gpu as gpus
from installer.changes import Changes
from installer.errors import InstallError
from installer.manifest import Manifest

SMI_BANNER = """
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""
ROCMINFO = """
*******
Agent 1
  Name:                    AMD Ryzen 9 7950X
  Marketing Name:          AMD Ryzen 9 7950X
*******
Agent 2
  Name:                    gfx1100
  Marketing Name:          Radeon RX 7900 XTX
"""


def runner(outputs: dict[str, str]):
    def run(command):
        return outputs.get(" ".join(command[:1]) if command[0] != "nvidia-smi" or len(command) == 1
                           else "nvidia-smi --query")
    return run


def test_nvidia_cuda_version_picks_the_wheel_index():
    run = runner({"nvidia-smi --query": "NVIDIA GeForce RTX 4090, 24564\n", "nvidia-smi": SMI_BANNER})
    gpu = gpus.detect("linux", "x86_64", run)
    assert gpu == gpus.Gpu("cuda", "NVIDIA GeForce RTX 4090", (12, 4), 24564)
    # 12.4 is older than every build offered: CPU, with a note saying to update the driver.
    build = gpus.torch_build(gpu, "linux")
    assert build.tag == "cpu" and "update it" in build.note
    for version, tag in (((12, 6), "cu126"), ((12, 9), "cu128"), ((13, 1), "cu130")):
        build = gpus.torch_build(gpus.Gpu("cuda", "x", version), "win32")
        assert (build.tag, build.index_url) == (tag, f"https://download.pytorch.org/whl/{tag}")


def test_amd_on_linux_gets_rocm_and_elsewhere_cpu():
    gpu = gpus.detect("linux", "x86_64", runner({"rocminfo": ROCMINFO}))
    assert gpu.kind == "rocm" and gpu.name == "Radeon RX 7900 XTX"
    assert gpus.torch_build(gpu, "linux").index_url == f"https://download.pytorch.org/whl/{gpus.ROCM_BUILD}"
    assert gpus.detect("win32", "AMD64", runner({"rocminfo": ROCMINFO})).kind == "cpu"
    assert gpus.parse_rocminfo("Name: gfx000\n") is None


def test_macs_and_plain_machines():
    assert gpus.detect("darwin", "arm64", runner({})).kind == "mps"
    assert gpus.detect("darwin", "x86_64", runner({})).kind == "cpu"
    mps = gpus.torch_build(gpus.Gpu("mps"), "darwin")
    assert mps.index_url is None  # PyPI's own macOS wheels
    plain = gpus.detect("linux", "x86_64", runner({}))
    assert plain == gpus.Gpu("cpu")
    assert gpus.torch_build(plain, "linux").index_url == "https://download.pytorch.org/whl/cpu"


def test_pip_commands_install_the_pinned_torch_from_its_index_then_the_project():
    build = gpus.TorchBuild("cu128", "https://download.pytorch.org/whl/cu128")
    torch_cmd, project_cmd = gpus.pip_commands("/env/bin/python", build, "2.13.0", "/src/layerdecomp")
    assert torch_cmd == ["/env/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "torch==2.13.0",
                         "--index-url", "https://download.pytorch.org/whl/cu128"]
    assert project_cmd[-1] == "/src/layerdecomp[model,learned]"
    mac_torch, _ = gpus.pip_commands("/env/bin/python", gpus.TorchBuild("default", None), "2.13.0", "/src")
    assert "--index-url" not in mac_torch


def test_the_torch_pin_comes_from_the_ci_requirements(tmp_path):
    assert gpus.pinned_torch_version() == "2.13.0"
    (tmp_path / "req.txt").write_text("numpy==2\ntorch==9.9.1  # note\n")
    assert gpus.pinned_torch_version(tmp_path / "req.txt") == "9.9.1"


def test_venv_python_per_platform():
    assert str(environment.venv_python("/d/env", "linux")) == "/d/env/bin/python"
    assert str(environment.venv_python(r"C:\d\env", "win32")) == r"C:\d\env\Scripts\python.exe"


def test_new_env_runs_venv_then_pip_once_and_is_recorded(tmp_path):
    """The commands a new environment runs, captured instead of run (no torch is downloaded)."""
    ran = []

    def capture(command, echo):
        ran.append(command)
        if command[1:3] == ["-m", "venv"]:
            Path(command[3]).mkdir()  # what venv would do
        return 0, ""

    manifest = Manifest(tmp_path / "m.json")
    changes = Changes(manifest, log=lambda *a: None)
    env_dir = tmp_path / "data" / "env"
    gpu = gpus.Gpu("cuda", "RTX", (12, 8))
    result = environment.create_venv(changes, env_dir, gpu, "linux", log=lambda *a: None, runner=capture,
                                     base_python="/usr/bin/python3")
    assert ran[0] == ["/usr/bin/python3", "-m", "venv", str(env_dir)]
    assert ran[1][-3:] == ["torch==2.13.0", "--index-url", "https://download.pytorch.org/whl/cu128"]
    assert ran[2][-1].endswith("[model,learned]")
    assert result.python == str(env_dir / "bin" / "python") and result.owned
    assert manifest.find("venv", env_dir) is not None
    assert json.loads((env_dir / environment.MARKER).read_text())["build"] == "cu128"
    ran.clear()
    environment.create_venv(changes, env_dir, gpu, "linux", log=lambda *a: None, runner=capture)
    assert ran == []  # complete and same build: nothing to do


def test_a_failing_pip_says_so_and_the_next_install_retries(tmp_path):
    failed = "ERROR: Could not find a version that satisfies the requirement torch==2.13.0"

    manifest = Manifest(tmp_path / "m.json")
    changes = Changes(manifest, log=lambda *a: None)
    with pytest.raises(InstallError, match="internet connection.*run install again"):
        environment.create_venv(changes, tmp_path / "env", gpus.Gpu("cpu"), "linux", log=lambda *a: None,
                                runner=lambda command, echo: (1, failed))
    # The half-built environment is removed at once, and with it its record.
    assert not (tmp_path / "env").exists() and manifest.find("venv", tmp_path / "env") is None


def test_a_folder_not_made_by_the_installer_is_not_taken_over(tmp_path):
    (tmp_path / "env").mkdir()
    changes = Changes(Manifest(tmp_path / "m.json"), log=lambda *a: None)
    with pytest.raises(InstallError, match="not made by this installer"):
        environment.create_venv(changes, tmp_path / "env", gpus.Gpu("cpu"), "linux", runner=None)


def test_use_current_env_checks_the_python(tmp_path):
    import sys

    assert environment.use_current(sys.executable).python == sys.executable
    bare = tmp_path / "python"
    bare.write_text("#!/bin/sh\nexit 1\n")
    bare.chmod(0o755)
    with pytest.raises(InstallError, match="cannot import layerdecomp.*--use-current-env"):
        environment.use_current(str(bare))


def test_too_little_disk_space_for_the_environment_is_said_before_anything_is_made(tmp_path):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    changes = Changes(Manifest(tmp_path / "m.json"), log=lambda *a: None)
    with pytest.raises(InstallError, match="not enough disk space.*--env-dir"):
        environment.create_venv(changes, tmp_path / "data" / "env", gpus.Gpu("cuda", "RTX", (12, 8)), "linux",
                                runner=None, disk_usage=lambda p: usage(10**12, 10**12, 2 * 10**9))
    assert not (tmp_path / "data").exists() and changes.manifest.entries == []
