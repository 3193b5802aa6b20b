"""The plugin's Qt-facing modules load and work under PyQt6 (Krita 6), in a separate process."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import FAKE_KRITA, HERE


def test_plugin_runs_under_pyqt6(staged_plugin):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, str(HERE / "krita_scripts" / "qt6_checks.py"), str(FAKE_KRITA),
                          str(staged_plugin)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "qt6 ok" in run.stdout and "docker ok" in run.stdout
