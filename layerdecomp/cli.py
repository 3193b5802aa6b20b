"""The ``layerdecomp`` command. Each subcommand lives in its own module with ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import LayerDecompError

# subcommand -> (module, one-line help). Each module keeps its heavy imports inside ``run``, so building
# the parser stays cheap and `layerdecomp decompose` never pays for torch or the server.
SUBCOMMANDS = {
    "decompose": ("layerdecomp.commands.decompose", "split the selected object out of a picture"),
    "data": ("layerdecomp.commands.data", "make training/evaluation triplets (tar shards) from layered sources"),
    "eval": ("layerdecomp.commands.eval", "run a backend over a triplet set and print the evaluation metrics"),
    "serve": ("layerdecomp.commands.serve", "serve decompositions to the Krita plugin over a local websocket"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerdecomp",
        description="Split a selected object out of a picture into an RGBA object layer and a clean background.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"layerdecomp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
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
        print(f"layerdecomp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("layerdecomp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
