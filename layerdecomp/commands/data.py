"""Make training and evaluation data: `layerdecomp data build OUT --count N --size PX [sources]` composes
triplets (composite, imperfect mask, complete object RGBA, clean background) into tar shards;
`layerdecomp data show DIR` prints what a shard folder holds. With no sources the triplets are procedural."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from ..data import BackgroundFolder, MuLAnFolder, RGBAFolder, Sources, TripletShards, build


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    b = sub.add_parser("build", help="compose triplets into tar shards",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("out", metavar="OUT", help="folder for the shards (must not hold shards already)")
    b.add_argument("--count", type=int, required=True, help="how many triplets")
    b.add_argument("--size", type=int, default=1024, help="side of the square triplets in pixels (multiple of 16)")
    b.add_argument("--seed", type=int, default=0, help="triplet i depends only on the seed, i and the file lists")
    b.add_argument("--start", type=int, default=0, metavar="I",
                   help="first triplet index: build a large set in parts (same seed, other folders), in parallel")
    b.add_argument("--mulan", metavar="DIR", help="MuLAn decompositions (one folder of RGBA layers per image)")
    b.add_argument("--objects", metavar="DIR", help="LayerDiffuse-style folder of RGBA objects (PNG/WebP with alpha)")
    b.add_argument("--backgrounds", metavar="DIR", help="OpenImages-style folder of background photos")
    b.add_argument("--mulan-fraction", type=float, default=0.5,
                   help="share of triplets from MuLAn scenes when --mulan is given")
    b.add_argument("--per-shard", type=int, default=1000, help="triplets per tar shard")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    b.set_defaults(_data_run=_build)
    s = sub.add_parser("show", help="count the triplets in a shard folder and print how it was made")
    s.add_argument("data", metavar="DIR", nargs="+", help="shard folders or .tar files")
    s.set_defaults(_data_run=_show)


def _build(args: argparse.Namespace) -> int:
    sources = Sources(
        mulan=MuLAnFolder(args.mulan) if args.mulan else None,
        objects=RGBAFolder(args.objects) if args.objects else None,
        backgrounds=BackgroundFolder(args.backgrounds) if args.backgrounds else None,
        mulan_fraction=args.mulan_fraction,
    )
    with tqdm(total=args.count, disable=args.quiet, unit="triplet") as bar:
        build(args.out, args.count, args.size, seed=args.seed, sources=sources, per_shard=args.per_shard,
              progress=bar.update, start=args.start)
    if not args.quiet:
        print(f"wrote {args.count} triplets of {args.size}² to {args.out}")
    return 0


def _show(args: argparse.Namespace) -> int:
    shards = TripletShards(args.data)
    print(f"{len(shards)} triplets in {len(shards.tar_files)} shards")
    for path in args.data:
        index = Path(path) / "index.json"
        if index.is_file():
            print(json.dumps(json.loads(index.read_text()), indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    return args._data_run(args)
