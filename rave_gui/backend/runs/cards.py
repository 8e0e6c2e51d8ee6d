"""The run's headline numbers: the latest ``validation`` and main loss terms, each with its
change since the previous value and whether that change is an improvement.

RAVE (acids-rave 2.3.1) logs these scalars (see shared/fixtures/rave/README.md):
``validation`` at each validation; ``fullband_spectral_distance``,
``multiband_spectral_distance`` and ``regularization`` during the first phase; then the
adversarial terms ``adversarial``, ``feature_matching`` and ``loss_dis``. All are losses:
lower is better. Other trainers' series are taken when their name says loss.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..store.metrics import MetricStore

# RAVE's terms, in the order the cards show them.
CARD_TERMS = (
    "validation",
    "multiband_spectral_distance",
    "fullband_spectral_distance",
    "regularization",
    "adversarial",
    "feature_matching",
    "loss_dis",
)
CARD_CAPTIONS = {
    "validation": "Validation",
    "multiband_spectral_distance": "Multiband spectral",
    "fullband_spectral_distance": "Fullband spectral",
    "regularization": "Regularization",
    "adversarial": "Adversarial",
    "feature_matching": "Feature matching",
    "loss_dis": "Discriminator",
}
MAX_CARDS = 7
# A change smaller than this fraction of the value is shown as steady (no colour).
STEADY = 1e-6

BETTER, WORSE, STEADY_TREND = "better", "worse", "steady"


def card_names(names: Iterable[str]) -> list[str]:
    """The series to show as cards among a run's series names: RAVE's terms in their order;
    for other trainers, every name with ``loss`` in it (validation losses first)."""
    present = set(names)
    chosen = [n for n in CARD_TERMS if n in present]
    if not chosen:
        losses = sorted(n for n in present if "loss" in n.lower())
        chosen = sorted(losses, key=lambda n: not n.lower().startswith(("val", "valid")))
    return chosen[:MAX_CARDS]


def caption(name: str) -> str:
    return CARD_CAPTIONS.get(name, name.replace("_", " ").capitalize())


@dataclass(frozen=True, slots=True)
class CardValue:
    """A series' latest value at ``step`` and the one before it (``previous`` None: the
    first)."""

    name: str
    step: int
    value: float
    previous: float | None = None

    @property
    def change(self) -> float | None:
        if self.previous is None or not _finite(self.value) or not _finite(self.previous):
            return None
        return self.value - self.previous

    @property
    def trend(self) -> str | None:
        """BETTER (went down: these are losses), WORSE (went up, or not a number) or
        STEADY_TREND; None for a first value."""
        if not _finite(self.value):
            return WORSE
        change = self.change
        if change is None:
            return None
        if abs(change) <= STEADY * max(abs(self.value), abs(self.previous or 0.0), 1e-12):
            return STEADY_TREND
        return BETTER if change < 0 else WORSE

    @property
    def arrow(self) -> str:
        change = self.change
        if not _finite(self.value):
            return "⚠"
        if change is None or self.trend == STEADY_TREND:
            return "→" if change is not None else ""
        return "▲" if change > 0 else "▼"


def _float(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


class CardSeries:
    """The last two points of each card series, fed in any order (stored then live points):
    a point older than the two kept is ignored, a point at a kept step replaces its value."""

    def __init__(self) -> None:
        self._points: dict[str, list[tuple[int, float]]] = {}

    def clear(self) -> None:
        self._points.clear()

    def add(self, points: Mapping[str, Sequence[tuple[int, float]]]) -> set[str]:
        """Take points ``{name: [(step, value), ...]}``; the names whose card changed."""
        changed = set()
        for name, pts in points.items():
            if not pts:
                continue
            kept = self._points.get(name, [])
            merged = dict(kept)
            merged.update(pts)  # a later point at a step replaces it (a live batch: in C)
            newest = sorted(merged)[-2:]
            now = [(int(s), _float(merged[s])) for s in newest]
            if now != kept:
                self._points[name] = now
                changed.add(name)
        return changed

    def values(self, names: Iterable[str] | None = None) -> list[CardValue]:
        """The cards of ``names`` (default: :func:`card_names` of the series held)."""
        chosen = card_names(self._points) if names is None else list(names)
        out = []
        for name in chosen:
            kept = self._points.get(name)
            if not kept:
                continue
            step, value = kept[-1]
            out.append(CardValue(name, step, value, kept[-2][1] if len(kept) > 1 else None))
        return out


def stored_card_points(
    metrics: MetricStore, experiment_id: int
) -> dict[str, list[tuple[int, float]]]:
    """The last two stored points of each card series of a run (a finished run's cards)."""
    return metrics.latest(experiment_id, card_names(metrics.names(experiment_id)), 2)


__all__ = [
    "BETTER",
    "CARD_TERMS",
    "STEADY_TREND",
    "WORSE",
    "CardSeries",
    "CardValue",
    "caption",
    "card_names",
    "stored_card_points",
]
