"""install --plugin-only / uninstall in a throwaway HOME, through the real command line."""

from __future__ import annotations

import errno
import subprocess
import sys

from .conftest import REPO_ROOT, USER_KRITARC, make_plugin_zip, tree


def _install(profile, plugin_zip, *extra):
    return profile.run("install", "--plugin-only", "--krita-dir", str(profile.krita_dir),
                       "--plugin-zip", str(plugin_zip), *extra)


def test_install_twice_then_uninstall_restores_the_exact_tree(profile, plugin_zip):
    profile.config.mkdir(parents=True)
    profile.kritarc.write_bytes(USER_KRITARC.encode())
    (profile.krita_dir / "pykrita").mkdir(parents=True)
    (profile.krita_dir / "pykrita" / "someone_else.desktop").write_text("[Desktop Entry]\n")
    before = tree(profile.home)

    _install(profile, plugin_zip)
    pykrita = profile.krita_dir / "pykrita"
    assert (pykrita / "sample_plugin.desktop").read_bytes().startswith(b"[Desktop Entry]")
    assert (pykrita / "sample_plugin" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert (profile.krita_dir / "actions" / "sample_plugin.action").is_file()
    rc = profile.kritarc.read_bytes()
    # One line added to [python]; every other byte of the user's file as it was.
    expected = USER_KRITARC.replace("# a comment Krita never wrote\n",
                                    "# a comment Krita never wrote\nenable_sample_plugin=true\n")
    assert rc == expected.encode()
    after_first = tree(profile.home)

    second = _install(profile, plugin_zip)
    assert "already up to date" in second.stdout
    assert tree(profile.home) == after_first  # nothing duplicated, nothing rewritten
    assert profile.kritarc.read_text().count("enable_sample_plugin") == 1

    profile.run("uninstall")
    assert tree(profile.home) == before


def test_install_from_nothing_creates_kritarc_and_uninstall_removes_every_folder(profile, plugin_zip):
    before = tree(profile.home)
    _install(profile, plugin_zip)
    assert profile.kritarc.read_text() == "[python]\nenable_sample_plugin=true\n"
    assert profile.manifest.is_file()
    profile.run("uninstall")
    assert tree(profile.home) == before == {}


def test_kritarc_is_found_from_xdg_config_home_and_an_explicit_flag_wins(profile, plugin_zip, tmp_path):
    _install(profile, plugin_zip)
    assert "enable_sample_plugin=true" in profile.kritarc.read_text()
    profile.run("uninstall")
    elsewhere = tmp_path / "elsewhere" / "kritarc"
    _install(profile, plugin_zip, "--kritarc", str(elsewhere))
    assert elsewhere.read_text() == "[python]\nenable_sample_plugin=true\n"
    assert not profile.kritarc.exists()
    profile.run("uninstall")
    assert not elsewhere.exists()


def test_a_disabled_plugin_is_enabled_and_uninstall_puts_the_old_value_back(profile, plugin_zip):
    profile.config.mkdir(parents=True)
    original = b"[python]\r\nenable_sample_plugin=false\r\nenable_other=true\r\n"
    profile.kritarc.write_bytes(original)
    _install(profile, plugin_zip)
    assert profile.kritarc.read_bytes() == b"[python]\r\nenable_sample_plugin=true\r\nenable_other=true\r\n"
    profile.run("uninstall")
    assert profile.kritarc.read_bytes() == original


def test_a_plugin_already_there_is_kept_and_put_back_on_uninstall(profile, plugin_zip, tmp_path):
    old_zip = make_plugin_zip(tmp_path / "old.zip", version="0.9", extra={"sample_plugin/old_only.py": "x = 1\n"})
    _install(profile, old_zip)  # stands for an earlier copy that is not in our record:
    profile.manifest.unlink()
    before = tree(profile.home)
    _install(profile, plugin_zip)
    assert (profile.krita_dir / "pykrita" / "sample_plugin" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    profile.run("uninstall")
    assert tree(profile.home) == before


def test_upgrading_removes_files_the_new_version_dropped(profile, plugin_zip, tmp_path):
    old_zip = make_plugin_zip(tmp_path / "old.zip", version="0.9", extra={"sample_plugin/old_only.py": "x = 1\n"})
    before = tree(profile.home)
    _install(profile, old_zip)
    assert (profile.krita_dir / "pykrita" / "sample_plugin" / "old_only.py").exists()
    _install(profile, plugin_zip)
    assert not (profile.krita_dir / "pykrita" / "sample_plugin" / "old_only.py").exists()
    profile.run("uninstall")
    assert tree(profile.home) == before


def test_user_edits_to_kritarc_after_install_survive_uninstall(profile, plugin_zip):
    profile.config.mkdir(parents=True)
    profile.kritarc.write_bytes(USER_KRITARC.encode())
    _install(profile, plugin_zip)
    # Krita rewrote the file meanwhile (a new group, a new key in [python]).
    edited = profile.kritarc.read_text().replace("[MainWindow]", "[python]\nenable_third=true\n\n[MainWindow]")
    edited += "\n[New]\nkey=value\n"
    profile.kritarc.write_text(edited)
    profile.run("uninstall")
    assert profile.kritarc.read_text() == edited.replace("enable_sample_plugin=true\n", "")


def test_no_krita_found_says_what_to_do(profile, plugin_zip, tmp_path):
    profile.env["PATH"] = str(tmp_path)  # no krita program either
    result = profile.run("install", "--plugin-only", "--plugin-zip", str(plugin_zip), check=False)
    assert result.returncode == 2
    assert "Krita not found" in result.stderr and "--krita-dir" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(profile.home.iterdir()) == []


def test_krita_found_from_its_folder_without_any_flag(profile, plugin_zip):
    profile.krita_dir.mkdir(parents=True)
    profile.run("install", "--plugin-only", "--plugin-zip", str(plugin_zip))
    assert (profile.krita_dir / "pykrita" / "sample_plugin.desktop").exists()
    assert "enable_sample_plugin=true" in profile.kritarc.read_text()


def test_krita_installed_but_never_started_gets_its_usual_folders(profile, plugin_zip, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "krita").write_text("#!/bin/sh\n")
    (bin_dir / "krita").chmod(0o755)
    profile.env["PATH"] = str(bin_dir)
    profile.run("install", "--plugin-only", "--plugin-zip", str(plugin_zip))
    assert (profile.krita_dir / "pykrita" / "sample_plugin" / "__init__.py").exists()


def test_an_unknown_krita_dir_without_kritarc_is_refused(profile, plugin_zip, tmp_path):
    result = profile.run("install", "--plugin-only", "--plugin-zip", str(plugin_zip),
                         "--krita-dir", str(tmp_path / "odd"), check=False)
    assert result.returncode == 2 and "--kritarc FILE" in result.stderr
    assert not (tmp_path / "odd").exists()


def test_read_only_kritarc_rolls_the_plugin_back(profile, plugin_zip, monkeypatch, capsys):
    # Simulated (tests may run as root, which ignores permissions): writing the kritarc is refused.
    from installer import changes
    from installer.__main__ import main

    profile.config.mkdir(parents=True)
    profile.kritarc.write_bytes(USER_KRITARC.encode())
    before = tree(profile.home)
    real_write = changes.atomic_write

    def refuse_kritarc(path, data, mode=None):
        if path.name == "kritarc":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_write(path, data, mode)

    monkeypatch.setattr(changes, "atomic_write", refuse_kritarc)
    for key, value in profile.env.items():
        monkeypatch.setenv(key, value)
    code = main(["install", "--plugin-only", "--krita-dir", str(profile.krita_dir), "--plugin-zip", str(plugin_zip)])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot write to" in err and str(profile.kritarc) in err and "writable" in err
    assert tree(profile.home) == before  # the plugin files written before the failure were taken back


def test_the_real_plugin_is_packaged_and_installed(profile, tmp_path):
    zip_path = tmp_path / "out" / "layerdecomp_krita.zip"
    result = profile.run("package", "--out", str(zip_path))
    assert str(zip_path) in result.stdout and zip_path.is_file()
    before = tree(profile.home)
    profile.run("install", "--plugin-only", "--krita-dir", str(profile.krita_dir))  # builds the zip itself
    pykrita = profile.krita_dir / "pykrita"
    assert (pykrita / "layerdecomp_krita.desktop").is_file()
    assert (pykrita / "layerdecomp_krita" / "__init__.py").is_file()
    assert (pykrita / "layerdecomp_krita" / "_vendor" / "websockets" / "__init__.py").is_file()
    assert (profile.krita_dir / "actions" / "layerdecomp_krita.action").is_file()
    assert profile.kritarc.read_text() == "[python]\nenable_layerdecomp_krita=true\n"
    # Krita's Python compiles the plugin's modules next to them; uninstall takes that bytecode too.
    cache = pykrita / "layerdecomp_krita" / "__pycache__"
    cache.mkdir()
    (cache / "__init__.cpython-311.pyc").write_bytes(b"\0")
    profile.run("uninstall")
    assert tree(profile.home) == before


def test_a_bare_python_installs_a_zip_and_says_what_to_do_without_one(profile, plugin_zip):
    """An artist's Python has no numpy and no websockets: `-S` (no site-packages) stands for it."""
    bare = [sys.executable, "-S", "-m", "installer", "install", "--plugin-only", "--krita-dir", str(profile.krita_dir)]
    run = dict(cwd=REPO_ROOT, env=profile.env, capture_output=True, text=True, timeout=60)
    refused = subprocess.run(bare, **run)
    assert refused.returncode == 2, refused.stderr
    assert "websockets" in refused.stderr and "--plugin-zip" in refused.stderr and "Traceback" not in refused.stderr
    assert not profile.home.exists() or list(profile.home.iterdir()) == []
    done = subprocess.run(bare + ["--plugin-zip", str(plugin_zip)], **run)
    assert done.returncode == 0, done.stderr
    assert "enable_sample_plugin=true" in profile.kritarc.read_text()


def test_a_full_disk_while_writing_the_plugin_rolls_back(profile, plugin_zip, monkeypatch, capsys):
    from installer import changes
    from installer.__main__ import main

    before = tree(profile.home)
    real_write = changes.atomic_write
    written = []

    def fill_up(path, data, mode=None):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        real_write(path, data, mode)

    monkeypatch.setattr(changes, "atomic_write", fill_up)
    for key, value in profile.env.items():
        monkeypatch.setenv(key, value)
    code = main(["install", "--plugin-only", "--krita-dir", str(profile.krita_dir), "--plugin-zip", str(plugin_zip)])
    assert code == 2
    assert "no space left on the disk" in capsys.readouterr().err
    assert tree(profile.home) == before


def test_our_installer_wins_over_another_package_of_the_same_name_from_the_repo_root(profile, tmp_path):
    other = tmp_path / "site" / "installer"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    (other / "__main__.py").write_text("print('the other installer')\n")
    profile.env["PYTHONPATH"] = str(tmp_path / "site")
    result = profile.run("--help")
    assert "Install layerdecomp" in result.stdout


def test_a_zip_with_paths_outside_the_plugin_is_refused(profile, tmp_path):
    bad = make_plugin_zip(tmp_path / "bad.zip", extra={"sample_plugin/../../../escape.py": "x = 1\n"})
    result = profile.run("install", "--plugin-only", "--krita-dir", str(profile.krita_dir), "--plugin-zip", str(bad),
                         check=False)
    assert result.returncode == 2 and "outside the plugin" in result.stderr
    assert list(profile.home.iterdir()) == []


def test_a_failed_upgrade_leaves_the_old_version_whole(profile, plugin_zip, tmp_path, monkeypatch, capsys):
    from installer import changes
    from installer.__main__ import main

    old_zip = make_plugin_zip(tmp_path / "old.zip", version="0.9", extra={"sample_plugin/old_only.py": "x = 1\n"})
    _install(profile, old_zip)
    real_write = changes.atomic_write

    def fail_on_kritarc(path, data, mode=None):
        if path.name == "kritarc":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_write(path, data, mode)

    profile.kritarc.write_text("[python]\nenable_sample_plugin=false\n")  # so the upgrade must write it
    before = tree(profile.home)
    monkeypatch.setattr(changes, "atomic_write", fail_on_kritarc)
    for key, value in profile.env.items():
        monkeypatch.setenv(key, value)
    code = main(["install", "--plugin-only", "--krita-dir", str(profile.krita_dir), "--plugin-zip", str(plugin_zip)])
    assert code == 2 and "cannot write to" in capsys.readouterr().err
    assert tree(profile.home) == before
    monkeypatch.setattr(changes, "atomic_write", real_write)
    profile.run("uninstall")
