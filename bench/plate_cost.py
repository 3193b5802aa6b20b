"""CPU time of the plate (``plate.plate_under_object``) on the 2048² cases of bench/speed.py, this code
against another checkout's ``layerdecomp/plate.py``, in the same process on the same inputs.

    python bench/plate_cost.py --baseline DIR [--seeds 3 4 5] [--repeats 3]

The inputs (crop, fill, alpha, colours, hole) are captured from one decomposition of each case with this
code; then both plate modules run on them, alternated, and the best process CPU time of each is printed
with the ratio. CPU time, not wall time: on a loaded machine the ratio still compares (bench/speed.py
times the whole decomposition).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def plate_inputs(seed: int) -> tuple:
    import layerdecomp
    import layerdecomp.layering as layering
    from layerdecomp.eval import make_case

    captured = {}
    real = layering.plate_under_object

    def spy(*args):
        captured["args"] = args
        return real(*args)

    layering.plate_under_object = spy
    try:
        case = make_case(seed, 2048, coverage=0.155, mask_kind="exact")
        layerdecomp.decompose(case.image, case.mask, backend="classical")
    finally:
        layering.plate_under_object = real
    return captured["args"]


def plate_module(tree: str, name: str):
    """``tree``'s layerdecomp/plate.py as a module of this package (its relative imports resolve here)."""
    import layerdecomp  # noqa: F401

    spec = importlib.util.spec_from_file_location(f"layerdecomp.{name}", os.path.join(tree, "layerdecomp", "plate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="DIR", required=True, help="another checkout (e.g. of main)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    modules = {"this": plate_module(os.path.dirname(HERE), "_plate_this"),
               "baseline": plate_module(args.baseline, "_plate_baseline")}
    for seed in args.seeds:
        inputs = plate_inputs(seed)
        best = {name: float("inf") for name in modules}
        for _ in range(args.repeats):
            for name, module in modules.items():
                c0 = time.process_time()
                module.plate_under_object(*inputs)
                best[name] = min(best[name], time.process_time() - c0)
        print(f"seed {seed}: crop {inputs[0].shape[1]}x{inputs[0].shape[0]}, plate CPU this {best['this']:.3f} s, "
              f"baseline {best['baseline']:.3f} s, ratio {best['this'] / best['baseline']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
