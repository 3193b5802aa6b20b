"""Small learned models that run on a CPU: where their files are, and what is missing.

The ``learned`` backend (``layerdecomp.backends.learned``) uses two of them:

- matting: **ViTMatte** (``vitmatte.py``), loaded with transformers' ``from_pretrained`` from safetensors;
- removal: **MI-GAN**'s ONNX pipeline (``migan.py``), run with onnxruntime.

Both live in one weights folder, in the hub's layout under each repository's name (what
``python -m installer install --weights-set compact`` writes):

    <weights>/vitmatte-small-composition-1k/config.json, model.safetensors
    <weights>/migan/migan_pipeline_v2.onnx

The folder is, in order: the backend option ``weights``, the environment variable
``LAYERDECOMP_LEARNED_WEIGHTS``, or the weights folder the installer recorded in the server settings.
Nothing here imports torch or onnxruntime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

WEIGHTS_ENV = "LAYERDECOMP_LEARNED_WEIGHTS"
MATTING_FOLDER = "vitmatte-small-composition-1k"
MATTING_FILES = ("config.json", "model.safetensors")
REMOVAL_FILE = "migan/migan_pipeline_v2.onnx"
HOW_TO_GET = ("get them with `python -m installer install --weights-set compact` "
              f"(or point -O weights=DIR or {WEIGHTS_ENV} at a folder that holds them)")


def installed_weights_dir() -> Optional[Path]:
    """The weights folder the installer wrote into the server settings, if any."""
    from ..config import config_dir

    try:
        settings = json.loads((config_dir() / "server.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    folder = settings.get("weights_dir") if isinstance(settings, dict) else None
    return Path(folder) if folder else None


def weights_dir(options: dict[str, Any]) -> Optional[Path]:
    folder = options.get("weights") or os.environ.get(WEIGHTS_ENV)
    if folder:
        return Path(os.path.expanduser(str(folder)))
    return installed_weights_dir()


def matting_folder(folder: Path) -> Path:
    return folder / MATTING_FOLDER


def removal_file(folder: Path) -> Path:
    return folder / REMOVAL_FILE


def missing_files(folder: Optional[Path]) -> list[str]:
    """The files of the compact set that ``folder`` lacks (all of them when there is no folder)."""
    wanted = [f"{MATTING_FOLDER}/{name}" for name in MATTING_FILES] + [REMOVAL_FILE]
    if folder is None:
        return wanted
    return [name for name in wanted if not (folder / name).is_file()]
