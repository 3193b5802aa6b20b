"""The CI log (scripts/test) shows the test results and real problems, nothing else: scripts/lint is
silent while the house rules hold, and no test prints past pytest's capture."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _fake_python(folder: Path, contracts_exit: int) -> Path:
    """A stand-in for the Python that scripts/lint runs: import-linter's banner and report on stdout (as
    the real one prints them whether or not the contracts hold), and a clean ruff."""
    fake = folder / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ]; then exit 0; fi  # ruff --quiet: no findings, no output\n'
        "echo '=============\\nImport Linter\\n=============\\nContracts: 4 kept, 0 broken.'\n"
        f"exit {contracts_exit}\n"
    )
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize("contracts_exit", [0, 1])
def test_lint_prints_import_linter_s_report_only_when_a_contract_breaks(tmp_path, contracts_exit):
    env = dict(os.environ, PYTHON=str(_fake_python(tmp_path, contracts_exit)))
    done = subprocess.run([str(ROOT / "scripts" / "lint")], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == contracts_exit
    if contracts_exit:
        assert "Import Linter" in done.stdout + done.stderr
    else:
        assert done.stdout == done.stderr == ""


def test_no_test_prints_past_pytest_s_capture():
    """`capsys.disabled()` (or `capfd.disabled()`) writes between pytest's dots; numbers a test wants to
    report go into its failure messages or `record_property`."""
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("*.py")
                 if path != Path(__file__) and re.search(r"\bcap(sys|fd)\.disabled\(", path.read_text())]
    assert offenders == []
