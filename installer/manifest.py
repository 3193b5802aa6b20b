"""The record of everything ``install`` added or changed, so ``uninstall`` can take exactly that away.

A JSON file in the server's config folder. Entries, in the order they were made:
- {"kind": "dir", "path"}                      a folder the installer created (removed if left empty)
- {"kind": "file", "path", "sha256", "backup"} a file it wrote; "backup": where the file it replaced was kept
- {"kind": "kritarc", "path", "section", "key", "change"}   the enable key (see kritarc.py for "change")
- {"kind": "venv", "path"}                     the server's Python environment
- {"kind": "download", "path"}                 a weights file (and its .part while incomplete)
An entry is identified by (kind, path, key); installing again keeps the first record, which is the one that
knows what the machine looked like before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT_VERSION = 1


def identity(entry: dict) -> tuple:
    return entry["kind"], entry["path"], entry.get("key")


class Manifest:
    def __init__(self, path: Path, entries: list[dict] | None = None, info: dict | None = None):
        self.path = Path(path)
        self.entries: list[dict] = list(entries or [])
        self.info: dict = dict(info or {})  # what was installed: plugin name, layout, env python, ... (for status)

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            from .errors import InstallError

            raise InstallError(f"cannot read the install record {path} ({exc}): "
                               "delete it only if nothing was installed") from exc
        return cls(path, data.get("entries", []), data.get("info", {}))

    def exists(self) -> bool:
        return self.path.exists()

    def find(self, kind: str, path: str | os.PathLike, key: str | None = None) -> dict | None:
        wanted = (kind, str(path), key)
        return next((entry for entry in self.entries if identity(entry) == wanted), None)

    def add(self, entry: dict) -> dict:
        """Record ``entry`` unless it is already recorded; returns the recorded one."""
        known = self.find(entry["kind"], entry["path"], entry.get("key"))
        if known is not None:
            return known
        self.entries.append(entry)
        return entry

    def entries_except_dirs(self) -> list[dict]:
        return [e for e in self.entries if e["kind"] != "dir"]

    def remove(self, entry: dict) -> None:
        self.entries = [e for e in self.entries if identity(e) != identity(entry)]

    def serialise(self) -> bytes:
        body = {"format": FORMAT_VERSION, "info": self.info, "entries": self.entries}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    def save(self) -> None:
        """Write the record (only when it changed, so a second identical install touches nothing)."""
        data = self.serialise()
        if self.path.exists() and self.path.read_bytes() == data:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
