"""The pipeline, validate -> region -> backend -> layering: ``Decomposer`` holds a resolved and loaded
backend and runs it on many pictures; ``decompose`` is the one-call form on top of it."""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from . import backends
from . import options as option_rules
from .errors import raise_if_cancelled
from .layering import assemble
from .region import plan_region
from .types import CancelToken, Decomposition, ProgressCallback
from .validate import validate


def _no_progress(stage: str, fraction: float) -> None:
    pass


class Decomposer:
    """One backend, resolved once (``auto`` picks here) and loaded on first use or by :meth:`load`, and
    the options it runs with by default. Later runs never look for the backend again: a server that has
    loaded its model keeps working on that model whatever happens to its files.

        decomposer = Decomposer("diffusion", model="~/flux-fill", steps=28).load()
        result = decomposer.decompose(image, mask, seed=3)

    ``options`` are the backend's load options (weights, device, ...) and defaults for its per-run options,
    each checked against the backend's declaration (``backend_class.option_specs``); an option the backend
    does not have, or a value outside its rule, is an ``InvalidInput`` here.
    """

    def __init__(self, backend: str = "auto", **options: Any) -> None:
        self.backend_class = backends.resolve(backend, **options)
        self.load_options, self.default_options = option_rules.split_options(
            self.name, self.backend_class.option_specs, options)
        self._engine: Optional[backends.Backend] = None

    @property
    def name(self) -> str:
        return self.backend_class.name

    @property
    def engine(self) -> backends.Backend:
        """The loaded backend (kept per load options, so another Decomposer with the same ones shares it)."""
        self.load()
        assert self._engine is not None
        return self._engine

    def load(self) -> "Decomposer":
        """Load the backend now (a model: seconds to minutes) rather than on the first run."""
        if self._engine is None:
            self._engine = backends.instance(self.backend_class, self.load_options)
        return self

    def job_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every per-job option a run with ``given`` uses: checked (``InvalidInput`` for an option the
        backend does not take per job, or a value outside its rule), over this decomposer's defaults."""
        return option_rules.job_options(self.name, self.backend_class.option_specs, given, self.default_options)

    def decompose(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        margin: Optional[int] = None,
        grow: Optional[int] = None,
        progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None,
        **options: Any,
    ) -> Decomposition:
        """As :func:`decompose`, on this backend; ``options`` are per-run options (steps, seed, ...) over
        the defaults given when it was made."""
        started = time.perf_counter()
        run_options = self.job_options(options)
        option_rules.check_geometry(margin, grow)
        image, mask = validate(image, mask)
        return self._run(image, mask, started, margin=margin, grow=grow, progress=progress, cancel=cancel,
                         run_options=run_options)

    def _run(self, image: np.ndarray, mask: np.ndarray, started: float, *, margin: Optional[int],
             grow: Optional[int], progress: Optional[ProgressCallback], cancel: Optional[CancelToken],
             run_options: dict[str, Any]) -> Decomposition:
        """The pipeline on validated input and options; ``started``: when the caller began (counted as
        region time)."""
        grow = option_rules.check_geometry(margin, grow, (mask.shape[1], mask.shape[0]))
        report = progress or _no_progress
        timings: dict[str, float] = {}
        region = plan_region(mask, margin=margin, grow=grow)
        timings["region"] = time.perf_counter() - started
        report("region", 1.0)
        raise_if_cancelled(cancel)

        t0 = time.perf_counter()
        engine = self.engine
        timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        crop = image[region.box.slices]
        result = engine.run(
            np.ascontiguousarray(crop[..., :3]),
            np.ascontiguousarray(mask[region.box.slices]),
            region.hole,
            run_options,
            progress=report,
            cancel=cancel,
        )
        timings["backend"] = time.perf_counter() - t0
        raise_if_cancelled(cancel)

        t0 = time.perf_counter()
        cls = self.backend_class
        metadata = {
            "backend": cls.name,
            "occlusion_recovery": bool(cls.supports_occlusion and result.amodal_alpha is not None),
            "box": list(region.box.as_tuple()),
            "options": {"margin": margin, "grow": grow, **self.load_options, **run_options},
            **option_rules.seed_used(cls.option_specs, run_options),
            **result.metadata,
        }
        decomposition = assemble(image, region, result, metadata)
        timings["layering"] = time.perf_counter() - t0
        metadata["timings"] = timings
        report("layering", 1.0)
        return decomposition


def decompose(
    image: np.ndarray,
    mask: np.ndarray,
    backend: str = "auto",
    *,
    margin: Optional[int] = None,
    grow: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    **options: Any,
) -> Decomposition:
    """Split the selected object out of ``image``.

    ``image``: H×W×3 or H×W×4 uint8 (RGB/RGBA). ``mask``: H×W uint8, 0 = not selected, 255 = selected,
    grey levels = partly selected. ``margin``: context in pixels around the selection (default: a quarter
    of the selection's size). ``grow``: how far the hole reaches beyond the selection (default
    ``DEFAULT_GROW``). Other ``options`` go to the backend (its ``option_specs``; ``layerdecomp decompose
    --help`` lists them). A loaded backend is kept for the next
    call with the same load options; to hold one explicitly, use :class:`Decomposer`.
    """
    started = time.perf_counter()
    image, mask = validate(image, mask)
    option_rules.check_geometry(margin, grow)
    decomposer = Decomposer(backend, **options)
    return decomposer._run(image, mask, started, margin=margin, grow=grow, progress=progress, cancel=cancel,
                           run_options=decomposer.job_options({}))
