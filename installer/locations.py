"""Where Krita keeps its resources (``pykrita/``, ``actions/``) and its settings file ``kritarc`` on each system.

Everything here is a pure function of (platform, environment, home folder) so that every layout can be tested
on any machine; ``find_krita`` adds the one impure bit (which folders exist) through an ``exists`` parameter.

Layouts (Krita 5/6):
- Linux:         $XDG_DATA_HOME/krita (~/.local/share/krita)        and $XDG_CONFIG_HOME/kritarc (~/.config/kritarc)
- Linux Flatpak: ~/.var/app/org.kde.krita/data/krita                and ~/.var/app/org.kde.krita/config/kritarc
- Windows:       %APPDATA%\\krita                                    and %LOCALAPPDATA%\\kritarc
- macOS:         ~/Library/Application Support/krita                and ~/Library/Preferences/kritarc
A user can move the resource folder in Krita's settings; Krita then writes ``ResourceDirectory=...`` at the top
of kritarc (the unnamed group), and plugins are loaded from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Callable, Mapping

from .errors import InstallError

FLATPAK_APP_ID = "org.kde.krita"


@dataclass(frozen=True)
class KritaLayout:
    name: str  # "linux", "linux-flatpak", "windows", "macos", or "custom"
    resource_dir: PurePath
    kritarc: PurePath


def _pure(platform: str) -> type[PurePath]:
    return PureWindowsPath if platform.startswith("win") else PurePosixPath


def _xdg(env: Mapping[str, str], var: str, fallback: PurePath) -> PurePath:
    # The XDG spec says relative values are invalid and must be ignored.
    value = env.get(var, "")
    return PurePosixPath(value) if value.startswith("/") else fallback


def krita_layouts(platform: str, env: Mapping[str, str], home: str | PurePath) -> list[KritaLayout]:
    """Every layout Krita can use on ``platform`` (a ``sys.platform`` value), most usual first."""
    path = _pure(platform)
    home = path(home)
    if platform.startswith("win"):
        appdata = path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        local = path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
        return [KritaLayout("windows", appdata / "krita", local / "kritarc")]
    if platform == "darwin":
        library = home / "Library"
        return [KritaLayout("macos", library / "Application Support" / "krita", library / "Preferences" / "kritarc")]
    data = _xdg(env, "XDG_DATA_HOME", home / ".local" / "share")
    config = _xdg(env, "XDG_CONFIG_HOME", home / ".config")
    flatpak = home / ".var" / "app" / FLATPAK_APP_ID
    return [
        KritaLayout("linux", data / "krita", config / "kritarc"),
        KritaLayout("linux-flatpak", flatpak / "data" / "krita", flatpak / "config" / "kritarc"),
    ]


def resource_dir_override(kritarc_text: str) -> str | None:
    """The ``ResourceDirectory`` a user chose in Krita's settings (top of kritarc, before any [group]), if any."""
    for line in kritarc_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            return None
        key, sep, value = stripped.partition("=")
        if sep and key.strip() == "ResourceDirectory" and value.strip():
            return value.strip()
    return None


def _layout_is_present(layout: KritaLayout, exists: Callable[[str], bool]) -> bool:
    if layout.name == "linux-flatpak":
        return exists(str(layout.resource_dir.parent.parent))  # the Flatpak app's own folder
    return exists(str(layout.resource_dir)) or exists(str(layout.kritarc))


def find_krita(
    platform: str,
    env: Mapping[str, str],
    home: str | PurePath,
    *,
    krita_dir: str | None = None,
    kritarc: str | None = None,
    exists: Callable[[str], bool] = os.path.exists,
    read_text: Callable[[str], str] | None = None,
    program_layout: str | None = None,
) -> KritaLayout:
    """The layout to install into. ``krita_dir``/``kritarc`` are the user's overrides (--krita-dir/--kritarc).

    ``program_layout``: the layout of a Krita program found installed (see ``krita_programs``), used when no
    folder exists yet (Krita never started): the installer then creates that layout's folders.
    """
    path = _pure(platform)
    layouts = krita_layouts(platform, env, home)
    if krita_dir is not None:
        chosen = path(krita_dir)
        matching = [layout for layout in layouts if layout.resource_dir == chosen]
        if kritarc is not None:
            return KritaLayout(matching[0].name if matching else "custom", chosen, path(kritarc))
        if matching:
            return matching[0]
        raise InstallError(
            f"--krita-dir {krita_dir} is not one of Krita's usual resource folders "
            f"({', '.join(str(layout.resource_dir) for layout in layouts)}), so the installer cannot tell which "
            "settings file goes with it: add --kritarc FILE (Krita's kritarc), or --no-enable to leave it alone"
        )
    present = [layout for layout in layouts if _layout_is_present(layout, exists)]
    if not present and program_layout is not None:
        present = [layout for layout in layouts if layout.name == program_layout]
    if not present:
        where = "; ".join(f"{layout.resource_dir} ({layout.name})" for layout in layouts)
        raise InstallError(
            f"Krita not found (looked for {where}): install Krita from https://krita.org, start it once and close "
            "it, then run install again; or give its resource folder with --krita-dir DIR"
        )
    if len(present) > 1:
        choices = " or ".join(f"--krita-dir {layout.resource_dir}" for layout in present)
        raise InstallError(f"Krita's folders were found in more than one place: run install again with {choices}")
    layout = present[0]
    if kritarc is not None:
        layout = KritaLayout(layout.name, layout.resource_dir, path(kritarc))
    if read_text is not None and exists(str(layout.kritarc)):
        moved = resource_dir_override(read_text(str(layout.kritarc)))
        if moved:
            layout = KritaLayout(layout.name, path(moved), layout.kritarc)
    return layout


def krita_programs(platform: str, env: Mapping[str, str], home: str | PurePath) -> list[tuple[str, PurePath]]:
    """(layout, path) of Krita's program where it usually is, for a Krita installed but never started."""
    if platform.startswith("win"):
        return [("windows", PureWindowsPath(env.get(var) or r"C:\Program Files") / "Krita (x64)" / "bin" / "krita.exe")
                for var in ("ProgramFiles", "ProgramW6432")]
    if platform == "darwin":
        return [("macos", PurePosixPath("/Applications/krita.app"))]
    data = _xdg(env, "XDG_DATA_HOME", PurePosixPath(home) / ".local" / "share")
    return [("linux-flatpak", PurePosixPath("/var/lib/flatpak/app") / FLATPAK_APP_ID),
            ("linux-flatpak", data / "flatpak" / "app" / FLATPAK_APP_ID)]


def data_dir(platform: str, env: Mapping[str, str], home: str | PurePath) -> PurePath:
    """Where the installer puts the server's environment and the weights (large, not settings)."""
    path = _pure(platform)
    home = path(home)
    if platform.startswith("win"):
        return (path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local") / "layerdecomp"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "layerdecomp"
    return _xdg(env, "XDG_DATA_HOME", home / ".local" / "share") / "layerdecomp"
