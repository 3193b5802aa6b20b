"""Split the selected object out of IMAGE into DIR/foreground.png (RGBA), DIR/background.png (the clean
plate), DIR/visibility.png (255 where the object is visible in IMAGE) and DIR/report.json."""

from __future__ import annotations

import argparse
import time

from tqdm import tqdm

from .. import backends
from ..api import decompose
from ..io import load_image, load_mask, write_outputs
from ..region import DEFAULT_GROW


def _option(text: str) -> tuple[str, object]:
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="the picture (8-bit PNG, JPEG, TIFF, ...)")
    p.add_argument("--mask", required=True, metavar="MASK",
                   help="the selection: a greyscale image (white = object, grey = partly) or an image whose "
                        "alpha is the selection")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the results (created if missing)")
    p.add_argument("--backend", default="auto", choices=backends.available_names(),
                   help="which method to use; auto picks the best one that can run here")
    p.add_argument("--margin", type=int, default=None, metavar="PX",
                   help="context around the selection in pixels (default: a quarter of the selection's size)")
    p.add_argument("--grow", type=int, default=DEFAULT_GROW, metavar="PX",
                   help="how far the removed region reaches beyond the selection")
    p.add_argument("--option", "-O", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="a backend option (repeatable), e.g. -O steps=28")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="diffusion backend: the FLUX Fill model (a folder in diffusers layout or a downloaded hub id)")
    p.add_argument("--adapter", default=None, metavar="FILE",
                   help="diffusion backend: a layer-decomposition adapter (.safetensors); without it, zero-shot")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _backend_options(args: argparse.Namespace) -> dict:
    """-O options, plus --model / --adapter when given."""
    options = dict(args.option)
    if args.model:
        options["model"] = args.model
    if args.adapter:
        options["adapter"] = args.adapter
    return options


def run(args: argparse.Namespace) -> int:
    image = load_image(args.image)
    mask = load_mask(args.mask)
    with tqdm(total=1.0, disable=args.quiet, unit="", bar_format="{desc:<10} {bar} {elapsed}") as bar:
        def progress(stage: str, fraction: float) -> None:
            bar.set_description_str(stage)
            bar.n = min(1.0, fraction)
            bar.refresh()

        t0 = time.perf_counter()
        result = decompose(image, mask, backend=args.backend, margin=args.margin, grow=args.grow,
                           progress=progress, **_backend_options(args))
        total = time.perf_counter() - t0
    result.metadata["timings"]["total"] = total
    report = {
        "image": str(args.image),
        "mask": str(args.mask),
        "size": [int(image.shape[1]), int(image.shape[0])],
        **result.metadata,
    }
    write_outputs(args.out, {
        "foreground": result.foreground,
        "background": result.background,
        "visibility": result.visibility,
    }, report)
    if not args.quiet:
        print(f"wrote {args.out}/foreground.png, background.png, visibility.png, report.json "
              f"({result.metadata['backend']}, {total:.2f} s)")
    return 0
