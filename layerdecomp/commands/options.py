"""The backend options every command takes the same way: -O KEY=VALUE, and --model / --adapter for the
diffusion backend (short for -O model=... / -O adapter=...)."""

from __future__ import annotations

import argparse


def parse_option(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as int, float, true/false, or else text."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    for convert in (int, float):
        try:
            return key, convert(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    return key, value


def add_option_argument(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--option", "-O", action="append", type=parse_option, default=[], metavar="KEY=VALUE",
                   help=help_text)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="DIR",
                   help="diffusion backend: the FLUX Fill model (a folder in diffusers layout or a downloaded hub id)")
    p.add_argument("--adapter", default=None, metavar="FILE",
                   help="diffusion backend: a layer-decomposition adapter (.safetensors); without it, zero-shot")


def model_options(args: argparse.Namespace) -> dict[str, object]:
    """``model`` / ``adapter`` from --model / --adapter, when given."""
    return {key: value for key, value in (("model", args.model), ("adapter", args.adapter)) if value}


def backend_options(args: argparse.Namespace) -> dict[str, object]:
    """The -O options, with --model / --adapter over them."""
    return {**dict(args.option), **model_options(args)}
