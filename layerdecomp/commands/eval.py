"""Run one or more backends over a set of test cases and print evaluation.md's metrics (means over the
cases) as a Markdown table, or as JSON with --json. Cases: triplet shards (--data, from `layerdecomp data
build`), the built-in composites of offline photos (--cases N), or real photos with ground-truth alpha
(--photos DIR, e.g. the alphamatting.com training set: selections made from the truth in five variants,
alpha scored on the edge band against the selection itself and closed-form matting; docs/evaluation.md)."""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from .. import backends
from ..errors import InvalidInput
from ..region import DEFAULT_GROW
from .options import add_model_arguments, add_option_argument, model_options

VARIANTS = ("exact", "loose", "tight", "lasso", "loose_lasso")  # eval.photos.VARIANTS (not imported: it loads OpenCV)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", metavar="DIR", help="triplet shard folders or .tar files")
    p.add_argument("--cases", type=int, metavar="N", help="use N built-in composites of offline photos instead")
    p.add_argument("--photos", metavar="DIR",
                   help="real photos with ground-truth alpha instead (input/ + gt/, or original/ + mask/); "
                        "scores the alpha on the edge band per selection variant")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="with --photos: the selection variants to make (default: all five)")
    p.add_argument("--no-closed-form", action="store_true",
                   help="with --photos: skip the closed-form baseline (pymatting; its first import compiles ~30 s)")
    p.add_argument("--plates", action="store_true",
                   help="with --photos: also composite each photo's object over another photo and score the "
                        "plate against that known background, beside OpenCV Telea (needs pymatting)")
    p.add_argument("--size", type=int, default=512, help="side of the built-in composites in pixels")
    p.add_argument("--limit", type=int, metavar="N",
                   help="evaluate only the first N triplets of --data (photos of --photos)")
    p.add_argument("--backend", action="append", choices=backends.available_names(), metavar="NAME",
                   help=f"backend to run (repeat to compare; one of {', '.join(backends.available_names())})")
    p.add_argument("--grow", type=int, default=DEFAULT_GROW, metavar="PX",
                   help="how far the hole reaches beyond the mask")
    add_option_argument(p, "a backend option (repeatable): KEY=VALUE goes to every backend, NAME.KEY=VALUE only "
                           "to backend NAME (e.g. -O diffusion.steps=28)")
    add_model_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON (summary and per-case rows) instead of a table")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _options_for(backend: str, options: list[tuple[str, object]], models: dict[str, object]) -> dict[str, object]:
    """The -O options for ``backend``; --model / --adapter go to the backends that load a model (and to auto,
    which picks one with them)."""
    takes = backends.backend_class(backend).load_options if backend != "auto" else set(models)
    chosen = {key: value for key, value in models.items() if key in takes}
    for key, value in options:
        target, dot, name = key.partition(".")
        if not dot:
            chosen[key] = value
        elif target == backend:
            chosen[name] = value
    return chosen


def run(args: argparse.Namespace) -> int:
    from ..eval.run import cases_from_shards, run as run_cases, summarise, table

    if sum(x is not None for x in (args.data, args.cases, args.photos)) != 1:
        raise InvalidInput("give the cases: one of --data DIR (triplet shards), --cases N (built-in composites) "
                           "or --photos DIR (real photos with ground-truth alpha)")
    if args.photos is not None:
        return _run_photos(args)
    if args.data is not None:
        cases = cases_from_shards(args.data, limit=args.limit)
    else:
        from ..eval.cases import make_cases

        cases = make_cases(args.cases, args.size)
    names = args.backend or ["auto"]
    summaries, per_case = {}, {}
    for name in names:
        with tqdm(total=len(cases), desc=name, disable=args.quiet or args.json, unit="case", file=sys.stderr) as bar:
            options = _options_for(name, args.option, model_options(args))
            rows = run_cases(cases, name, progress=bar.update, grow=args.grow, **options)
        summaries[name] = summarise(rows)
        per_case[name] = [{"case": c.name, **r} for c, r in zip(cases, rows)]
    if args.json:
        print(json.dumps({"cases": len(cases), "summary": summaries, "per_case": per_case}, indent=2, default=float))
    else:
        print(f"{len(cases)} cases")
        print(table(summaries))
    return 0


def _run_photos(args: argparse.Namespace) -> int:
    from ..eval import photos

    closed_form = not args.no_closed_form
    if closed_form and not photos.closed_form_available():
        raise InvalidInput("the closed-form baseline needs pymatting (pip install 'layerdecomp[eval]'), "
                           "or pass --no-closed-form")
    pictures = photos.load_photos(args.photos, limit=args.limit)
    names = args.backend or ["classical"]
    out = {}
    for name in names:
        total = len(pictures) * len(args.variants)
        options = _options_for(name, args.option, model_options(args))
        with tqdm(total=total, desc=name, disable=args.quiet or args.json, unit="selection", file=sys.stderr) as bar:
            rows = photos.evaluate_photos(pictures, args.variants, backend=name, closed_form=closed_form,
                                          progress=bar.update, grow=args.grow, **options)
        out[name] = (photos.summarise(rows), rows)
    plate_out = _run_plates(args, pictures, names) if args.plates else {}
    if args.json:
        print(json.dumps({"photos": len(pictures), **{n: {"summary": s, "rows": r} for n, (s, r) in out.items()},
                          **({"plates": plate_out} if plate_out else {})}, indent=2, default=float))
        return 0
    for name, (summary, _) in out.items():
        print(f"{name}: {len(pictures)} photos, band alpha scores (mean per photo; SAD = sum|a - a_gt| / 1000)")
        print(photos.table(summary))
    for name, result in plate_out.items():
        from ..eval import plates

        print(f"{name}: {len(pictures)} composites with a known plate (errors: mean |plate - truth|, 0-255)")
        print(plates.table(result["summary"]))
    return 0


def _run_plates(args: argparse.Namespace, pictures: list, names: list[str]) -> dict:
    from ..eval import photos, plates

    if not photos.closed_form_available():
        raise InvalidInput("--plates estimates the objects' colours with pymatting (pip install 'layerdecomp[eval]')")
    cases = [plates.make_case(p) for p in pictures]
    out = {}
    for name in names:
        options = _options_for(name, args.option, model_options(args))
        total = len(cases) * len(args.variants)
        with tqdm(total=total, desc=f"{name} plates", disable=args.quiet or args.json, unit="selection",
                  file=sys.stderr) as bar:
            rows = plates.evaluate_plates(cases, args.variants, backend=name, progress=bar.update, grow=args.grow,
                                          **options)
        out[name] = {"summary": plates.summarise(rows), "rows": rows}
    return out
