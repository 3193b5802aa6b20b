"""The files the plugin carries from the rest of the project are committed in its tree as exact copies
(so the tree imports as it stands), and stay exact copies."""

from __future__ import annotations

import subprocess
import sys

import pytest

from installer import package
from installer.package import BUNDLED, PLUGIN_NAME, PLUGIN_SOURCE, bundled_differences


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_bundled_copy_equals_its_source(name):
    differences = bundled_differences(name)
    assert not differences, (
        f"{'; '.join(differences)}: run `scripts/sync_plugin` and commit the copies it updates")


def test_a_bundled_package_copy_with_a_changed_missing_or_extra_file_is_caught(tmp_path, monkeypatch):
    source, plugin = tmp_path / "source" / "pkg", tmp_path / "krita_plugin"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("from .a import A\n")
    (source / "a.py").write_text("A = 1\n")
    monkeypatch.setattr(package, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(package, "PLUGIN_SOURCE", plugin)
    monkeypatch.setattr(package, "BUNDLED", {"pkg": source})
    assert bundled_differences("pkg") == [f"krita_plugin/{PLUGIN_NAME}/pkg/__init__.py is missing",
                                          f"krita_plugin/{PLUGIN_NAME}/pkg/a.py is missing"]
    assert package.sync_bundled() == ["pkg"] and bundled_differences("pkg") == []
    copy = plugin / PLUGIN_NAME / "pkg"
    (copy / "a.py").write_text("A = 2\n")
    (copy / "stale.py").write_text("")
    assert bundled_differences("pkg") == [f"krita_plugin/{PLUGIN_NAME}/pkg/a.py differs from source/pkg/a.py",
                                          f"krita_plugin/{PLUGIN_NAME}/pkg/stale.py has no source"]
    assert package.sync_bundled() == ["pkg"] and bundled_differences("pkg") == []
    assert not (copy / "stale.py").exists() and (copy / "a.py").read_text() == "A = 1\n"


def test_the_plugin_tree_imports_as_it_stands_without_numpy():
    # The package's __init__ registers the extension with Krita, so its modules are loaded the way the
    # fast tests load them: the package object made by hand, then its Krita-free modules imported.
    probe = (
        "import sys, types; "
        f"p = types.ModuleType('{PLUGIN_NAME}'); p.__path__ = [sys.argv[1]]; sys.modules['{PLUGIN_NAME}'] = p; "
        f"from {PLUGIN_NAME} import protocol, config, crop, region, settings, messages; "
        "from layerdecomp_krita.region import Rect, plan_crop; "
        "print(plan_crop(Rect(10, 10, 4, 4), Rect(0, 0, 100, 100), 2)); "
        "bad = [m for m in ('numpy', 'torch', 'layerdecomp', 'layerdecomp_server') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-I", "-c", probe, str(PLUGIN_SOURCE / PLUGIN_NAME)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    from layerdecomp.crop import DEFAULT_GROW

    pad = DEFAULT_GROW + 2  # the hole's growth plus the margin, around a 4 x 4 selection at (10, 10)
    x0, x1 = max(0, 10 - pad), min(100, 14 + pad)
    assert run.stdout.strip() == f"(Rect(x={x0}, y={x0}, w={x1 - x0}, h={x1 - x0}), 2)"
