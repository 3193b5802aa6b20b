"""``uninstall``: take away exactly what ``install`` recorded in its manifest, nothing else."""

from __future__ import annotations

from . import serverconfig
from .changes import undo_all
from .manifest import Manifest


def run(args, log=print) -> int:
    manifest = Manifest.load(serverconfig.manifest_path())
    if not manifest.exists():
        log(f"nothing to uninstall: no install record at {manifest.path}")
        return 0
    count = len(manifest.entries)
    failed = undo_all(manifest, log)
    if failed:
        log(f"uninstall: {len(failed)} of {count} changes could not be undone (listed above; still recorded in "
            f"{manifest.path}): fix the permissions and run uninstall again")
        return 1
    log(f"uninstalled: {count} recorded changes undone. Restart Krita if it is running.")
    return 0
