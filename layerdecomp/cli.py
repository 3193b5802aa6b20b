"""The ``layerdecomp`` command. Each subcommand lives in its own module with ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from types import ModuleType

from .errors import LayerDecompError

# subcommand -> (module, one-line help). Each module keeps its heavy imports inside ``run``, so building
# the parser stays cheap and `layerdecomp decompose` never pays for torch or the server.
SUBCOMMANDS = {
    "decompose": ("layerdecomp.commands.decompose", "split the selected object out of a picture"),
    "data": ("layerdecomp.commands.data", "make training/evaluation triplets (tar shards) from layered sources"),
    "eval": ("layerdecomp.commands.eval", "run a backend over a triplet set and print the evaluation metrics"),
}
# Other installed packages add subcommands through this entry-point group: each entry names a module with
# HELP, add_arguments and run. The server adds `serve` this way, so this package never imports it.
ENTRY_POINT_GROUP = "layerdecomp.commands"


def _subcommands() -> dict[str, tuple[ModuleType, str]]:
    found = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        found[name] = (importlib.import_module(module_name), help_text)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name not in found:
            module = entry.load()
            found[entry.name] = (module, module.HELP)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerdecomp",
        description="Split a selected object out of a picture into an RGBA object layer and a clean background.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"layerdecomp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in _subcommands().items():
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except LayerDecompError as exc:
        print(f"layerdecomp: error: {exc} [{exc.code}]", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerdecomp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
