"""Run one or more backends over a set of test cases and print evaluation.md's metrics (means over the
cases) as a Markdown table, or as JSON with --json. Cases: triplet shards (--data, from `layerdecomp data
build`) or the built-in composites of offline photos (--cases N)."""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from .. import backends
from ..errors import InvalidInput
from ..region import DEFAULT_GROW
from .decompose import _option


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", metavar="DIR", help="triplet shard folders or .tar files")
    p.add_argument("--cases", type=int, metavar="N", help="use N built-in composites of offline photos instead")
    p.add_argument("--size", type=int, default=512, help="side of the built-in composites in pixels")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N triplets of --data")
    p.add_argument("--backend", action="append", choices=backends.available_names(), metavar="NAME",
                   help=f"backend to run (repeat to compare; one of {', '.join(backends.available_names())})")
    p.add_argument("--grow", type=int, default=DEFAULT_GROW, metavar="PX",
                   help="how far the hole reaches beyond the mask")
    p.add_argument("--option", "-O", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="a backend option (repeatable): KEY=VALUE goes to every backend, NAME.KEY=VALUE only to "
                        "backend NAME (e.g. -O diffusion.steps=28)")
    p.add_argument("--json", action="store_true", help="print JSON (summary and per-case rows) instead of a table")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _options_for(backend: str, options: list[tuple[str, object]]) -> dict[str, object]:
    chosen = {}
    for key, value in options:
        target, dot, name = key.partition(".")
        if not dot:
            chosen[key] = value
        elif target == backend:
            chosen[name] = value
    return chosen


def run(args: argparse.Namespace) -> int:
    from ..eval.run import cases_from_shards, run as run_cases, summarise, table

    if (args.data is None) == (args.cases is None):
        raise InvalidInput("give the cases: either --data DIR (triplet shards) or --cases N (built-in composites)")
    if args.data is not None:
        cases = cases_from_shards(args.data, limit=args.limit)
    else:
        from ..eval.cases import make_cases

        cases = make_cases(args.cases, args.size)
    names = args.backend or ["auto"]
    summaries, per_case = {}, {}
    for name in names:
        with tqdm(total=len(cases), desc=name, disable=args.quiet or args.json, unit="case", file=sys.stderr) as bar:
            rows = run_cases(cases, name, progress=bar.update, grow=args.grow, **_options_for(name, args.option))
        summaries[name] = summarise(rows)
        per_case[name] = [{"case": c.name, **r} for c, r in zip(cases, rows)]
    if args.json:
        print(json.dumps({"cases": len(cases), "summary": summaries, "per_case": per_case}, indent=2, default=float))
    else:
        print(f"{len(cases)} cases")
        print(table(summaries))
    return 0
