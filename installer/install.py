"""``install``: the plugin into Krita, the server into a Python environment, the weights on disk.

Steps run in order and each is recorded in the manifest as it goes. The plugin step is all or nothing (rolled
back on any error). Later steps leave what they finished in place: running ``install`` again completes them
(downloads resume where they stopped), and ``uninstall`` removes all of it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from . import plugin as plugin_step
from . import serverconfig
from .changes import Changes
from .errors import InstallError
from .locations import KritaLayout, find_krita
from .manifest import Manifest


def locate_krita(args, env=None, platform=None, home=None) -> KritaLayout:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    return find_krita(
        platform, env, home,
        krita_dir=args.krita_dir, kritarc=args.kritarc,
        read_text=lambda p: Path(p).read_text(encoding="utf-8", errors="replace"),
        krita_program_found=shutil.which("krita") is not None,
    )


def install_plugin(args, manifest: Manifest, log=print) -> Changes:
    layout = locate_krita(args)
    plugin = plugin_step.packaged_plugin(Path(args.plugin_zip) if args.plugin_zip else None)
    changes = Changes(manifest, log)
    try:
        changes.make_dirs(manifest.path.parent)
        plugin_step.install_plugin(changes, layout, plugin, enable=not args.no_enable)
        manifest.info["plugin"] = {
            "name": plugin.name, "title": plugin.title, "layout": layout.name,
            "resource_dir": str(layout.resource_dir), "kritarc": None if args.no_enable else str(layout.kritarc),
        }
        changes.save()
    except BaseException:
        changes.rollback()
        raise
    where = f"{layout.resource_dir}/pykrita/{plugin.name}"
    log(f"plugin {plugin.title!r}: {'installed in ' + where if changes.changed else 'already up to date in ' + where}")
    if not args.no_enable:
        log(f"  enabled in {layout.kritarc} ([python] enable_{plugin.name}=true)")
    return changes


def run(args, log=print) -> int:
    manifest = Manifest.load(serverconfig.manifest_path())
    install_plugin(args, manifest, log)
    if args.plugin_only:
        log("next: (re)start Krita; the plugin is under Tools > Scripts > Decompose Selection. "
            "Run `python -m installer install` without --plugin-only to set up the server too.")
        return 0
    raise InstallError("only --plugin-only is available in this version of the installer")
