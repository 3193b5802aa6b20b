"""The Photoshop plugin's ``.ccx``: what Creative Cloud (double-click) or the UXP Developer Tool installs.

A ``.ccx`` is a zip with the plugin's ``manifest.json`` at its root. It holds only what the plugin runs
(the manifest, the panel's ``index.html`` and ``src/*.js``, ``protocol.js`` among them); the Node tests,
their packages and the type-check set-up stay out. Reproducible like the Krita zip: sorted entries, a
fixed timestamp.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from .package import REPO_ROOT, PackagingError

PHOTOSHOP_SOURCE = REPO_ROOT / "photoshop_plugin"
# What the plugin is made of, relative to photoshop_plugin/.
_INCLUDE = ("manifest.json", "index.html", "src", "icons")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def plugin_files(source: Path = PHOTOSHOP_SOURCE) -> list[Path]:
    """The files that go into the .ccx, sorted, checked to be there."""
    manifest = source / "manifest.json"
    if not manifest.is_file():
        raise PackagingError(f"{manifest} is missing; package from a complete layerdecomp checkout")
    try:
        main = json.loads(manifest.read_text(encoding="utf-8"))["main"]
    except (ValueError, KeyError) as exc:
        raise PackagingError(f"{manifest} is not a valid plugin manifest ({exc})") from None
    files = []
    for name in _INCLUDE:
        path = source / name
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise PackagingError(f"{path} is missing; package from a complete layerdecomp checkout")
    if not (source / main).is_file():
        raise PackagingError(f"the manifest's main file {main} is missing")
    return sorted(files)


def build_ccx(out_path: str | Path, source: Path = PHOTOSHOP_SOURCE) -> Path:
    """Build the .ccx at ``out_path`` (parent folders are created) and return its path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files(source):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), _FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(out)
    return out
