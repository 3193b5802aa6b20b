"""What the progress dialog shows, from the server's progress reports: one label and one overall fraction.

The server reports each stage's own fraction (``stage``, 0..1), and stages may run side by side (the
classical backend paints the background while it finds the edge), so their reports interleave. The
artist sees one bar that only moves forward, the label of the earliest stage still at work (stages in
their running order, never back and forth), and never a full bar while work remains: the last few
percent are kept for receiving and writing the layers, which happen after the server's last report.
"""

from __future__ import annotations

from typing import Dict, Tuple

# (stage, label, weight): the order the stages run in and roughly how much of the work each is. These
# are the stages the backends report (layerdecomp/backends); any other gets UNKNOWN_WEIGHT.
STAGES = (
    ("region", "Preparing…", 0.02),
    ("alpha", "Finding the object's edge…", 0.25),
    ("fill", "Painting the background behind the object…", 0.60),
    ("step", "Generating…", 0.80),
    ("layering", "Assembling the layers…", 0.05),
)
FINISHING = "Assembling the layers…"
UNKNOWN_WEIGHT = 0.2
# Every job starts with "region" and ends with "layering"; the backend's own stages come between. Until the
# first of those reports, this stands for them.
FRAME_STAGES = ("region", "layering")
BACKEND_RESERVE = 0.85
# The share of the bar the server's stages fill; the rest is for receiving and writing the result.
SERVER_SHARE = 0.95


class ProgressView:
    def __init__(self) -> None:
        self._order = [name for name, _label, _weight in STAGES]
        self._labels = {name: label for name, label, _weight in STAGES}
        self._weights = {name: weight for name, _label, weight in STAGES}
        self.fractions: Dict[str, float] = {}
        self.shown = 0.0

    def update(self, stage: str, fraction: float) -> Tuple[str, float]:
        """Take one report; returns (label, overall fraction) to show."""
        if stage not in self._labels:
            self._order.append(stage)
            base, _, numbered = stage.rpartition(" ")
            if base in self._weights and numbered.replace("/", "", 1).isdigit() and "/" in numbered:
                # Separate parts far apart run one group after another ("fill 2/3"): the stage's own label.
                number, count = numbered.split("/")
                self._labels[stage] = f"{self._labels[base].rstrip('…')} ({number} of {count})…"
                self._weights[stage] = self._weights[base]
            else:
                self._labels[stage] = f"{stage.replace('_', ' ').capitalize()}…"
                self._weights[stage] = UNKNOWN_WEIGHT
        fraction = min(1.0, max(0.0, float(fraction)))
        self.fractions[stage] = max(fraction, self.fractions.get(stage, 0.0))
        seen = [name for name in self._order if name in self.fractions]
        total = sum(self._weights[name] for name in seen)
        if "layering" not in self.fractions:
            total += self._weights["layering"]
        if all(name in FRAME_STAGES for name in seen):
            total += BACKEND_RESERVE
        done = sum(self._weights[name] * self.fractions[name] for name in seen)
        self.shown = max(self.shown, SERVER_SHARE * done / total if total else 0.0)
        at_work = [name for name in seen if self.fractions[name] < 1.0]
        label = self._labels[at_work[0]] if at_work else FINISHING
        return label, self.shown
