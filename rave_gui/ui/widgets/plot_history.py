"""What a run's plot knows besides its own points: what comes before the first one, and the
history of the run it resumes, drawn faintly before its own so that a continued run reads as
one curve. Both are read off the GUI thread (on the plot loader's thread)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from PyQt6.QtCore import QObject, pyqtSignal

from ...backend.manager import TrainingManager
from ...backend.rave.log_interval import first_points_note
from ...backend.status import FINAL
from ...backend.store.tiles import buckets_to_xy
from ...core.series_loader import SeriesLoader
from .plot_style import LR, VALIDATION, series_kind, shown_by_default

PARENT_ALPHA = 0.3
NO_POINTS = "No metrics logged yet"
MIN_STEP_SPAN = 10  # the x axis spans at least this many steps: no "146 146 146" ticks


def step_limits(xmin: float, xmax: float) -> tuple[float, float]:
    """The x limits for data from step ``xmin`` to ``xmax``: a little margin, and at least
    MIN_STEP_SPAN steps wide (not below step 0 when the data is not), so that one point or a few
    close ones get distinct whole-step ticks."""
    pad = max((xmax - xmin) * 0.02, 0.5)
    lo, hi = xmin - pad, xmax + pad
    if hi - lo < MIN_STEP_SPAN:
        grow = (MIN_STEP_SPAN - (hi - lo)) / 2
        lo, hi = lo - grow, hi + grow
        if xmin >= 0 and lo < -0.5:
            lo, hi = -0.5, hi + (-0.5 - lo)
    return lo, hi


@dataclass(eq=False)
class HistorySeries:
    """One series of the parent run (up to the step the child resumed from)."""

    name: str
    kind: str
    x: np.ndarray
    y: np.ndarray
    line: Line2D
    visible: bool = True


@dataclass(frozen=True)
class _Read:
    note: str
    series: dict[str, tuple[np.ndarray, np.ndarray]]
    parent_name: str


def read_context(manager: TrainingManager, experiment_id: int, buckets: int) -> _Read:
    """The note before a run's first point and its parent's series (reduced to ``buckets``),
    up to the step it resumed from. Runs on the loader thread."""
    exp = manager.get_experiment(experiment_id)
    n_examples = None
    if exp.dataset_id is not None:
        n_examples = manager.datasets.get(exp.dataset_id).n_examples
    note = first_points_note(exp.config, n_examples, ended=exp.status in FINAL)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    parent_name = ""
    if exp.parent_id is not None:
        parent_name = manager.get_experiment(exp.parent_id).name
        end = exp.config.get("start_step")
        for name in manager.metrics.names(exp.parent_id):
            reduced = manager.metrics.reduced(exp.parent_id, name, None, end, buckets)
            x, y = buckets_to_xy(reduced)
            if x.size:
                series[name] = (x, y)
    return _Read(note, series, parent_name)


class RunContext(QObject):
    """The shown run's note and parent history; ``changed`` (and ``on_change``) once they are
    read."""

    changed = pyqtSignal()
    _loaded = pyqtSignal(int, object)  # ticket, _Read | None

    def __init__(
        self,
        manager: TrainingManager,
        ax: Axes,
        ax_lr: Axes,
        parent: QObject,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self._fresh = False  # lines added since the last sync: the limits change
        if on_change is not None:
            self.changed.connect(on_change)
        self.manager = manager
        self.ax, self.ax_lr = ax, ax_lr
        self.note = NO_POINTS
        self.parent_name = ""
        self.series: list[HistorySeries] = []
        self.caption: Any = None  # says whose the faint lines are
        self._tickets = itertools.count(1)
        self._ticket = 0
        self._loaded.connect(self._on_loaded)

    def set_experiment(self, experiment_id: int | None, buckets: int) -> None:
        self._clear()
        self.note = NO_POINTS  # until the run's own note is read
        self._ticket = ticket = next(self._tickets)
        if experiment_id is None:
            return

        def job() -> None:
            try:
                result: _Read | None = read_context(self.manager, experiment_id, buckets)
            except Exception:  # a database error: no note, no history (the plot says why)
                result = None
            try:
                self._loaded.emit(ticket, result)
            except RuntimeError:  # the plot was deleted meanwhile
                pass

        SeriesLoader.pool().start(job)

    def _clear(self) -> None:
        for s in self.series:
            s.line.remove()
        if self.caption is not None:
            self.caption.remove()
            self.caption = None
        self.series = []
        self.parent_name = ""

    def _on_loaded(self, ticket: int, result: _Read | None) -> None:
        if ticket != self._ticket or result is None:
            return
        self._clear()
        self.note, self.parent_name = result.note, result.parent_name
        for name, (x, y) in result.series.items():
            kind = series_kind(name)
            (line,) = (self.ax_lr if kind == LR else self.ax).plot(
                x, y, color="#888888", linewidth=1.0, alpha=PARENT_ALPHA, label=f"_parent {name}"
            )
            self.series.append(HistorySeries(name, kind, x, y, line))
        if self.series:
            self.caption = self.ax.text(
                0.01, 0.99, f"faint: the history of {result.parent_name}, resumed here",
                transform=self.ax.transAxes, ha="left", va="top", fontsize=8, color="#888888",
            )  # fmt: skip
        self._fresh = True
        self.changed.emit()

    def sync(self, shown: Mapping[str, Any]) -> bool:
        """Each parent line in the colour of the run's own series of that name, shown when it
        is (a series the run has not logged yet: as by default, in grey). True when the lines
        are new since the last sync (the plot's limits must take them in)."""
        fresh, self._fresh = self._fresh, False
        for own in shown.values():  # a line of a single point is invisible: a dot
            if own.line is not None and own.kind != VALIDATION:
                own.line.set_marker("o" if own.x.size == 1 else "None")
        for s in self.series:
            own = shown.get(s.name)
            s.visible = own.visible if own is not None else shown_by_default(s.name)
            if own is not None:
                s.line.set_color(own.color)
            s.line.set_visible(s.visible)
        return fresh

    def show_axes(self, own: Iterable[Any], *, empty: bool) -> None:
        """The axes under the data, none under a note alone (no empty 0-1 axis); the loss axis
        only once there is a loss to read on it (the learning rates have their own)."""
        loss = not empty and any(s.kind != LR and s.x.size for s in [*own, *self.series])
        self.ax.xaxis.set_visible(not empty)
        self.ax.spines["bottom"].set_visible(not empty)
        self.ax.yaxis.set_visible(loss)
        self.ax.spines["left"].set_visible(loss)
        self.ax.grid(not empty, axis="x")
        self.ax.grid(loss, axis="y")


__all__ = ["HistorySeries", "RunContext", "read_context", "step_limits"]
