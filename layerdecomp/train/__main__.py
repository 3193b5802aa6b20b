"""``accelerate launch -m layerdecomp.train CONFIG`` (or ``python -m layerdecomp.train CONFIG``)."""

from __future__ import annotations

import argparse
import sys

from ..errors import LayerDecompError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layerdecomp.train",
                                     description="Train the layer-decomposition adapter (see docs/training.md).")
    parser.add_argument("config", metavar="CONFIG", help="a .toml, .yaml or .json training config")
    parser.add_argument("--output-dir", metavar="DIR", help="override train.output_dir")
    parser.add_argument("--steps", type=int, metavar="N", help="override train.steps")
    parser.add_argument("--resume", metavar="WHAT", help="override train.resume: latest, none or a checkpoint folder")
    args = parser.parse_args(argv)
    from . import load
    from .trainer import train

    try:
        config = load(args.config)  # every config error surfaces here, before a model is built
        if args.output_dir:
            config.train.output_dir = args.output_dir
        if args.steps is not None:
            config.train.steps = args.steps
        if args.resume:
            config.train.resume = args.resume
        train(config)
    except LayerDecompError as exc:
        print(f"layerdecomp.train: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
