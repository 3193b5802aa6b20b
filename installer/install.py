"""``install``: the plugin into Krita, the server into a Python environment, the weights on disk.

Steps run in order and each is recorded in the manifest as it goes. The plugin step is all or nothing (rolled
back on any error). Later steps keep what they finished: running ``install`` again completes them (downloads
resume where they stopped, pip skips what it has), and ``uninstall`` removes all of it.
"""

from __future__ import annotations

import json
import os
import platform as platform_module
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from . import environment, gpu as gpus, plugin as plugin_step, serverconfig, weights
from .changes import Changes
from .errors import InstallError, explain_os_error
from .locations import KritaLayout, data_dir, find_krita, krita_layouts, krita_programs
from .manifest import Manifest


def locate_krita(args, env=None, platform=None, home=None) -> KritaLayout:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    return find_krita(
        platform, env, home,
        krita_dir=args.krita_dir, kritarc=args.kritarc,
        read_text=lambda p: Path(p).read_text(encoding="utf-8", errors="replace"),
        program_layout=_installed_program(platform, env, home),
    )


def _installed_program(platform: str, env, home) -> str | None:
    """The layout of a Krita program installed here (for a Krita never started), or None."""
    if shutil.which("krita") is not None:
        return krita_layouts(platform, env, home)[0].name
    found = [name for name, path in krita_programs(platform, env, home) if Path(str(path)).exists()]
    return found[0] if found else None


def install_plugin(args, manifest: Manifest, log=print, plugin: plugin_step.Plugin | None = None) -> Changes:
    layout = locate_krita(args)
    plugin = plugin or plugin_step.packaged_plugin(Path(args.plugin_zip) if args.plugin_zip else None)
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
        log(f"  enabled in {layout.kritarc} ([python] {plugin.enable_key}=true)")
    return changes


def _server_env(args, changes: Changes, gpu: gpus.Gpu, log) -> environment.ServerEnv:
    if args.use_current_env:
        env = environment.use_current()
        log(f"server environment: the current Python ({env.python})")
        return env
    if args.offline:
        raise InstallError("--offline cannot create a new environment (pip downloads torch): add --use-current-env "
                           "to use a Python that already has the project installed")
    env_dir = Path(args.env_dir) if args.env_dir else Path(str(data_dir(sys.platform, os.environ, Path.home()))) / "env"
    return environment.create_venv(changes, env_dir, gpu, sys.platform, log)


# The backend each weight set serves (the plugin starts the server with it).
SET_BACKEND = {"none": "classical", "diffusion": "diffusion", "compact": "learned"}


def _write_settings(changes: Changes, server_env: environment.ServerEnv, weights_set: str, weights_dir: Path | None,
                    gpu, port: int, log, say: bool = True) -> None:
    """The server's settings file and its token (through layerdecomp.config, the server's own helpers)."""
    config = serverconfig.config_module()
    changes.make_dirs(config.config_dir())
    if os.name == "posix":
        os.chmod(config.config_dir(), 0o700)  # it holds the token: user-only (layerdecomp.config's rule)
    # The plugin starts the server with this command, adding --host, --port and --backend itself. The learned
    # backend finds its weights through "weights_dir" below (layerdecomp.learned reads this file).
    argv = [server_env.python, "-m", "layerdecomp", "serve"]
    if weights_dir and weights_set == "diffusion":
        argv += ["-O", f"model={weights.model_folder(weights_dir)}"]
    settings = {
        "python": server_env.python,
        "server_argv": argv,
        "server_command": shlex.join(argv) if os.name != "nt" else subprocess.list2cmdline(argv),
        "host": "127.0.0.1",
        "port": port,
        "backend": SET_BACKEND[weights_set] if weights_dir else "classical",
        "weights_set": weights_set if weights_dir else "none",
        "weights_dir": str(weights_dir) if weights_dir else None,
        "device": gpu.kind,
    }
    changes.write_file(serverconfig.settings_path(), serverconfig.settings_bytes(settings), role="config")
    token_path = Path(config.token_path())
    existed = token_path.exists()
    try:
        config.read_or_create_token(token_path)
    except OSError as exc:
        raise explain_os_error(exc, token_path, "writing the server's token") from exc
    except config.TokenFileError as exc:  # a link, someone else's file, a too short token
        raise InstallError(str(exc)) from None
    if not existed:
        changes.adopt_file(token_path)
        changes.changed = True
    if say:
        log(f"server settings: {serverconfig.settings_path()} (token in {token_path})")


def _weights(args, changes: Changes, gpu: gpus.Gpu, log) -> tuple[str, Path | None]:
    """(the weight set chosen, the folder holding it or None)."""
    choice = args.weights_set
    if choice == "auto":
        choice = "diffusion" if gpu.kind != "cpu" else "none"
        if choice == "none":
            log("weights: none (no GPU found: the classical backend needs none; --weights-set compact fetches small "
                "models that run on a CPU, --weights-set diffusion the diffusion model)")
    files = weights.WEIGHT_SETS[choice]
    if not files:
        return choice, None
    log(f"weights: the {choice} set ({SET_BACKEND[choice]} backend):")
    for line in weights.describe(choice):  # sizes and licences first, before anything is fetched
        log(line)
    if args.offline:
        if not args.weights:
            raise InstallError("--offline needs --weights DIR, the folder that already holds the weights")
        source = Path(args.weights).expanduser().resolve()
        weights.check_offline(files, source, log)
        log(f"weights: using the files in {source} (checked; left where they are)")
        return choice, source
    default = Path(str(data_dir(sys.platform, os.environ, Path.home()))) / "weights"
    target = Path(args.weights_dir) if args.weights_dir else default
    log(f"weights: {choice} into {target}")
    weights.fetch(changes, files, target, os.environ, Path.home(), token=args.hf_token, log=log)
    return choice, target


def _warm_up(python: str, log) -> None:
    """Run the classical backend once on a tiny picture (``layerdecomp.matting.warm_up``), so its libraries
    are loaded and any compiled caches exist before the first real job."""
    script = "import layerdecomp.matting as m\nm.warm_up()"
    log("warm-up: running the classical backend once")
    try:
        done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"  skipped ({exc}); the first decomposition will do it instead")
        return
    if done.returncode != 0:
        last = ((done.stderr or "").strip().splitlines() or ["failed"])[-1]
        log(f"  skipped ({last}); the first decomposition will do it instead")
    else:
        log("  done")


def run(args, log=print) -> int:
    manifest = Manifest.load(serverconfig.manifest_path())
    if args.plugin_only:
        install_plugin(args, manifest, log)
        log("next: (re)start Krita; the plugin is the Layer Decomposition docker (Settings > Dockers > Layer "
            "Decomposition), also Select > Decompose Selection (Ctrl+Alt+Shift+D). Run `python -m installer "
            "install` without --plugin-only to set up the server too.")
        return 0
    locate_krita(args)  # no Krita: say so before setting anything else up
    try:
        plugin = plugin_step.packaged_plugin(Path(args.plugin_zip) if args.plugin_zip else None)
    except plugin_step.PluginNeedsPackaging:
        plugin = None  # this Python lacks websockets: the server's environment builds the zip below
    changes = Changes(manifest, log)
    # The install record's folder first: every change after this is on record before it is made, so even
    # a failed or killed install leaves nothing uninstall does not know about.
    changes.make_dirs(manifest.path.parent)
    gpu = gpus.forced(args.gpu) if args.gpu != "auto" else gpus.probe(sys.platform, platform_module.machine())
    if plugin is None:
        server_env = _server_env(args, changes, gpu, log)
        plugin = plugin_step.packaged_plugin(python=server_env.python)
        install_plugin(args, manifest, log, plugin)
    else:
        install_plugin(args, manifest, log, plugin)
        server_env = _server_env(args, changes, gpu, log)
    if not serverconfig.settings_path().exists():  # a working classical setup, whatever happens next
        _write_settings(changes, server_env, "none", None, gpu, args.port, log, say=False)  # (said below)
    try:
        weights_set, weights_dir = _weights(args, changes, gpu, log)
    except InstallError as exc:
        raise InstallError(f"{exc}\n(the plugin and the server are installed and work with the classical backend "
                           "meanwhile)") from exc
    _write_settings(changes, server_env, weights_set, weights_dir, gpu, args.port, log)
    manifest.info["server"] = {"python": server_env.python, "owned_env": server_env.owned,
                               "torch_build": server_env.torch_build, "device": gpu.kind,
                               "weights_set": weights_set, "weights_dir": str(weights_dir) if weights_dir else None}
    changes.save()
    if not args.no_warm_up:
        _warm_up(server_env.python, log)
    log("")
    if manifest.info.get("plugin", {}).get("layout") == "linux-flatpak":
        # The Flatpak sandbox cannot run a program of the host, so the plugin cannot start the server itself.
        log("note: Krita runs as a Flatpak, which cannot start the server by itself: start it before using the "
            f"plugin with: {json.loads(serverconfig.settings_path().read_text())['server_command']} --port {args.port}")
    log("done. Next:")
    log("  1. Start Krita (restart it if it was open), open a picture, select an object.")
    log("  2. Settings > Dockers > Layer Decomposition opens the plugin's docker: its Decompose Selection button")
    log("     (also Select > Decompose Selection, Ctrl+Alt+Shift+D) starts the server itself the first time;")
    log("     the docker shows the server's state, the methods it runs, the progress and the log files.")
    log("  Check everything with `python -m installer status`; remove it all with `python -m installer uninstall`.")
    return 0
