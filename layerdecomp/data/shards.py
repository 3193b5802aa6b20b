"""Triplet shards: plain tar files in the webdataset layout (``<key>.<field>.png`` members, grouped by key).

Writing streams triplets into ``triplets-000000.tar``, ``triplets-000001.tar``, ... of at most
``per_shard`` triplets each, plus ``index.json`` (counts and how the set was made). Any tar tool or the
``webdataset`` package reads the shards as they are.

Reading is lazy and random-access: opening a set reads only the tar headers (where each member's bytes
lie); a triplet's PNGs are read from disk when it is asked for, so 100k triplets never sit in memory and
a seeded sampler can visit them in any order (which makes an interrupted training run resumable exactly).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import InvalidInput
from .triplet import Triplet

SHARD_PATTERN = "triplets-{:06d}.tar"
INDEX_NAME = "index.json"


class ShardWriter:
    """``with ShardWriter(dir) as w: w.write(triplet)``; keys are ``first_key`` + the running count, zero-padded."""

    def __init__(self, out_dir: str | os.PathLike, per_shard: int = 1000, info: dict[str, Any] | None = None,
                 first_key: int = 0):
        if per_shard < 1:
            raise ValueError("per_shard must be >= 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if any(self.out_dir.glob("triplets-*.tar")):
            raise InvalidInput(f"{str(self.out_dir)!r} already holds triplet shards; choose an empty folder")
        self.per_shard = per_shard
        self.info = dict(info or {})
        self.count = 0
        self.first_key = first_key  # keys stay unique when a set is built in parts
        self.shards: list[str] = []
        self._tar: tarfile.TarFile | None = None

    def write(self, triplet: Triplet) -> str:
        if self.count % self.per_shard == 0:
            self._close_shard()
            name = SHARD_PATTERN.format(len(self.shards))
            self.shards.append(name)
            self._tar = tarfile.open(self.out_dir / name, "w")
        key = f"{self.first_key + self.count:08d}"
        for ext, data in triplet.encode().items():
            member = tarfile.TarInfo(f"{key}.{ext}")
            member.size = len(data)
            member.mtime = 0  # same content -> same bytes, whatever the day
            self._tar.addfile(member, io.BytesIO(data))
        self.count += 1
        return key

    def _close_shard(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    def close(self) -> None:
        self._close_shard()
        index = {**self.info, "count": self.count, "shards": self.shards}
        (self.out_dir / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True))

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._close_shard()  # leave no index: a half-written set must not look complete


class TripletShards:
    """A random-access, lazily read sequence of the triplets in one or more shard folders or tar files."""

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike]):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.tar_files: list[Path] = []
        for path in map(Path, paths):
            if path.is_dir():
                found = sorted(path.glob("*.tar"))
                if not found:
                    raise InvalidInput(f"{str(path)!r} holds no .tar shards (make some with `layerdecomp data build`)")
                self.tar_files.extend(found)
            elif path.is_file():
                self.tar_files.append(path)
            else:
                raise InvalidInput(f"triplet data {str(path)!r} does not exist")
        # entry: (tar index, key, {ext: (offset, size)})
        self._entries: list[tuple[int, str, dict[str, tuple[int, int]]]] = []
        for i, tar_path in enumerate(self.tar_files):
            self._entries.extend((i, key, members) for key, members in _scan(tar_path))
        if not self._entries:
            raise InvalidInput(f"no triplets in {', '.join(map(str, self.tar_files))}: the data set is empty")

    def __len__(self) -> int:
        return len(self._entries)

    def where(self, index: int) -> str:
        tar_index, key, _ = self._entries[index]
        return f"{self.tar_files[tar_index]}:{key}"

    def __getitem__(self, index: int) -> Triplet:
        tar_index, key, members = self._entries[index]
        data = {}
        with open(self.tar_files[tar_index], "rb") as f:
            for ext, (offset, size) in members.items():
                f.seek(offset)
                data[ext] = f.read(size)
        return Triplet.decode(data, self.where(index))

    def __iter__(self) -> Iterator[Triplet]:
        for i in range(len(self)):
            yield self[i]


def _scan(tar_path: Path) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """[(key, {ext: (byte offset, size)})] in the tar's order, from its headers only."""
    groups: dict[str, dict[str, tuple[int, int]]] = {}
    try:
        with tarfile.open(tar_path, "r:") as tar:  # "r:" = uncompressed, so offsets are file offsets
            for member in tar:
                if not member.isfile():
                    continue
                name = member.name.rsplit("/", 1)[-1]
                if "." not in name:
                    raise InvalidInput(f"{tar_path}: member {member.name!r} is not named <key>.<field>")
                key, ext = name.split(".", 1)
                groups.setdefault(key, {})[ext] = (member.offset_data, member.size)
    except tarfile.TarError as exc:
        raise InvalidInput(f"{tar_path} is not a readable (uncompressed) tar shard ({exc})") from None
    return list(groups.items())
