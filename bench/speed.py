"""Wall time of the classical backend on a 2048² photo with a 15% selection, and first call vs later.

    python bench/speed.py [--seeds 3 4 5] [--repeats 3] [--baseline DIR]

Each case (a composite of real photos, layerdecomp.eval.cases) is decomposed ``repeats`` times; printed:
the best and median wall time, the process CPU time, the per-stage timings, and the naive baseline's
time in the same process for scale. With ``--baseline DIR`` (another checkout of the project, e.g.
``git worktree add /tmp/base main``) the same cases are timed with that code too, in child processes
interleaved with this one's, and the ratio is printed: on a loaded machine the ratio is what compares.
Then a fresh process measures its *first* decomposition (imports
included) against its second: there must be no just-in-time compile on a user's first click.
Issue 2's target: <= 3 s per decomposition on a 2-core machine. The default runs the graph cut before the
matting; each repeat also runs the decomposition without it (``-O matting=closed_form``), so the cut's cost
reads as a ratio.
The load average is printed because other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def first_call(seed: int) -> dict:
    """In a fresh process: import + first decomposition, then a second one."""
    t0 = time.perf_counter()
    import layerdecomp
    from layerdecomp.eval import make_case

    t_import = time.perf_counter()
    case = make_case(seed, 2048, coverage=0.155, mask_kind="exact")
    out = {"import": t_import - t0}
    for name in ("first", "second"):
        c0, t1 = time.process_time(), time.perf_counter()
        layerdecomp.decompose(case.image, case.mask, backend="classical")
        out[name], out[name + "_cpu"] = time.perf_counter() - t1, time.process_time() - c0
    return out


def best_time(seed: int, repeats: int) -> dict:
    """The best and median wall time of ``repeats`` decompositions of case ``seed`` (in this process)."""
    import layerdecomp
    from layerdecomp.eval import make_case

    case = make_case(seed, 2048, coverage=0.155, mask_kind="exact")
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        layerdecomp.decompose(case.image, case.mask, backend="classical")
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"best": min(walls), "median": statistics.median(walls), "cpu": min(cpus)}


def timed_elsewhere(tree: str, seed: int, repeats: int) -> dict:
    """:func:`best_time` with the code of checkout ``tree``, in a child process."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, __file__, "--time-seed", str(seed), "--repeats", str(repeats)],
                         capture_output=True, text=True, check=True, env=env, cwd=os.path.abspath(tree))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to time on the same cases (ratio)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--time-seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(first_call(args.child)))
        return 0
    if args.time_seed is not None:
        print(json.dumps(best_time(args.time_seed, args.repeats)))
        return 0

    # The fresh process first, before this one has imported anything.
    fresh = json.loads(subprocess.run([sys.executable, __file__, "--child", str(args.seeds[0])],
                                      capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])

    import cv2
    import numpy as np

    import layerdecomp
    from layerdecomp.eval import make_case

    best_all, paths, uncut, baseline_ratios = [], [], [], []
    print(f"{'case':45s} {'sel %':>5s} {'best s':>7s} {'median':>7s} {'cpu s':>6s} {'naive s':>7s}  stages (s)")
    for seed in args.seeds:
        case = make_case(seed, 2048, coverage=0.155, mask_kind="exact")
        walls, cpus, walls_uncut = [], [], []
        for _ in range(args.repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            result = layerdecomp.decompose(case.image, case.mask, backend="classical")
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            t0 = time.perf_counter()
            layerdecomp.decompose(case.image, case.mask, backend="classical", matting="closed_form")
            walls_uncut.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cv2.inpaint(case.image, (case.mask > 0).astype(np.uint8), 3, cv2.INPAINT_NS)
        naive = time.perf_counter() - t0
        stages = {**result.metadata["timings"], **result.metadata.get("backend_timings", {})}
        stage_text = " ".join(f"{k}={v:.2f}" for k, v in stages.items() if k not in ("load", "region"))
        print(f"{case.name:45s} {100 * (case.mask > 0).mean():5.1f} {min(walls):7.2f} "
              f"{statistics.median(walls):7.2f} {min(cpus):6.2f} {naive:7.2f}  {stage_text}")
        best_all.append(min(walls))
        uncut.append(min(walls_uncut))
        bt = result.metadata["backend_timings"]
        paths.append(bt["alpha_cpu"] + bt["fill_cpu"] + result.metadata["timings"]["layering"])
        if args.baseline:
            base = timed_elsewhere(args.baseline, seed, args.repeats)
            baseline_ratios.append(min(walls) / base["best"])
            print(f"{'':45s} {'':5s} {base['best']:7.2f} {base['median']:7.2f} {base['cpu']:6.2f}  <- --baseline "
                  f"{args.baseline}; ratio {baseline_ratios[-1]:.2f} (CPU {min(cpus) / base['cpu']:.2f})")

    worst = max(best_all)
    ratios = [a / b for a, b in zip(best_all, uncut)]
    print("the same decompositions without the graph cut (-O matting=closed_form), alternated with them, "
          "best of the repeats: " + ", ".join(f"{t:.2f}" for t in uncut)
          + " s; default (with the cut) / without it " + ", ".join(f"{r:.2f}" for r in ratios))
    print(f"\n2048x2048 photos, ~15% selections; slowest case (best of {args.repeats}): {worst:.2f} s"
          f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"fresh process: first decomposition {fresh['first']:.2f} s wall / {fresh['first_cpu']:.2f} s CPU, "
          f"second {fresh['second']:.2f} s / {fresh['second_cpu']:.2f} s (CPU ratio "
          f"{fresh['first_cpu'] / fresh['second_cpu']:.2f}; no JIT compile: the matting is numpy/scipy)")
    if baseline_ratios:
        print("this code / --baseline (best wall, same cases, interleaved): "
              + ", ".join(f"{r:.2f}" for r in baseline_ratios))
    print("CPU seconds of the alpha and the fill (one after the other) + the layering's wall time, "
          "about the wall time on an otherwise idle machine: "
          + ", ".join(f"{p:.2f}" for p in paths) + " s")
    checks = [("<= 3 s per decomposition (wall, best of the repeats)", worst <= 3.0),
              ("first call within 1.5x of the second (CPU)", fresh["first_cpu"] <= 1.5 * fresh["second_cpu"])]
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
