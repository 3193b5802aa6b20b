"""The Krita plugin: read it from its zip (built from this checkout, or given), put it into Krita's resource
folder, enable it.

Krita's own zip importer lays a plugin out like this, and so does this module:
    <resources>/pykrita/<name>.desktop     <resources>/pykrita/<name>/...     <resources>/actions/<file>.action
where <name> is the desktop file's X-KDE-Library key, which is also the key Krita enables the plugin by:
``enable_<name>=true`` in the ``[python]`` group of kritarc.
"""

from __future__ import annotations

import configparser
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .changes import Changes
from .errors import InstallError
from .locations import KritaLayout

REPO_ROOT = Path(__file__).resolve().parent.parent
KRITARC_SECTION = "python"


@dataclass
class Plugin:
    name: str  # X-KDE-Library: the Python package folder and the enable key
    title: str  # the desktop file's Name
    files: dict[str, bytes] = field(default_factory=dict)  # path relative to the resource folder -> content

    @property
    def enable_key(self) -> str:
        return f"enable_{self.name}"


def _skip(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return name.endswith("/") or "__pycache__" in parts or name.endswith((".pyc", ".pyo"))


def plugin_from_entries(entries: dict[str, bytes], origin: str) -> Plugin:
    """Lay out a plugin given as {path inside the zip: bytes}."""
    desktops = [name for name in entries if name.endswith(".desktop")]
    if len(desktops) != 1:
        raise InstallError(f"{origin} should hold exactly one .desktop file, found {len(desktops)}: "
                           "rebuild it with `python -m installer package --out FILE.zip`")
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    try:
        parser.read_string(entries[desktops[0]].decode("utf-8"))
        name = parser["Desktop Entry"]["X-KDE-Library"].strip()
        title = parser["Desktop Entry"].get("Name", name).strip()
    except (KeyError, configparser.Error, UnicodeDecodeError) as exc:
        raise InstallError(f"{origin}: {desktops[0]} has no readable X-KDE-Library key ({exc})") from exc
    unsafe = [n for n in entries if n.startswith("/") or ".." in PurePosixPath(n).parts or "\\" in n]
    if unsafe:
        raise InstallError(f"{origin} has entries that point outside the plugin ({unsafe[0]}): not installing it")
    inits = [n for n in entries if PurePosixPath(n).name == "__init__.py" and PurePosixPath(n).parent.name == name]
    if not inits:
        raise InstallError(f"{origin} has no Python package folder {name}/ with an __init__.py")
    module_prefix = min(inits, key=lambda n: n.count("/"))[: -len("__init__.py")]
    plugin = Plugin(name, title)
    plugin.files[f"pykrita/{name}.desktop"] = entries[desktops[0]]
    for entry_name, data in entries.items():
        if entry_name.startswith(module_prefix):
            plugin.files[f"pykrita/{name}/{entry_name[len(module_prefix):]}"] = data
        elif entry_name.endswith(".action"):
            plugin.files[f"actions/{PurePosixPath(entry_name).name}"] = data
    # An action file inside the package folder is also what Krita's actions/ folder needs.
    for entry_name, data in entries.items():
        if entry_name.endswith(".action") and f"actions/{PurePosixPath(entry_name).name}" not in plugin.files:
            plugin.files[f"actions/{PurePosixPath(entry_name).name}"] = data
    return plugin


def read_plugin_zip(path: Path) -> Plugin:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = {n: archive.read(n) for n in archive.namelist() if not _skip(n)}
    except (OSError, zipfile.BadZipFile) as exc:
        raise InstallError(f"cannot read the plugin zip {path}: {exc}") from exc
    return plugin_from_entries(entries, str(path))


def packaged_plugin(plugin_zip: Path | None = None, python: str | None = None) -> Plugin:
    """The plugin to install: the given zip, else a zip built from this checkout (bundling websockets).

    Packaging needs websockets importable; ``python`` (the server's environment, which has it) builds the zip
    when this Python lacks it. Raises InstallError saying what to do when neither can.
    """
    if plugin_zip is not None:
        return read_plugin_zip(Path(plugin_zip))
    with tempfile.TemporaryDirectory(prefix="layerdecomp-plugin-") as tmp:
        out = Path(tmp) / "plugin.zip"
        if python is not None:
            done = subprocess.run([python, "-m", "installer", "package", "--out", str(out)], cwd=REPO_ROOT,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise InstallError(f"building the plugin zip with {python} failed: {done.stderr.strip()}")
            return read_plugin_zip(out)
        from .package import PackagingError, build_plugin_zip

        try:
            return read_plugin_zip(Path(build_plugin_zip(out)))
        except PackagingError as exc:
            raise PluginNeedsPackaging(
                f"{exc} (or install a ready-made plugin zip with --plugin-zip FILE.zip)") from exc


class PluginNeedsPackaging(InstallError):
    """This Python cannot build the plugin zip (no websockets to bundle)."""


def install_plugin(changes: Changes, layout: KritaLayout, plugin: Plugin, enable: bool = True) -> None:
    resources = Path(str(layout.resource_dir))
    wanted = {str(resources / rel): data for rel, data in plugin.files.items()}
    # Files an earlier version of the plugin had and this one does not.
    for entry in list(changes.manifest.entries):
        if entry.get("role") == "plugin" and entry["path"] not in wanted:
            changes.remove_file(Path(entry["path"]))
    for path, data in sorted(wanted.items()):
        changes.write_file(Path(path), data, role="plugin")
    if enable:
        changes.enable_in_kritarc(Path(str(layout.kritarc)), KRITARC_SECTION, plugin.enable_key)


def installed_version(resource_dir: Path, name: str) -> str | None:
    """The plugin's __version__ as written in its installed __init__.py (read as text, never imported)."""
    init = Path(resource_dir) / "pykrita" / name / "__init__.py"
    if not init.is_file():
        return None
    for line in init.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("__version__"):
            return line.partition("=")[2].strip().strip("'\"")
    return "unknown"
