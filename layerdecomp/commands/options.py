"""The backend options every command takes the same way: -O KEY=VALUE, and --model / --adapter for the
diffusion backend (short for -O model=... / -O adapter=...). ``--help`` lists each backend's options,
from their declarations (``Backend.option_specs``)."""

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
                   help=help_text + " (each backend's options are listed below)")
    p.formatter_class = BackendOptionsHelp


def backend_options_help() -> str:
    """Every backend's options, one line each, per job first; those set when it loads are marked."""
    from .. import backends
    from ..options import JOB

    lines = ["backend options (-O NAME=VALUE):"]
    for name in backends.registered_names():
        try:
            specs = backends.backend_class(name).option_specs
        except ImportError as exc:  # a backend whose module cannot load here still gets a line
            lines.append(f"  {name}: (cannot be imported here: {exc})")
            continue
        lines.append(f"  {name}:" + ("" if specs else " none"))
        for spec in sorted(specs, key=lambda s: s.scope != JOB):
            lines.append(f"    {spec.describe()}" + ("" if spec.scope == JOB else " [at load]"))
    return "\n".join(lines) + "\n"


class BackendOptionsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """The usual help with each backend's options after it: read from the backends only when help is
    asked for, so building the parser imports none of them."""

    def format_help(self) -> str:
        return super().format_help() + "\n" + backend_options_help()


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
