"""Which GPU the machine has, and which torch build (pip index) goes with it. Pure functions, plus ``probe``.

``detect`` takes the platform, the CPU architecture and a ``run(command) -> output or None`` function, so
every case can be tested without the hardware. The wheel tags per index must match the pinned torch
version's release matrix (see https://pytorch.org/get-started/locally/); update CUDA_BUILDS/ROCM_BUILD
together with the torch pin in requirements/ci.txt.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

TORCH_INDEX = "https://download.pytorch.org/whl"
# (lowest driver CUDA version, wheel tag), newest first: a driver runs wheels built for its CUDA or older.
CUDA_BUILDS = (((13, 0), "cu130"), ((12, 8), "cu128"), ((12, 6), "cu126"))
ROCM_BUILD = "rocm6.4"
FALLBACK_TORCH_VERSION = "2.13.0"
KINDS = ("cuda", "rocm", "mps", "cpu")


@dataclass(frozen=True)
class Gpu:
    kind: str  # one of KINDS
    name: str = ""
    cuda_version: tuple[int, int] | None = None  # the newest CUDA the NVIDIA driver supports
    memory_mib: int | None = None


@dataclass(frozen=True)
class TorchBuild:
    tag: str  # "cu128", "rocm6.4", "cpu", or "default" (PyPI's own wheels: macOS)
    index_url: str | None  # None: PyPI
    note: str = ""


def parse_nvidia_smi(query_csv: str | None, banner: str | None) -> Gpu | None:
    """From `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` and plain `nvidia-smi`."""
    if not query_csv or not query_csv.strip():
        return None
    first = query_csv.strip().splitlines()[0]
    name, _, memory = first.partition(",")
    version = None
    match = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", banner or "")
    if match:
        version = (int(match.group(1)), int(match.group(2)))
    mem = memory.strip()
    return Gpu("cuda", name.strip(), version, int(float(mem)) if re.fullmatch(r"[\d.]+", mem) else None)


def parse_rocminfo(text: str | None) -> Gpu | None:
    """A GPU agent in `rocminfo` output (gfx900 and newer; gfx000 is the CPU agent)."""
    for match in re.finditer(r"Name:\s*(gfx[0-9a-f]+)", text or ""):
        if match.group(1) != "gfx000":
            marketing = re.search(r"Marketing Name:\s*(.+)", (text or "")[match.end():])
            return Gpu("rocm", (marketing.group(1).strip() if marketing else match.group(1)))
    return None


def detect(platform: str, machine: str, run: Callable[[list[str]], str | None]) -> Gpu:
    """The best accelerator torch can use here."""
    if platform == "darwin":
        return Gpu("mps", "Apple silicon") if machine.lower() in ("arm64", "aarch64") else Gpu("cpu", "Intel Mac")
    nvidia = parse_nvidia_smi(run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]),
                              run(["nvidia-smi"]))
    if nvidia is not None:
        return nvidia
    if platform.startswith("linux"):
        amd = parse_rocminfo(run(["rocminfo"]))
        if amd is not None:
            return amd
    return Gpu("cpu")


def torch_build(gpu: Gpu, platform: str) -> TorchBuild:
    """The pip index of the torch wheels for ``gpu`` on ``platform``."""
    if platform == "darwin":
        return TorchBuild("default", None, "PyPI's macOS wheels include MPS" if gpu.kind == "mps" else "")
    if gpu.kind == "cuda":
        if gpu.cuda_version is None:  # driver too old to say: the oldest build we offer is the best bet
            tag = CUDA_BUILDS[-1][1]
            return TorchBuild(tag, f"{TORCH_INDEX}/{tag}", "the NVIDIA driver did not report its CUDA version")
        for lowest, tag in CUDA_BUILDS:
            if gpu.cuda_version >= lowest:
                return TorchBuild(tag, f"{TORCH_INDEX}/{tag}")
        oldest = ".".join(map(str, CUDA_BUILDS[-1][0]))
        return TorchBuild("cpu", f"{TORCH_INDEX}/cpu",
                          f"the NVIDIA driver supports CUDA {gpu.cuda_version[0]}.{gpu.cuda_version[1]} only; "
                          f"update it (CUDA {oldest} or newer) and run install again to use the GPU")
    if gpu.kind == "rocm":
        if not platform.startswith("linux"):
            return TorchBuild("cpu", f"{TORCH_INDEX}/cpu", "ROCm torch builds exist for Linux only")
        return TorchBuild(ROCM_BUILD, f"{TORCH_INDEX}/{ROCM_BUILD}")
    return TorchBuild("cpu", f"{TORCH_INDEX}/cpu")


def forced(kind: str) -> Gpu:
    """--gpu KIND: the user says which build to use (e.g. on a machine where detection fails)."""
    return Gpu(kind, "chosen with --gpu", (99, 0) if kind == "cuda" else None)


def pinned_torch_version(requirements: Path | None = None) -> str:
    """The torch version this project is tested with (requirements/ci.txt), so users get the same one."""
    requirements = requirements or Path(__file__).resolve().parent.parent / "requirements" / "ci.txt"
    try:
        for line in requirements.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"\s*torch==([\w.+-]+)\s*(#.*)?", line)
            if match:
                return match.group(1)
    except OSError:
        pass
    return FALLBACK_TORCH_VERSION


def pip_commands(python: str, build: TorchBuild, torch_version: str, project: str) -> list[list[str]]:
    """The commands that fill a fresh environment: torch from its index first, then the project with [model]
    and [learned] (pip then keeps the torch already there, since it satisfies the project's range)."""
    torch = [python, "-m", "pip", "install", "--disable-pip-version-check", f"torch=={torch_version}"]
    if build.index_url:
        torch += ["--index-url", build.index_url]
    return [torch, [python, "-m", "pip", "install", "--disable-pip-version-check", f"{project}[model,learned]"]]


def probe(platform: str, machine: str) -> Gpu:
    def run(command: list[str]) -> str | None:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    return detect(platform, machine, run)
