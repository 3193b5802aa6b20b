"""Serve decompositions to the Krita plugin (and layerdecomp_server.client) over a local websocket.

The backend is loaded once and kept. Clients must prove they know the token kept in the user's config
folder (created on first run; set LAYERDECOMP_CONFIG_DIR to use another folder); a changed token file
counts for connections made after the change. Stop with Ctrl+C or SIGTERM: jobs in flight are cancelled
and clients are told why."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from layerdecomp import backends
from layerdecomp.commands.options import add_model_arguments, add_option_argument, backend_options

from .protocol import DEFAULT_PORT, Limits

# The one-line help `layerdecomp --help` shows; the `layerdecomp` command finds this module through the
# `layerdecomp.commands` entry point (pyproject.toml), so the core never imports the server.
HELP = "serve decompositions to the Krita plugin over a local websocket"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; anything but loopback lets other machines in (a warning says so)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="TCP port (0: any free port, printed at start)")
    p.add_argument("--backend", default="auto", choices=backends.available_names(),
                   help="which method to serve; auto picks the best one that can run here")
    add_option_argument(p, "a backend option (repeatable): load options (weights, device, ...) and defaults for "
                           "per-job options, e.g. -O steps=28")
    add_model_arguments(p)
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="an Origin allowed to connect, exactly as the client sends it (repeatable); by default only "
                        "clients without one and Photoshop's uxp: plugins are admitted, every web page is refused")
    p.add_argument("--jobs", type=int, default=1, help="jobs run at the same time")
    # None: the server's own limit (protocol.Limits), which the help names.
    p.add_argument("--max-queue", type=int, default=None,
                   help=f"jobs open at once (uploading, waiting, running) (default: {Limits.max_queue})")
    p.add_argument("--max-connections", type=int, default=None,
                   help=f"connections open at once (default: {Limits.max_connections})")
    p.add_argument("--max-side", type=int, default=None,
                   help=f"largest image side accepted, in pixels (default: {Limits.max_side})")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                   help=f"close connections that have no job and send nothing for this long "
                        f"(default: {Limits.idle_timeout_s:g})")
    p.add_argument("--verbose", "-v", action="store_true", help="log every connection")
    p.add_argument("--log-file", type=Path, default=None, metavar="FILE",
                   help="log to FILE (size-capped and rotated) instead of the terminal")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    from layerdecomp.config import TokenFileError, log_file_handler, read_or_create_token, token_path

    from .app import DecompositionServer, ServerConfig, serve_until_signalled
    from .protocol import Limits

    level = logging.INFO if args.verbose else logging.WARNING
    if args.log_file is not None:
        # A log file is read after the fact: it keeps every job's outcome (INFO), whatever --verbose says.
        try:
            logging.basicConfig(level=logging.INFO, handlers=[log_file_handler(args.log_file)])
        except OSError as exc:
            print(f"layerdecomp: error: cannot write the log file {args.log_file}: {exc}", file=sys.stderr)
            return 2
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    limits = Limits()
    changes = {"max_queue": args.max_queue, "max_connections": args.max_connections,
               "max_side": args.max_side, "idle_timeout_s": args.idle_timeout}
    limits = dataclasses.replace(limits, **{k: v for k, v in changes.items() if v is not None})
    try:
        read_or_create_token()  # made (or checked) before the model loads; re-read while serving
    except (TokenFileError, OSError) as exc:
        print(f"layerdecomp: error: {exc}", file=sys.stderr)
        return 2
    config = ServerConfig(host=args.host, port=args.port, backend=args.backend, options=backend_options(args),
                          limits=limits, allowed_origins=tuple(args.allow_origin), jobs=args.jobs)

    def ready(server: DecompositionServer) -> None:
        print(f"layerdecomp server: {server.backend_class.name} backend loaded ({server.device})",
              flush=True)
        print(f"layerdecomp server listening on {server.url}", flush=True)
        print(f"token file: {token_path()}", flush=True)

    try:
        asyncio.run(serve_until_signalled(config, ready))
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        print(f"layerdecomp: error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
              "is a server already running there? Choose another with --port", file=sys.stderr)
        return 2
    return 0
