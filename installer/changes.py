"""Make file-system changes while recording them in the manifest; undo them (uninstall, or a failed run).

Every write is atomic (a temporary file in the same folder, then a rename), so an interrupted install never
leaves a half-written file in place. A file that was there before and gets replaced is kept in a backup
folder and put back on uninstall, so uninstall returns the exact tree that existed before install.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
from pathlib import Path

from . import kritarc
from .errors import InstallError, explain_os_error
from .manifest import Manifest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    tmp = path.with_name(f".{path.name}.layerdecomp-tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Changes:
    """Applies changes for one run of ``install``; ``rollback`` undoes the ones this run made."""

    def __init__(self, manifest: Manifest, log=print):
        self.manifest = manifest
        self.made: list[dict] = []  # entries first recorded by this run
        # Our own files this run rewrote or removed: (path, old bytes, the entry if it was removed).
        self.replaced: list[tuple[Path, bytes, dict | None]] = []
        self.changed = False  # whether this run changed anything on disk
        self._entries_before = copy.deepcopy(manifest.entries)  # the record as it was, for a rollback
        self._info_before = copy.deepcopy(manifest.info)
        self.log = log

    def _record(self, entry: dict) -> dict:
        # Written ahead of the change it describes, so even a killed install leaves a record uninstall can use.
        recorded = self.manifest.add(entry)
        if recorded is entry:
            self.made.append(entry)
            self.save()
        return recorded

    def save(self) -> None:
        if self.manifest.path.parent.is_dir():
            try:
                self.manifest.save()
            except OSError as exc:
                raise explain_os_error(exc, self.manifest.path, "writing the install record") from exc

    def make_dirs(self, path: Path) -> None:
        path = Path(path)
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except OSError as exc:
                raise explain_os_error(exc, folder, "creating the folder") from exc
            self.changed = True
            self._record({"kind": "dir", "path": str(folder)})

    def write_file(self, path: Path, data: bytes, mode: int | None = None, role: str | None = None) -> None:
        """Put ``data`` at ``path`` (unless it is already there), keeping a file that was there before us."""
        path = Path(path)
        self.make_dirs(path.parent)
        entry = self.manifest.find("file", path)
        present = path.is_file()
        if present and path.read_bytes() == data and entry is not None:
            return
        try:
            if entry is None:
                backup = None
                if present:  # not ours: keep it to put back on uninstall
                    backup = self._backup_path(path)
                    self.make_dirs(backup.parent)
                    shutil.copy2(path, backup)
                entry = self._record({"kind": "file", "path": str(path), "sha256": sha256_bytes(data),
                                      "backup": str(backup) if backup else None, "role": role})
            entry["sha256"] = sha256_bytes(data)
            if not (present and path.read_bytes() == data):
                if present and entry not in self.made:  # an upgrade: keep the old bytes for a rollback
                    self.replaced.append((path, path.read_bytes(), None))
                atomic_write(path, data, mode)
                self.changed = True
        except OSError as exc:
            raise explain_os_error(exc, path, "writing") from exc

    def adopt_file(self, path: Path, kind: str = "file") -> None:
        """Record a file something else just created for us (e.g. the token), so uninstall removes it."""
        entry = {"kind": kind, "path": str(path)}
        if kind == "file":
            entry.update(sha256=sha256_bytes(Path(path).read_bytes()), backup=None)
        self._record(entry)

    def record(self, entry: dict) -> dict:
        return self._record(entry)

    def _backup_path(self, path: Path) -> Path:
        tag = sha256_bytes(str(path).encode())[:16]
        return self.manifest.path.parent / "backup" / tag / path.name

    def remove_file(self, path: Path) -> None:
        """Remove a file an earlier install wrote that the new plugin no longer has."""
        entry = self.manifest.find("file", path)
        if entry is not None:
            if path.is_file():
                self.replaced.append((path, path.read_bytes(), entry))
            undo_entry(entry, self.log)
            self.manifest.remove(entry)
            self.changed = True

    def enable_in_kritarc(self, path: Path, section: str, key: str) -> None:
        path = Path(os.path.realpath(path))  # a kritarc that is a link (dotfile managers) stays a link
        self.make_dirs(path.parent)
        try:
            data = path.read_bytes() if path.exists() else None
            new, change = kritarc.enable(data, section, key)
            if change is None:
                return
            entry = self.manifest.find("kritarc", path, key)
            if entry is None:
                entry = self._record({"kind": "kritarc", "path": str(path), "section": section, "key": key,
                                      "change": change})
            mode = path.stat().st_mode & 0o7777 if data is not None else None
            atomic_write(path, new, mode)
            self.changed = True
        except OSError as exc:
            raise explain_os_error(exc, path, "enabling the plugin in") from exc

    def rollback(self) -> None:
        """Undo what this run did and put the record back as it was: the state from before this run."""
        for path, old, removed in reversed(self.replaced):
            try:
                if removed is not None and removed.get("backup") and path.is_file():
                    os.replace(path, removed["backup"])  # the user's file we had put back returns to the backup
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, old)
            except OSError as exc:
                self.log(f"  could not put back {path}: {exc}")
        made = list(reversed(self.made))
        failed = []
        for entry in [e for e in made if e["kind"] != "dir"] + [e for e in made if e["kind"] == "dir"]:
            if entry["kind"] == "dir" and not self._entries_before and not failed:
                self.manifest.path.unlink(missing_ok=True)  # nothing left to record: it goes before its folder
            try:
                undo_entry(entry, self.log)
            except OSError as exc:  # stays recorded so uninstall can try again
                self.log(f"  could not undo {entry['path']}: {exc}")
                failed.append(entry)
        self.manifest.entries = copy.deepcopy(self._entries_before) + failed
        self.manifest.info = copy.deepcopy(self._info_before)
        self.made.clear()
        self.replaced.clear()
        if self.manifest.entries:
            self.save()
        else:
            self.manifest.path.unlink(missing_ok=True)


def undo_entry(entry: dict, log=print) -> None:
    """Take one recorded change back. Raises OSError when the file system refuses."""
    path = Path(entry["path"])
    kind = entry["kind"]
    if kind == "file":
        if path.is_file() or path.is_symlink():
            path.unlink()
        if entry.get("backup"):
            backup = Path(entry["backup"])
            if backup.exists():
                os.replace(backup, path)
    elif kind == "download":
        for candidate in (path, path.with_name(path.name + ".part")):
            candidate.unlink(missing_ok=True)
    elif kind == "dir":
        if path.is_dir():
            # Python (Krita's, the server's) leaves bytecode next to the .py files we put there.
            shutil.rmtree(path / "__pycache__", ignore_errors=True)
            if any(path.iterdir()):
                log(f"  kept {path}: it holds files the installer did not put there")
            else:
                path.rmdir()
    elif kind == "venv":
        if path.is_dir():
            shutil.rmtree(path)
    elif kind == "kritarc":
        if path.exists():
            new = kritarc.undo(path.read_bytes(), entry["section"], entry["key"], entry["change"])
            if new is None:
                path.unlink()
            elif new != path.read_bytes():
                atomic_write(path, new, path.stat().st_mode & 0o7777)
    else:
        raise InstallError(f"the install record has an entry of unknown kind {kind!r}; "
                           "was it made by a newer installer?")


def undo_all(manifest: Manifest, log=print) -> list[dict]:
    """Undo every entry and delete the manifest: files and settings first (newest first), then the folders
    (deepest first), which go only if they are left empty.

    Returns the entries that could not be undone; they stay in the manifest so a later uninstall retries them.
    """
    failed = []
    files = [e for e in manifest.entries if e["kind"] != "dir"]
    dirs = sorted((e for e in manifest.entries if e["kind"] == "dir"), key=lambda e: len(Path(e["path"]).parts),
                  reverse=True)
    for entry in reversed(files):
        try:
            undo_entry(entry, log)
        except OSError as exc:
            log(f"  could not remove {entry['path']}: {exc}")
            failed.append(entry)
    manifest.path.unlink(missing_ok=True)
    for entry in dirs:
        try:
            undo_entry(entry, log)
        except OSError as exc:
            log(f"  could not remove {entry['path']}: {exc}")
            failed.append(entry)
    if failed:
        manifest.entries = failed
        manifest.path.parent.mkdir(parents=True, exist_ok=True)
        manifest.save()
    return failed
