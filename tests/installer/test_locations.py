"""Krita's folders on each system: pure functions of (platform, environment, home)."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import pytest

from installer.errors import InstallError
from installer.locations import data_dir, find_krita, krita_layouts, krita_programs, resource_dir_override


def test_linux_defaults_and_xdg_variables():
    native, flatpak = krita_layouts("linux", {}, "/home/ann")
    assert native.resource_dir == PurePosixPath("/home/ann/.local/share/krita")
    assert native.kritarc == PurePosixPath("/home/ann/.config/kritarc")
    assert flatpak.resource_dir == PurePosixPath("/home/ann/.var/app/org.kde.krita/data/krita")
    assert flatpak.kritarc == PurePosixPath("/home/ann/.var/app/org.kde.krita/config/kritarc")
    env = {"XDG_DATA_HOME": "/x/data", "XDG_CONFIG_HOME": "/x/config"}
    native, flatpak = krita_layouts("linux", env, "/home/ann")
    assert (native.resource_dir, native.kritarc) == (PurePosixPath("/x/data/krita"), PurePosixPath("/x/config/kritarc"))
    assert flatpak.resource_dir == PurePosixPath("/home/ann/.var/app/org.kde.krita/data/krita")  # sandbox's own
    # Relative XDG values are invalid by the spec and ignored.
    native, _ = krita_layouts("linux", {"XDG_DATA_HOME": "rel/data"}, "/home/ann")
    assert native.resource_dir == PurePosixPath("/home/ann/.local/share/krita")


def test_windows_uses_appdata_and_localappdata():
    env = {"APPDATA": r"C:\Users\Ann\AppData\Roaming", "LOCALAPPDATA": r"C:\Users\Ann\AppData\Local"}
    (layout,) = krita_layouts("win32", env, r"C:\Users\Ann")
    assert layout.resource_dir == PureWindowsPath(r"C:\Users\Ann\AppData\Roaming\krita")
    assert layout.kritarc == PureWindowsPath(r"C:\Users\Ann\AppData\Local\kritarc")
    (fallback,) = krita_layouts("win32", {}, r"D:\Profiles\Bo")
    assert fallback.resource_dir == PureWindowsPath(r"D:\Profiles\Bo\AppData\Roaming\krita")
    assert fallback.kritarc == PureWindowsPath(r"D:\Profiles\Bo\AppData\Local\kritarc")


def test_macos_uses_library():
    (layout,) = krita_layouts("darwin", {"XDG_DATA_HOME": "/ignored"}, "/Users/ann")
    assert layout.resource_dir == PurePosixPath("/Users/ann/Library/Application Support/krita")
    assert layout.kritarc == PurePosixPath("/Users/ann/Library/Preferences/kritarc")


def _exists(*paths):
    return lambda p: p in {str(PurePosixPath(x)) for x in paths} | {str(PureWindowsPath(x)) for x in paths}


def test_find_picks_the_layout_that_exists():
    flatpak = find_krita("linux", {}, "/home/ann", exists=_exists("/home/ann/.var/app/org.kde.krita"))
    assert flatpak.name == "linux-flatpak"
    native = find_krita("linux", {}, "/home/ann", exists=_exists("/home/ann/.config/kritarc"))
    assert native.name == "linux" and native.resource_dir == PurePosixPath("/home/ann/.local/share/krita")
    win = find_krita("win32", {"APPDATA": r"C:\A", "LOCALAPPDATA": r"C:\L"}, r"C:\U", exists=_exists(r"C:\A\krita"))
    assert win.kritarc == PureWindowsPath(r"C:\L\kritarc")
    mac = find_krita("darwin", {}, "/Users/ann", exists=_exists("/Users/ann/Library/Preferences/kritarc"))
    assert mac.name == "macos"


def test_find_refuses_to_guess_between_two_installs_and_reports_none():
    both = _exists("/home/ann/.local/share/krita", "/home/ann/.var/app/org.kde.krita")
    with pytest.raises(InstallError, match="more than one place.*--krita-dir"):
        find_krita("linux", {}, "/home/ann", exists=both)
    with pytest.raises(InstallError, match="Krita not found.*krita.org.*--krita-dir"):
        find_krita("darwin", {}, "/Users/ann", exists=_exists())
    assert find_krita("darwin", {}, "/Users/ann", exists=_exists(), program_layout="macos").name == "macos"


def test_krita_dir_override_matches_a_layout_or_needs_kritarc():
    env = {"XDG_DATA_HOME": "/t/data", "XDG_CONFIG_HOME": "/t/config"}
    layout = find_krita("linux", env, "/t", krita_dir="/t/data/krita", exists=_exists())
    assert layout.kritarc == PurePosixPath("/t/config/kritarc")
    flat = find_krita("linux", {}, "/h", krita_dir="/h/.var/app/org.kde.krita/data/krita", exists=_exists())
    assert flat.kritarc == PurePosixPath("/h/.var/app/org.kde.krita/config/kritarc")
    custom = find_krita("linux", env, "/t", krita_dir="/odd", kritarc="/odd/rc", exists=_exists())
    assert (custom.resource_dir, custom.kritarc) == (PurePosixPath("/odd"), PurePosixPath("/odd/rc"))
    with pytest.raises(InstallError, match="--kritarc FILE"):
        find_krita("linux", env, "/t", krita_dir="/odd", exists=_exists())


def test_a_moved_resource_folder_in_kritarc_is_followed():
    text = "ResourceDirectory=/big/disk/krita-resources\n[General]\nResourceDirectory=/not/this\n"
    assert resource_dir_override(text) == "/big/disk/krita-resources"
    assert resource_dir_override("[General]\nResourceDirectory=/not/top\n") is None
    assert resource_dir_override("ResourceDirectory=\n") is None
    layout = find_krita("linux", {}, "/h", exists=_exists("/h/.config/kritarc"), read_text=lambda p: text)
    assert layout.resource_dir == PurePosixPath("/big/disk/krita-resources")
    assert layout.kritarc == PurePosixPath("/h/.config/kritarc")


def test_where_the_krita_program_usually_is():
    (layout, program_files), _ = krita_programs("win32", {"ProgramFiles": r"D:\Apps"}, r"C:\U")
    assert (layout, program_files) == ("windows", PureWindowsPath(r"D:\Apps\Krita (x64)\bin\krita.exe"))
    assert krita_programs("darwin", {}, "/Users/a") == [("macos", PurePosixPath("/Applications/krita.app"))]
    linux = krita_programs("linux", {}, "/h")
    assert ("linux-flatpak", PurePosixPath("/var/lib/flatpak/app/org.kde.krita")) in linux
    assert ("linux-flatpak", PurePosixPath("/h/.local/share/flatpak/app/org.kde.krita")) in linux
    # A Flatpak Krita never started yet gets the Flatpak folders, not the native ones.
    flatpak = find_krita("linux", {}, "/h", exists=_exists(), program_layout="linux-flatpak")
    assert flatpak.resource_dir == PurePosixPath("/h/.var/app/org.kde.krita/data/krita")


def test_data_dir_per_platform():
    assert data_dir("linux", {"XDG_DATA_HOME": "/x"}, "/h") == PurePosixPath("/x/layerdecomp")
    assert data_dir("linux", {}, "/h") == PurePosixPath("/h/.local/share/layerdecomp")
    assert data_dir("win32", {"LOCALAPPDATA": r"C:\L"}, r"C:\U") == PureWindowsPath(r"C:\L\layerdecomp")
    assert data_dir("darwin", {}, "/Users/a") == PurePosixPath("/Users/a/Library/Application Support/layerdecomp")
