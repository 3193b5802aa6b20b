"""The house rules in pyproject.toml's [tool.importlinter]: they hold on this tree, and each one fails when
an import breaks it (checked on a copy of the packages with one bad import added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _copy_tree(dest: Path) -> Path:
    """The three packages under their import names, and the config, in ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "_vendor")
    shutil.copytree(REPO / "layerdecomp", dest / "layerdecomp", ignore=ignore)
    shutil.copytree(REPO / "server", dest / "layerdecomp_server", ignore=ignore)
    shutil.copytree(REPO / "krita_plugin" / "layerdecomp_krita", dest / "krita_plugin" / "layerdecomp_krita",
                    ignore=ignore)
    shutil.copyfile(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(root: Path) -> subprocess.CompletedProcess:
    # The copies come first on the path, ahead of the installed (editable) packages.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "krita_plugin")]), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_contracts_hold_on_this_tree(tmp_path):
    run = _lint(_copy_tree(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "6 kept, 0 broken" in run.stdout


# Forbidden contracts count indirect imports too: types -> api -> backends is the model reaching the backends.
@pytest.mark.parametrize("module, bad_import, contracts", [
    ("layerdecomp/region.py", "from layerdecomp_server import protocol", {"Core"}),
    ("layerdecomp/validate.py", "import PyQt6", {"Core"}),
    ("layerdecomp/model/config.py", "from ..backends import classical", {"Model", "Cycles"}),
    ("krita_plugin/layerdecomp_krita/region.py", "import numpy", {"Plugin"}),
    ("layerdecomp/types.py", "from . import api", {"Model", "Cycles"}),
    ("layerdecomp_server/pixels.py", "from . import jobs", {"Cycles"}),
    ("layerdecomp/fill.py", "import torch", {"Torch"}),
    ("layerdecomp_server/jobs.py", "import torch", {"Torch"}),
    ("layerdecomp_server/session.py", "from layerdecomp_krita import settings", {"Server"}),
])
def test_each_contract_fails_when_broken(tmp_path, module, bad_import, contracts):
    root = _copy_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{bad_import}\n", encoding="utf-8")
    run = _lint(root)
    assert run.returncode == 1, run.stdout + run.stderr
    # "Name: what it says BROKEN", with " (N ignored imports)" after it for a contract that ignores some
    broken = {line.split(":")[0] for line in run.stdout.splitlines()
              if line.endswith("BROKEN") or " BROKEN (" in line}
    assert broken == contracts, run.stdout


def test_what_the_installer_loads_by_file_path_is_standard_library_alone():
    """import-linter cannot see a module loaded by its path: the installer's two such loads (it runs from
    any Python, and the packages' __init__ would import numpy) are of files that import only the standard
    library and nothing of the project, checked here."""
    import ast

    from installer import serverconfig

    for path in serverconfig.LOADED_BY_PATH:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: a relative import would not load on its own"
                imported.add(node.module.split(".")[0])
        assert imported <= set(sys.stdlib_module_names), (path, imported - set(sys.stdlib_module_names))
