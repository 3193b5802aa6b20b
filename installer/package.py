"""The plugin zip that Krita's *Tools › Scripts › Import Python Plugin from File…* accepts.

Layout (what Krita's ``plugin_importer.py`` looks for)::

    layerdecomp_krita.desktop            X-KDE-Library=layerdecomp_krita
    layerdecomp_krita.action             (Krita copies it to its actions/ folder)
    layerdecomp_krita/                   the plugin package as committed, which includes exact copies of:
        protocol/                        server/protocol/ (one protocol, both sides)
        config.py                        layerdecomp/config.py (one rule for the token file)
        crop.py                          layerdecomp/crop.py (one crop rule)
      plus, added here:
        _vendor/websockets/              the pure-Python websockets package (Krita's Python lacks one)

The copies are committed so that the plugin tree imports as it stands; ``scripts/sync_plugin`` refreshes
them after their sources change, and tests/plugin/test_bundled.py fails until it has been run.

Only the standard library is used, so the installer can build the zip from any Python. The zip is
reproducible: entries are sorted and carry a fixed timestamp.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SOURCE = REPO_ROOT / "krita_plugin"
PLUGIN_NAME = "layerdecomp_krita"
# file or folder in the plugin package -> the project file or package it is an exact copy of (standard
# library only, importing nothing outside itself, so each runs inside Krita as is).
BUNDLED = {
    "protocol": REPO_ROOT / "server" / "protocol",
    "config.py": REPO_ROOT / "layerdecomp" / "config.py",
    "crop.py": REPO_ROOT / "layerdecomp" / "crop.py",
}
# The websockets majors whose sync client the plugin uses; 15.x still runs on Python 3.9 (older Kritas).
WEBSOCKETS_MAJORS = ("13.", "14.", "15.")
# Compiled speed-ups are platform-specific; websockets falls back to pure Python without them.
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".c", ".pyi")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


class PackagingError(RuntimeError):
    pass


def _skip(path: Path) -> bool:
    return "__pycache__" in path.parts or path.name.endswith(_SKIP_SUFFIXES) or path.name.startswith(".")


def _copy_tree(source: Path, dest: Path) -> None:
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or _skip(rel):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _websockets_source() -> tuple[Path, str, Path | None]:
    """(package folder, version, licence file or None) of the installed websockets."""
    spec = importlib.util.find_spec("websockets")
    if spec is None or not spec.submodule_search_locations:
        raise PackagingError("websockets is not installed here; `pip install websockets==15.0.1`, then package again")
    folder = Path(list(spec.submodule_search_locations)[0])
    from importlib.metadata import PackageNotFoundError, distribution

    version = ""
    licence = None
    try:
        dist = distribution("websockets")
        version = dist.version
        for file in dist.files or []:
            if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
                licence = Path(dist.locate_file(file))
                break
    except PackageNotFoundError:
        pass
    if not version.startswith(WEBSOCKETS_MAJORS):
        raise PackagingError(f"websockets {version or '(unknown version)'} is installed; the plugin bundles "
                             "websockets 13-15: `pip install websockets==15.0.1`, then package again")
    return folder, version, licence


def _bundled_sources(source: Path) -> dict[str, Path]:
    """The files of one bundled source (a file, or a package's .py files) by their path inside it."""
    if source.is_file():
        return {"": source}
    return {path.relative_to(source).as_posix(): path for path in sorted(source.rglob("*.py")) if not _skip(path)}


def bundled_differences(name: str) -> list[str]:
    """How the plugin's copy ``name`` differs from its source: the files missing, different or extra
    (empty when it is an exact copy)."""
    source, copy = BUNDLED[name], PLUGIN_SOURCE / PLUGIN_NAME / name
    wanted = _bundled_sources(source)
    differences = []
    for rel, path in wanted.items():
        target = copy / rel if rel else copy
        if not target.is_file():
            differences.append(f"{target.relative_to(REPO_ROOT)} is missing")
        elif target.read_bytes() != path.read_bytes():
            differences.append(f"{target.relative_to(REPO_ROOT)} differs from {path.relative_to(REPO_ROOT)}")
    if copy.is_dir():
        extra = sorted(set(_bundled_sources(copy)) - set(wanted))
        differences += [f"{(copy / rel).relative_to(REPO_ROOT)} has no source" for rel in extra]
    return differences


def sync_bundled() -> list[str]:
    """Make each bundled copy in the plugin tree an exact copy of its source; the names of those that changed."""
    changed = []
    for name, source in BUNDLED.items():
        if not bundled_differences(name):
            continue
        copy = PLUGIN_SOURCE / PLUGIN_NAME / name
        if source.is_file():
            shutil.copyfile(source, copy)
        else:
            if copy.is_dir():
                shutil.rmtree(copy)
            for rel, path in _bundled_sources(source).items():
                (copy / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy / rel)
        changed.append(name)
    return changed


def stage_plugin(dest: str | Path) -> Path:
    """Lay the plugin out in ``dest`` as it goes into the zip (the .desktop and .action files and the
    package folder with websockets added). Returns ``dest``."""
    dest = Path(dest)
    package_source = PLUGIN_SOURCE / PLUGIN_NAME
    needed = [package_source / "__init__.py", PLUGIN_SOURCE / f"{PLUGIN_NAME}.desktop"]
    for needed_file in needed + [package_source / name for name in BUNDLED]:
        if not needed_file.exists():
            raise PackagingError(f"{needed_file} is missing; package from a complete layerdecomp checkout")
    dest.mkdir(parents=True, exist_ok=True)
    for name in (f"{PLUGIN_NAME}.desktop", f"{PLUGIN_NAME}.action"):
        shutil.copyfile(PLUGIN_SOURCE / name, dest / name)
    package = dest / PLUGIN_NAME
    _copy_tree(package_source, package)
    folder, version, licence = _websockets_source()
    vendor = package / "_vendor"
    _copy_tree(folder, vendor / "websockets")
    (vendor / "__init__.py").write_text(
        f'"""Bundled third-party packages: websockets {version} (BSD-3-Clause, see websockets-LICENSE)."""\n',
        encoding="utf-8")
    if licence is not None and licence.is_file():
        shutil.copyfile(licence, vendor / "websockets-LICENSE")
    return dest


def build_plugin_zip(out_path: str | Path) -> Path:
    """Build the plugin zip at ``out_path`` (parent folders are created) and return its path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layerdecomp-package-") as tmp:
        staged = stage_plugin(Path(tmp) / "plugin")
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staged.rglob("*")):
                rel = path.relative_to(staged).as_posix()
                if path.is_dir():
                    info = zipfile.ZipInfo(rel + "/", _FIXED_TIME)
                    info.external_attr = 0o40755 << 16
                    archive.writestr(info, b"")
                else:
                    info = zipfile.ZipInfo(rel, _FIXED_TIME)
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
        partial.replace(out)
    return out
