"""The plugin zip: what Krita's own importer makes of it, and what it carries."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile

from installer.package import PLUGIN_NAME, build_plugin_zip

from .conftest import REPO, SYSTEM_PATH

KRITA_IMPORTER = "/usr/share/krita/pykrita/plugin_importer/plugin_importer.py"  # inside Krita's system


def test_zip_imports_with_kritas_own_importer(tmp_path, krita_install):
    krita_install.tool("krita")
    out = tmp_path / "out" / "layerdecomp-krita.zip"
    run = subprocess.run([sys.executable, "-m", "installer", "package", "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert out.is_file()

    resources = tmp_path / "resources"
    resources.mkdir()
    # python3: the system Python Krita embeds (not this venv/pyenv one). Krita 5.3's importer imports
    # ``i18n`` from builtins, which Krita puts there: a plain Python needs a stand-in.
    importer = ("import builtins, runpy, sys; builtins.i18n = getattr(builtins, 'i18n', lambda text, *a: text); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    run = subprocess.run(krita_install.command("python3", "-c", importer, KRITA_IMPORTER, str(out), str(resources)),
                         capture_output=True, text=True,
                         timeout=60, env={"PATH": SYSTEM_PATH})
    assert run.returncode == 0, run.stderr
    assert "Imported plugin: Layer Decomposition" in run.stdout
    pykrita = resources / "pykrita"
    assert (pykrita / f"{PLUGIN_NAME}.desktop").is_file()
    assert (resources / "actions" / f"{PLUGIN_NAME}.action").is_file()
    package = pykrita / PLUGIN_NAME
    assert (package / "__init__.py").is_file()
    for module in (REPO / "server" / "protocol").glob("*.py"):
        assert (package / "protocol" / module.name).read_bytes() == module.read_bytes()
    assert (package / "_vendor" / "websockets" / "sync" / "client.py").is_file()
    assert (package / "_vendor" / "websockets-LICENSE").is_file()

    # The bundled websockets client and the protocol import in Krita's own Python, which has neither.
    probe = (
        "import sys, types; sys.path.insert(0, sys.argv[1]); "
        f"p = types.ModuleType('{PLUGIN_NAME}'); p.__path__ = [sys.argv[1] + '/{PLUGIN_NAME}']; "
        f"sys.modules['{PLUGIN_NAME}'] = p; "
        f"from {PLUGIN_NAME}._vendor.websockets.sync.client import connect; "
        f"from {PLUGIN_NAME} import protocol, client; "
        "print(protocol.PROTOCOL_VERSION, sys.version_info[:2])"
    )
    run = subprocess.run(krita_install.command("python3", "-c", probe, str(pykrita)), capture_output=True, text=True,
                         timeout=60,
                         env={"PATH": SYSTEM_PATH})
    assert run.returncode == 0, run.stderr


def test_zip_is_pure_python_and_reproducible(tmp_path):
    first = build_plugin_zip(tmp_path / "a.zip")
    second = build_plugin_zip(tmp_path / "b" / "b.zip")
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(first) == digest(second)
    names = zipfile.ZipFile(first).namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".pyc", ".c")) or "__pycache__" in n]
    assert f"{PLUGIN_NAME}/" in names  # Krita's importer finds the package by its folder entry
    assert not [n for n in names if n.endswith(".action") and "/" in n]  # one .action file, at the top


def test_everything_in_the_plugin_is_python_39(staged_plugin):
    """Krita builds still ship Python 3.9/3.10: the plugin (its copy of the protocol and websockets
    included) must not use newer syntax, whatever Python builds the zip."""
    import ast

    files = sorted((staged_plugin / PLUGIN_NAME).rglob("*.py"))
    assert len(files) > 30
    for path in files:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))
