"""`python -m installer package --photoshop` builds the .ccx Creative Cloud installs: a zip with the
manifest at its root and exactly the files the plugin runs (photoshop_plugin/test checks the manifest
itself, and the plugin's code)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "photoshop_plugin"


def _build(out: Path) -> bytes:
    run = subprocess.run([sys.executable, "-m", "installer", "package", "--photoshop", "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert str(out) in run.stdout
    return out.read_bytes()


def test_the_ccx_holds_the_manifest_at_its_root_and_only_the_plugin(tmp_path):
    first = _build(tmp_path / "a" / "layerdecomp.ccx")
    with zipfile.ZipFile(tmp_path / "a" / "layerdecomp.ccx") as archive:
        names = sorted(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("src/protocol.js") == (SOURCE / "src" / "protocol.js").read_bytes()
    expected = sorted(["manifest.json", "index.html",
                       *(p.relative_to(SOURCE).as_posix() for p in (SOURCE / "src").glob("*.js")),
                       *(p.relative_to(SOURCE).as_posix() for p in (SOURCE / "icons").glob("*.png"))])
    assert any(name.startswith("icons/") for name in expected)
    assert names == expected
    assert manifest["manifestVersion"] == 5 and manifest["host"]["app"] == "PS"
    assert manifest["main"] in names
    # Reproducible: the same bytes every time.
    assert _build(tmp_path / "b" / "layerdecomp.ccx") == first


def test_a_missing_manifest_is_a_clear_error(tmp_path):
    from installer.package import PackagingError
    from installer.photoshop import build_ccx

    try:
        build_ccx(tmp_path / "x.ccx", source=tmp_path)
    except PackagingError as exc:
        assert "manifest.json is missing" in str(exc)
    else:
        raise AssertionError("no error")
    assert not (tmp_path / "x.ccx").exists()
