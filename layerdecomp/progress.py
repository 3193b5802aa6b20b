"""One moving progress figure for stages that run one after the other or at the same time.

The classical backend finds the object's edge, then fills the background (in a worker thread, so that a
cancel is answered at once); other backends may run stages concurrently. Reported one by one, the stages
would make the figure jump back and forth (or show 100% for the edge while the fill has seconds left).
:class:`ProgressSplitter` gives each part its own ``update(fraction)`` and reports their weighted sum,
under the name of the first part (in the given order) that has not finished:

- the figure never goes back, and reaches 1.0 only when every part has;
- the stage names come in the given order (a part that finishes early is skipped);
- parts may report from any thread; the reports are serialised, and none follow :meth:`close`.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from .types import ProgressCallback

# The figure shown while some part is unfinished stays below this, whatever the parts claim.
UNFINISHED_CAP = 0.99


class ProgressSplitter:
    """``parts``: ``(stage name, weight)`` in the order their names should be shown; a weight is the part's
    expected share of the work (any positive scale)."""

    def __init__(self, report: ProgressCallback, parts: Sequence[tuple[str, float]]):
        if not parts or any(weight <= 0 for _, weight in parts):
            raise ValueError("a progress splitter needs parts with positive weights")
        self._report = report
        self._names = [name for name, _ in parts]
        total = float(sum(weight for _, weight in parts))
        self._weights = {name: weight / total for name, weight in parts}
        self._done = {name: 0.0 for name in self._names}
        self._shown = 0.0
        self._closed = False
        self._lock = threading.Lock()

    def part(self, name: str) -> Callable[[float], None]:
        """The ``update(fraction)`` of part ``name`` (fraction in [0, 1] of that part's own work)."""
        if name not in self._weights:
            raise KeyError(f"no progress part named {name!r}")
        return lambda fraction: self._update(name, fraction)

    def close(self) -> None:
        """No reports after this (e.g. from a worker whose result was abandoned)."""
        with self._lock:
            self._closed = True

    def _update(self, name: str, fraction: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._done[name] = max(self._done[name], min(1.0, max(0.0, float(fraction))))
            unfinished = [n for n in self._names if self._done[n] < 1.0]
            overall = sum(self._weights[n] * self._done[n] for n in self._names)
            if unfinished:
                overall = min(overall, UNFINISHED_CAP)
                stage = unfinished[0]
            else:
                overall, stage = 1.0, self._names[-1]
            self._shown = max(self._shown, overall)
            self._report(stage, self._shown)
