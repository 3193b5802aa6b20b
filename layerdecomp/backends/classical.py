"""The embedded default: no weights, CPU only.

- Alpha: closed-form matting on a band along the selection's edge (``layerdecomp.matting``), with the
  object's colours and the local background estimated jointly in the soft edge.
- Background: PatchMatch exemplar fill with a structure-preserving coarse pass (``layerdecomp.fill``).

The alpha comes first, then the fill follows the object it found, not the lasso: only where the object
covers the background (its support grown by ``region.OBJECT_FILL_GROW``, inside the hole) is filled. The
real pixels between the object and a loose lasso stay as they are and serve as the fill's source and its
boundary (a fill of the whole lasso repaints them, and the plate then shows where the lasso ran).
The fill runs in a worker thread so that a cancel is answered at once. Occlusion recovery is not
supported: hidden parts of the object stay hidden (the metadata says so: ``occlusion_recovery: False``,
``unsupported: ["occlusion_recovery"]``). An abandoned fill thread finishes on its own and its result is
dropped.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping, Optional

import numpy as np

from .. import fill as fill_module
from .. import matting as matting_module
from ..errors import raise_if_cancelled
from ..options import Choice, OptionSpec
from ..progress import ProgressSplitter
from ..region import object_fill_hole
from ..types import BackendResult, CancelToken, ProgressCallback
from . import Backend


# Shares of the work in the progress figure: on 2048² photos with 15% selections the fill takes about
# as long as the edge.
ALPHA_WEIGHT, FILL_WEIGHT = 1.0, 1.0


class ClassicalBackend(Backend):
    name = "classical"
    label = "Fast (classical)"
    description = "Works on any computer, no downloads: a careful edge and a painted-in background."
    priority = 0
    supports_occlusion = False
    option_specs = (
        OptionSpec("matting", "choice", "segmented", "Edge",
                   "How the object and its soft edge are found: careful finds the object inside the selection "
                   "(a loose lasso's background goes) and keeps hair and fur; along the selection only works "
                   "on the selection's edge; quick is faster, with softer edges.",
                   choices=(Choice("segmented", "Careful (finds the object)"),
                            Choice("closed_form", "Along the selection only"), Choice("guided", "Quick"))),
        OptionSpec("seed", "seed", 0, "Variation",
                   "The same number gives the same painted-in background; another number, another try."),
    )

    def run(self, image, mask, hole, options: Mapping[str, Any], *, progress: ProgressCallback,
            cancel: Optional[CancelToken]) -> BackendResult:
        # The edge, then the fill (on the object found): one progress figure for both.
        splitter = ProgressSplitter(progress, [("alpha", ALPHA_WEIGHT), ("fill", FILL_WEIGHT)])
        try:
            return self._decompose(image, mask, hole, splitter=splitter, cancel=cancel, method=options["matting"],
                                   seed=options["seed"])
        finally:
            splitter.close()  # a fill thread abandoned on a cancel or an error reports nothing more

    def _decompose(self, image, mask, hole, *, splitter: ProgressSplitter, cancel: Optional[CancelToken],
                   method: str, seed: int) -> BackendResult:
        raise_if_cancelled(cancel)
        timings: dict[str, float] = {}
        outcome: dict[str, Any] = {}
        alpha_progress, fill_progress = splitter.part("alpha"), splitter.part("fill")

        alpha_progress(0.0)
        t0, c0 = time.perf_counter(), time.thread_time()

        def fill_worker(fill_hole) -> None:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                outcome["fill"] = fill_module.fill(image, fill_hole, seed=int(seed), progress=fill_progress)
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc
            timings["fill"] = time.perf_counter() - t0
            timings["fill_cpu"] = time.thread_time() - c0  # this thread's CPU (the k-d tree's helpers aside)

        worker = None

        def start_fill(alpha: np.ndarray) -> None:
            # The fill needs only the alpha: it starts as soon as the alpha is final, and the object's
            # colours are estimated meanwhile (on the second core).
            nonlocal worker
            alpha_progress(1.0)
            raise_if_cancelled(cancel)
            worker = threading.Thread(target=fill_worker, args=(object_fill_hole(alpha, hole),),
                                      name="layerdecomp-fill", daemon=True)
            worker.start()

        # "segmented" (the default): a graph cut of the whole selection before the careful matting
        # (segmentation.py); "closed_form": the careful matting on the selection's edge alone.
        segmented = method == "segmented"
        alpha, foreground = matting_module.matte(image, mask, hole, method="closed_form" if segmented else method,
                                                 segment=segmented, on_alpha=start_fill)
        timings["alpha"] = time.perf_counter() - t0
        timings["alpha_cpu"] = time.thread_time() - c0
        if worker is None:  # (a matte that never reported its alpha)
            start_fill(alpha)
        while worker.is_alive():  # wait for the fill, still answering a cancel at once
            worker.join(timeout=0.05)
            raise_if_cancelled(cancel)
        if "error" in outcome:
            raise outcome["error"]
        raise_if_cancelled(cancel)
        return BackendResult(
            background=outcome["fill"],  # the picture outside fill_hole; the soft edge's plate is layering.py's
            alpha=alpha,
            foreground=foreground,
            metadata={
                "occlusion_recovery": False,
                "unsupported": ["occlusion_recovery"],
                "matting": method,
                "backend_timings": timings,
            },
        )


BACKEND = ClassicalBackend
