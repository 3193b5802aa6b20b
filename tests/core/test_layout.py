"""The installed layout: every package folder is installed, the server under a name of its own."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_installed():
    config = _setuptools()
    folders = {"layerdecomp": REPO / "layerdecomp",
               "layerdecomp_server": REPO / config["package-dir"]["layerdecomp_server"]}
    found = set()
    for top, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join((top, *init.parent.relative_to(folder).parts)))
    listed = set(config["packages"])
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert listed <= found, f"{sorted(listed - found)} in pyproject.toml's packages has no folder"



def test_serve_is_found_through_the_entry_point_without_the_core_importing_the_server():
    from importlib.metadata import entry_points

    from layerdecomp.cli import ENTRY_POINT_GROUP, SUBCOMMANDS, build_parser

    assert "serve" not in SUBCOMMANDS
    assert {e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)}["serve"] == "layerdecomp_server.command"
    args = build_parser().parse_args(["serve", "--port", "0"])
    assert args.port == 0 and args._run.__module__ == "layerdecomp_server.command"
