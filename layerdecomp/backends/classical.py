"""The embedded default: no weights, CPU only.

- Alpha: closed-form matting on a band along the selection's edge (``layerdecomp.matting``), with the
  object's colours and the local background estimated jointly in the soft edge.
- Background: PatchMatch exemplar fill with a structure-preserving coarse pass (``layerdecomp.fill``).

The fill runs in a worker thread beside the matting (PatchMatch is native code that releases the GIL),
so on two cores the two stages overlap. Occlusion recovery is not supported: hidden parts of the object
stay hidden (the metadata says so: ``occlusion_recovery: False``, ``unsupported: ["occlusion_recovery"]``).
A cancel is answered between the stages and while waiting for the fill; an abandoned fill thread
finishes on its own and its result is dropped.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping, Optional

from .. import fill as fill_module
from .. import matting as matting_module
from ..errors import raise_if_cancelled
from ..options import Choice, OptionSpec
from ..progress import ProgressSplitter
from ..types import BackendResult, CancelToken, ProgressCallback
from . import Backend


# Shares of the work in the progress figure: on 2048² photos with 15% selections the fill takes about
# twice the CPU time of the edge.
ALPHA_WEIGHT, FILL_WEIGHT = 1.0, 2.0


class ClassicalBackend(Backend):
    name = "classical"
    label = "Fast (classical)"
    description = "Works on any computer, no downloads: a careful edge and a painted-in background."
    priority = 0
    supports_occlusion = False
    option_specs = (
        OptionSpec("matting", "choice", "closed_form", "Edge",
                   "How the soft edge is worked out: careful keeps hair and fur; quick is faster, with softer edges.",
                   choices=(Choice("closed_form", "Careful"), Choice("guided", "Quick"))),
        OptionSpec("seed", "seed", 0, "Variation",
                   "The same number gives the same painted-in background; another number, another try."),
    )

    def run(self, image, mask, hole, options: Mapping[str, Any], *, progress: ProgressCallback,
            cancel: Optional[CancelToken]) -> BackendResult:
        # The edge and the fill run at the same time: one progress figure for both, the edge's name first.
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

        def fill_worker() -> None:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                outcome["fill"] = fill_module.fill(image, hole, seed=int(seed), progress=fill_progress)
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc
            timings["fill"] = time.perf_counter() - t0
            timings["fill_cpu"] = time.thread_time() - c0  # this thread's CPU (the k-d tree's helpers aside)

        alpha_progress(0.0)
        worker = threading.Thread(target=fill_worker, name="layerdecomp-fill", daemon=True)
        worker.start()

        t0, c0 = time.perf_counter(), time.thread_time()
        alpha, foreground = matting_module.matte(image, mask, hole, method=method)
        timings["alpha"] = time.perf_counter() - t0
        timings["alpha_cpu"] = time.thread_time() - c0
        alpha_progress(1.0)
        raise_if_cancelled(cancel)  # the fill thread finishes on its own; its result is dropped

        while worker.is_alive():  # wait for the fill, still answering a cancel at once
            worker.join(timeout=0.05)
            raise_if_cancelled(cancel)
        if "error" in outcome:
            raise outcome["error"]
        raise_if_cancelled(cancel)
        return BackendResult(
            background=outcome["fill"],  # the soft edge's plate is layering.py's to decide (from F)
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
