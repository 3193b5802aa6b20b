"""The pipeline, validate -> region -> backend -> layering: ``Decomposer`` holds a resolved and loaded
backend and runs it on many pictures; ``decompose`` is the one-call form on top of it."""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from . import backends
from .errors import InvalidInput, raise_if_cancelled
from .layering import assemble
from .parts import decompose_parts
from .region import DEFAULT_GROW, plan_region
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

    ``options`` are the backend's load options (weights, device, ...) and defaults for its per-run options;
    an option the backend does not know is an error here.
    """

    def __init__(self, backend: str = "auto", **options: Any) -> None:
        self.backend_class = backends.resolve(backend, **options)
        self.load_options, self.default_options = backends.split_options(self.backend_class, options)
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

    def decompose(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        *,
        margin: Optional[int] = None,
        grow: int = DEFAULT_GROW,
        progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None,
        split_parts: bool = False,
        **options: Any,
    ) -> Decomposition:
        """As :func:`decompose`, on this backend; ``options`` are per-run options (steps, seed, ...) over
        the defaults given when it was made."""
        started = time.perf_counter()
        load_only = sorted(set(options) & self.backend_class.load_options)
        if load_only:
            raise InvalidInput(f"{', '.join(load_only)} is fixed when the {self.name} backend is loaded, "
                               "not chosen per picture")
        _, run_options = backends.split_options(self.backend_class, options)  # unknown ones: InvalidInput
        image, mask = validate(image, mask)
        return self._run(image, mask, started, margin=margin, grow=grow, progress=progress, cancel=cancel,
                         run_options={**self.default_options, **run_options}, split_parts=split_parts)

    def _seed_used(self, run_options: dict[str, Any]) -> dict[str, Any]:
        """``{"seed": n}``, the seed the run used (given or the backend's default), for a backend that takes one:
        with it the same result can be made again."""
        if "seed" not in self.backend_class.run_options:
            return {}
        seed = run_options.get("seed", backends.run_option_defaults(self.backend_class).get("seed"))
        return {} if seed is None else {"seed": seed}

    def _run(self, image: np.ndarray, mask: np.ndarray, started: float, *, margin: Optional[int], grow: int,
             progress: Optional[ProgressCallback], cancel: Optional[CancelToken],
             run_options: dict[str, Any], split_parts: bool = False) -> Decomposition:
        """The pipeline on validated input; ``started``: when the caller began (counted as region time)."""
        backends.check_run_options(self.backend_class, run_options)  # seed="abc": InvalidInput, not ValueError
        if grow > max(mask.shape):
            raise InvalidInput(f"grow {grow} reaches beyond the {mask.shape[1]} x {mask.shape[0]} picture; "
                               f"use at most {max(mask.shape)}")
        report = progress or _no_progress
        if split_parts:
            def one(picture: np.ndarray, part_mask: np.ndarray, part_progress: ProgressCallback) -> Decomposition:
                return self._run(picture, part_mask, time.perf_counter(), margin=margin, grow=grow,
                                 progress=part_progress, cancel=cancel, run_options=run_options)

            return decompose_parts(one, image, mask, grow=grow, progress=report, cancel=cancel)
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
            progress=report,
            cancel=cancel,
            **run_options,
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
            **self._seed_used(run_options),
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
    grow: int = DEFAULT_GROW,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
    split_parts: bool = False,
    **options: Any,
) -> Decomposition:
    """Split the selected object out of ``image``.

    ``image``: H×W×3 or H×W×4 uint8 (RGB/RGBA). ``mask``: H×W uint8, 0 = not selected, 255 = selected,
    grey levels = partly selected. ``margin``: context in pixels around the selection (default: a quarter
    of the selection's size). ``grow``: how far the hole reaches beyond the selection. ``split_parts``: one
    object layer per separate part of the selection, over one plate (``Decomposition.objects``, bottom to
    top; see ``layerdecomp.parts``); with one part the result is the ordinary one. Other ``options``
    go to the backend (see its ``load_options`` / ``run_options``). A loaded backend is kept for the next
    call with the same load options; to hold one explicitly, use :class:`Decomposer`.
    """
    started = time.perf_counter()
    image, mask = validate(image, mask)
    decomposer = Decomposer(backend, **options)
    return decomposer._run(image, mask, started, margin=margin, grow=grow, progress=progress, cancel=cancel,
                           run_options=decomposer.default_options, split_parts=split_parts)
