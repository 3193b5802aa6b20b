"""``python -m installer``: install layerdecomp's Krita plugin, server environment and weights; undo it all.

    python -m installer install [--plugin-only] [--krita-dir DIR] [--kritarc FILE] [--use-current-env] ...
    python -m installer uninstall
    python -m installer status
    python -m installer catalogue
    python -m installer package --out FILE.zip
    python -m installer package --photoshop --out FILE.ccx

A throwaway Krita profile for tests (what the real-Krita GUI test runs, with its own temporary folders),
run from the repository root with a Python that has websockets (it is bundled into the plugin zip built on
the way; or pass a ready zip with --plugin-zip FILE.zip):

    cd REPO && HOME=$T XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data \\
        python -m installer install --plugin-only --krita-dir $T/data/krita --kritarc $T/config/kritarc

(``--kritarc`` may be left out there: for ``--krita-dir $XDG_DATA_HOME/krita`` it is $XDG_CONFIG_HOME/kritarc.)
This writes the plugin to $T/data/krita/pykrita/, its .action file to $T/data/krita/actions/, adds
``enable_<plugin>=true`` under ``[python]`` in the kritarc, and records all of it in
$XDG_CONFIG_HOME/layerdecomp/install-manifest.json (the server's config folder: ``layerdecomp.config``,
``LAYERDECOMP_CONFIG_DIR`` overrides it), so ``uninstall`` with the same environment takes it away again.

Name clash: PyPI has an unrelated package called ``installer`` (PyPA's wheel installer). ``python -m installer``
run from this repository's root finds this folder first (the current directory leads sys.path); when this
project is pip-installed, both would claim the top-level name ``installer`` in one environment, so do not
install PyPA's ``installer`` into layerdecomp's environment (pip itself does not need it).
"""

from __future__ import annotations

import argparse
import sys

from . import serverconfig
from .errors import InstallError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m installer",
                                     description="Install layerdecomp: Krita plugin, local server, weights.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("install", help="install the plugin (and the server and weights)")
    krita = p.add_argument_group("Krita")
    krita.add_argument("--krita-dir", metavar="DIR", help="Krita's resource folder (the one holding pykrita/)")
    krita.add_argument("--kritarc", metavar="FILE", help="Krita's settings file, to enable the plugin in")
    krita.add_argument("--no-enable", action="store_true", help="install the plugin but leave kritarc alone")
    krita.add_argument("--plugin-zip", metavar="FILE", help="install this plugin zip instead of building one")
    krita.add_argument("--plugin-only", action="store_true", help="install only the plugin")
    server = p.add_argument_group("server")
    server.add_argument("--use-current-env", action="store_true",
                        help="run the server with this Python (which must have the project installed)")
    server.add_argument("--env-dir", metavar="DIR", help="where to create the server's environment")
    server.add_argument("--gpu", choices=["auto", "cuda", "rocm", "mps", "cpu"], default="auto",
                        help="which torch build to install (auto: detect the GPU)")
    server.add_argument("--port", type=int, default=serverconfig.DEFAULT_PORT,
                        help="the server's port (the plugin's server address must say the same)")
    server.add_argument("--no-warm-up", action="store_true", help="skip compiling the classical backend now")
    model = p.add_argument_group("weights")
    model.add_argument("--weights-set", choices=["auto", "none", "compact", "diffusion"], default="auto",
                       help="which weights to fetch (auto: the diffusion model when there is a GPU; compact: small "
                            "models for the learned backend, CPU is enough; `catalogue` lists them)")
    model.add_argument("--weights-dir", metavar="DIR", help="where to download the weights")
    model.add_argument("--offline", action="store_true", help="download nothing: take the weights from --weights")
    model.add_argument("--weights", metavar="DIR", help="with --offline: the folder that holds the weights")
    model.add_argument("--hf-token", metavar="TOKEN",
                       help="hub access token (default: $HF_TOKEN, or `hf auth login`'s)")
    p.set_defaults(_run="install")

    p = sub.add_parser("uninstall", help="remove everything install added")
    p.set_defaults(_run="uninstall")

    p = sub.add_parser("status", help="what is installed where, and whether the server answers")
    p.add_argument("--start-server", action="store_true", help="also start the server briefly to see it answer")
    p.set_defaults(_run="status")

    p = sub.add_parser("catalogue", help="the weight sets: each model's licence, size, source and checksum")
    p.set_defaults(_run="catalogue")

    p = sub.add_parser("package", help="build the plugin zip (what Krita's Tools > Scripts > Import imports)")
    p.add_argument("--out", required=True, metavar="FILE.zip")
    p.add_argument("--photoshop", action="store_true",
                   help="build the Photoshop plugin's .ccx instead (Creative Cloud installs it)")
    p.set_defaults(_run="package")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args._run == "install":
            from . import install
            return install.run(args)
        if args._run == "uninstall":
            from . import uninstall
            return uninstall.run(args)
        if args._run == "status":
            from . import status
            return status.run(args)
        if args._run == "catalogue":
            from .weights import CATALOGUE, describe

            for name in CATALOGUE:
                print(f"--weights-set {name}:")
                print("\n".join(describe(name)))
            return 0
        if args._run == "package":
            from .package import PackagingError, build_plugin_zip

            try:
                if args.photoshop:
                    from .photoshop import build_ccx

                    print(f"Photoshop plugin: {build_ccx(args.out)}")
                else:
                    print(f"plugin zip: {build_plugin_zip(args.out)}")
            except PackagingError as exc:
                raise InstallError(str(exc)) from exc
            return 0
    except InstallError as exc:
        print(f"installer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("installer: interrupted; run the same command again to finish (or uninstall)", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
