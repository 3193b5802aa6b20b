"""Split the selected object out of IMAGE into DIR/foreground.png (RGBA), DIR/background.png (the clean
plate), DIR/visibility.png (255 where the object is visible in IMAGE) and DIR/report.json."""

from __future__ import annotations

import argparse
import time

from tqdm import tqdm

from .. import backends
from ..api import decompose
from ..crop import DEFAULT_GROW
from ..errors import OutputError
from ..io import DEFAULT_MAX_PIXELS, check_output_dir, load_pair, write_outputs
from ..options import check_geometry
from ..validate import MAX_PIXELS
from .options import add_model_arguments, add_option_argument, backend_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="the picture (8-bit PNG, JPEG, TIFF, ...)")
    p.add_argument("--mask", required=True, metavar="MASK",
                   help="the selection: a greyscale image (white = object, grey = partly) or an image whose "
                        "alpha is the selection")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the results (created if missing)")
    p.add_argument("--backend", default="auto", choices=backends.available_names(),
                   help="which method to use; auto picks the best one that can run here")
    p.add_argument("--margin", type=_whole_number, default=None, metavar="PX",
                   help="context around the selection in pixels (default: a quarter of the selection's size)")
    p.add_argument("--grow", type=_whole_number, default=None, metavar="PX",
                   help=f"how far the removed region reaches beyond the selection (default: {DEFAULT_GROW})")
    add_option_argument(p, "a backend option (repeatable), e.g. -O steps=28")
    add_model_arguments(p)
    p.add_argument("--max-pixels", type=_max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse pictures of more pixels than this, read from each file's header before "
                        "anything is decoded (a picture bomb costs nothing)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _whole_number(text: str) -> int:
    # Only the type here: whether the number is a sane margin or grow is the core's check_geometry's.
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of pixels, not {text!r}") from None


def _max_pixels(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value <= MAX_PIXELS:
        raise argparse.ArgumentTypeError(f"a number of pixels from 1 to {MAX_PIXELS}, not {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    # Everything that can be checked is checked before the work: the geometry, where the results go, then
    # each picture's size from its header (before anything is decoded), then the pixels.
    check_geometry(args.margin, args.grow)
    check_output_dir(args.out)
    image, mask = load_pair(args.image, args.mask, max_pixels=args.max_pixels)
    with tqdm(total=1.0, disable=args.quiet, unit="", bar_format="{desc:<10} {bar} {elapsed}") as bar:
        def progress(stage: str, fraction: float) -> None:
            bar.set_description_str(stage)
            bar.n = min(1.0, fraction)
            bar.refresh()

        t0 = time.perf_counter()
        result = decompose(image, mask, backend=args.backend, margin=args.margin, grow=args.grow,
                           progress=progress, **backend_options(args))
        total = time.perf_counter() - t0
    result.metadata["timings"]["total"] = total
    report = {
        "image": str(args.image),
        "mask": str(args.mask),
        "size": [int(image.shape[1]), int(image.shape[0])],
        **result.metadata,
    }
    try:
        write_outputs(args.out, {
            "foreground": result.foreground,
            "background": result.background,
            "visibility": result.visibility,
        }, report)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile, ...
        raise OutputError(f"could not write the results into {str(args.out)!r}: {exc.strerror or exc}; "
                          "nothing was left there half-written") from None
    if not args.quiet:
        print(f"wrote {args.out}/foreground.png, background.png, visibility.png, report.json "
              f"({result.metadata['backend']}, {total:.2f} s)")
    return 0
