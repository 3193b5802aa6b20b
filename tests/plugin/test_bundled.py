"""The files the plugin carries from the rest of the project are committed in its tree as exact copies
(so the tree imports as it stands), and stay exact copies."""

from __future__ import annotations

import subprocess
import sys

import pytest

from installer.package import BUNDLED, PLUGIN_NAME, PLUGIN_SOURCE

from .conftest import REPO


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_bundled_file_equals_its_source(name):
    copy, source = PLUGIN_SOURCE / PLUGIN_NAME / name, BUNDLED[name]
    assert copy.is_file() and copy.read_bytes() == source.read_bytes(), (
        f"{copy.relative_to(REPO)} is not an exact copy of {source.relative_to(REPO)}: "
        "run `scripts/sync_plugin` and commit the copies it updates")


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
