"""The Photoshop plugin's own tests (photoshop_plugin/test, Node's test runner) as part of the suite.

They drive the panel's logic against a fake `photoshop` module and the real `layerdecomp serve`, check
protocol.js against the golden vectors, validate the manifest and type-check the plugin. Node 20+ and
the packages of photoshop_plugin/package-lock.json (`npm ci` in photoshop_plugin/; scripts/test does it)
must be there (Node 18 works too): without them this fails, it does not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "photoshop_plugin"


def test_the_photoshop_plugin_tests_pass():
    node = shutil.which("node")
    assert node, "node is not installed: the Photoshop plugin's tests need Node 20 or later (scripts/test installs it)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 18, f"node {version} is too old: the tests need Node 18 or later"
    assert (PLUGIN / "node_modules" / "ws").is_dir(), "run `npm ci` in photoshop_plugin/ first (scripts/test does)"
    env = dict(os.environ, LAYERDECOMP_PYTHON=sys.executable)
    files = sorted(str(p.relative_to(PLUGIN)) for p in (PLUGIN / "test").glob("*.test.js"))
    run = subprocess.run([node, "--test", *files], cwd=PLUGIN, env=env, capture_output=True, text=True, timeout=900)
    summary = [line for line in run.stdout.splitlines() if line.startswith(("# pass", "# fail", "not ok"))]
    assert run.returncode == 0, "\n".join(summary) + "\n" + run.stdout[-6000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout


def test_npm_test_with_a_python_lacking_the_project_stops_at_once_with_one_line(tmp_path):
    """`npm test` first checks the Python it would use (package.json's pretest): one lacking the project's
    packages stops the run there, with one line saying which interpreter to name, before any test runs."""
    npm = shutil.which("npm")
    assert npm, "npm is not installed (scripts/test installs it with Node)"
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    python = bare / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = dict(os.environ, LAYERDECOMP_PYTHON=str(python))
    run = subprocess.run([npm, "test"], cwd=PLUGIN, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    said = [line for line in (run.stdout + run.stderr).splitlines() if "no Python with the project's packages" in line]
    assert len(said) == 1, run.stdout + run.stderr
    assert str(python) in said[0] and "LAYERDECOMP_PYTHON=" in said[0] and "No module named" in said[0]
    assert "# pass" not in run.stdout, "no test ran"
