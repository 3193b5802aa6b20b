"""What the server costs: a 4096² picture decomposed through `layerdecomp serve` vs the same call in-process.

    python bench/transport.py [--size 4096] [--repeats 3] [--backend classical]

The server runs as its own process on loopback (as the plugin uses it); this process is the client.
Prints the median wall time of each path and their ratio (target: <= 1.15), for the client's default
(only the region the library works on travels, as with the plugin) and, for reference, for an upload of
the whole canvas; and the server process's peak memory (VmHWM) next to its memory when idle. Every path
gets one warm-up run first (JIT compilation, caches). Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import layerdecomp
from layerdecomp_server.client import Client
from layerdecomp.io import load_image

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.15


def make_input(size: int, selection: int) -> tuple[np.ndarray, np.ndarray]:
    """The example photo scaled to size² as RGBA (a Krita layer's channels) and a soft elliptic selection
    ``selection`` px wide in it: the cost of the backend follows the selection, the transport the canvas."""
    photo = load_image(REPO / "examples" / "coffee.jpg")[..., :3]
    image = cv2.resize(photo, (size, size), interpolation=cv2.INTER_CUBIC)
    image = np.dstack([image, np.full((size, size), 255, np.uint8)])
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (size // 2, size * 9 // 16), (selection // 2, selection * 2 // 5), 0, 0, 360, 255, -1)
    return image, cv2.GaussianBlur(mask, (9, 9), 0)


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def start_server(backend: str, config_dir: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "LAYERDECOMP_CONFIG_DIR": config_dir}
    process = subprocess.Popen(
        [sys.executable, "-m", "layerdecomp", "serve", "--port", "0", "--backend", backend],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    for line in process.stdout:
        if "listening on" in line:
            return process, line.split("listening on", 1)[1].strip()
    raise RuntimeError("the server did not start")


def runs(times: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="canvas side in pixels")
    parser.add_argument("--selection", type=int, default=600, help="selection width in pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="classical")
    args = parser.parse_args()

    image, mask = make_input(args.size, args.selection)
    print(f"input: {args.size}x{args.size} RGBA ({image.nbytes / 2**20:.0f} MiB) + mask, "
          f"selection ~{args.selection}px, backend {args.backend}, {args.repeats} runs after 1 warm-up")
    with tempfile.TemporaryDirectory() as config_dir:
        process, url = start_server(args.backend, config_dir)
        try:
            token = (Path(config_dir) / "token").read_text().strip()
            idle_kib = memory_kib(process.pid, "VmRSS")
            local_times, server_times, inside_times, full_times, full_inside = [], [], [], [], []
            with Client(url, token=token) as client, \
                    Client(url, token=token, upload_region_only=False) as full_client:
                reference = layerdecomp.decompose(image, mask, backend=args.backend)  # warm-ups
                for remote in (client.decompose(image, mask), full_client.decompose(image, mask)):
                    for name in ("foreground", "background", "visibility"):
                        if not np.array_equal(getattr(remote, name), getattr(reference, name)):
                            print(f"warning: {name} differs between the server and in-process "
                                  "(a nondeterministic backend?)")
                peak_region_kib = memory_kib(process.pid, "VmHWM")  # before any full-canvas upload
                for _ in range(args.repeats):  # interleaved, so that drift hits all paths alike
                    t0 = time.perf_counter()
                    layerdecomp.decompose(image, mask, backend=args.backend)
                    local_times.append(time.perf_counter() - t0)
                    for user, times, inside in ((client, server_times, inside_times),
                                                (full_client, full_times, full_inside)):
                        t0 = time.perf_counter()
                        result = user.decompose(image, mask)
                        times.append(time.perf_counter() - t0)
                        # The same call's decompose time as the server measured it: the rest is transport.
                        inside.append(sum(result.metadata["timings"].values()))
            peak_kib = memory_kib(process.pid, "VmHWM")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)

    local = statistics.median(local_times)
    print(f"in-process:                {local:7.3f} s  (runs: {runs(local_times)})")
    ratios = {}
    for label, times, inside in (("region upload (default)", server_times, inside_times),
                                 ("whole-canvas upload", full_times, full_inside)):
        served = statistics.median(times)
        transport = statistics.median(t - i for t, i in zip(times, inside))
        # On a busy machine the backend's own time swings by seconds between runs; the transport share of
        # each served call (its wall time over the server's decompose time for that same call) does not.
        call_ratio = statistics.median(t / i for t, i in zip(times, inside))
        ratios[label] = served / local
        print(f"through server, {label}:")
        print(f"  wall:                    {served:7.3f} s  (runs: {runs(times)})")
        print(f"  of which decompose:      {statistics.median(inside):7.3f} s  (runs: {runs(inside)})")
        print(f"  of which transport:      {transport:7.3f} s")
        print(f"  ratio to in-process (medians): {served / local:.3f};  "
              f"per call (wall / own decompose): {call_ratio:.3f}")
    ratio = ratios["region upload (default)"]
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER"
    print(f"RATIO server/in-process: {ratio:.3f}  (target <= {TARGET_RATIO}) -> {verdict}")
    print(f"server process memory: idle {idle_kib / 1024:.0f} MiB, peak {peak_region_kib / 1024:.0f} MiB with region "
          f"uploads, {peak_kib / 1024:.0f} MiB after whole-canvas ones (input alone: "
          f"{(image.nbytes + mask.nbytes) / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
