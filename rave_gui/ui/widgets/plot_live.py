"""MetricsPlot's part that keeps watching a live run cheap: a hidden plot leaves live points
aside and catches up from the store when shown; long live tails are read back reduced, after
what was read; a followed view's limits grow with headroom, and when only the lines changed
they are blitted over the last full draw instead of a full draw."""

from __future__ import annotations

import time
from typing import Any

from ...core.series_loader import SeriesRequest
from .plot_history import step_limits
from .plot_series import PlotSeries, data_range, kept, with_headroom
from .plot_style import pad_range


class LiveWatch:
    """Mixed into MetricsPlot (which holds the state these methods use)."""

    # state of MetricsPlot, for the reader
    _series: dict[str, PlotSeries]
    experiment_id: int | None

    def _hidden(self) -> bool:
        return not self.isVisible() or self._minimised or self.window().isMinimized()

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._minimised = event.spontaneous()  # the window minimised: still "visible"

    def _catch_up(self) -> None:
        """Shown again after live points were left aside: read what came meanwhile (the steps
        after each series' store part; new series whole)."""
        self._stale = False
        if self.experiment_id is None:
            return
        try:
            names = self.manager.metrics.names(self.experiment_id)
        except Exception as err:  # a database error: shown on the plot
            self._error = str(err)
            names = []
        for name in names:
            if name not in self._series:
                self._add_series(name, resort=True)
        for s in self._series.values():
            if s.store_width and self._follow:
                s.tail_due = True
            else:
                s.loaded = False
        self._limits_live = self._follow
        self._update_empty_text()
        self._request_loads()
        self._mark_dirty()

    def _request_tails(self, series: list[PlotSeries]) -> None:
        """Read the steps after the store part of the series whose live tail grew long, at
        the store part's bucket width (merged in ``_on_loaded``)."""
        assert self.experiment_id is not None
        reqs = []
        for s in series:
            if s.tail_due and s.visible and not s.ticket and s.store_last is not None:
                s.tail_due = False
                s.ticket = next(self._tickets)
                reqs.append(
                    SeriesRequest(
                        self.experiment_id, s.name, s.store_last + 1, None, 1, s.ticket,
                        width=s.store_width,
                    )
                )  # fmt: skip
        if reqs:
            self._loader.request(reqs)

    def _view_key(self) -> tuple:
        """What a full draw depends on, besides the lines."""
        return (
            self.ax.get_xlim(),
            self.ax.get_ylim(),
            self.ax_lr.get_ylim(),
            self.ax_lr.get_visible(),
            self._empty_text.get_text(),
        )

    def _animated(self) -> list[Any]:
        """The series' lines and NaN marks (drawn over the rest: blitted), losses first."""
        out = []
        for ax in (self.ax, self.ax_lr):
            for s in self._series.values():
                for a in (s.line, s.nan_line):
                    if a is not None and a.axes is ax:
                        out.append(a)
        return sorted(out, key=lambda a: (a.axes is self.ax_lr, a.get_zorder()))

    def _blit(self) -> None:
        t0 = time.perf_counter()
        self._blitter.blit(self._changed_from)
        self._cursor._on_draw_event(None)  # the hover line's background: with the new lines
        self.last_draw_ms = (time.perf_counter() - t0) * 1000
        self._last_draw = time.monotonic()
        self.draw_count += 1
        self._update_values_label(None)

    def _set_limits(self) -> None:
        """Limits around the visible data. While only live points came (``_limits_live``),
        limits that still hold the data are kept, and steps grow with headroom."""
        grow_only = not self._limits_dirty
        self._limits_dirty = self._limits_live = False
        log_loss = self.ax.get_yscale() == "log"
        # the parent's history (a resumed run) counts too
        r = data_range([*self._series.values(), *self.context.series], log_loss)
        x = step_limits(*r.x) if r.x[0] <= r.x[1] else (0.0, 1.0)
        loss = pad_range(*r.loss, log_loss) if r.loss[0] <= r.loss[1] else None
        lr = pad_range(*r.lr, True) if r.lr[0] <= r.lr[1] else None
        self._setting_limits = True
        try:
            if r.x[0] > r.x[1]:
                self.ax.set_xlim(0, 1)
            elif not (grow_only and kept(self.ax.get_xlim(), (r.x[0], r.x[1]))):
                self.ax.set_xlim(*(with_headroom(*x) if grow_only else x))
            if loss is None:
                self.ax.set_ylim(*((1e-3, 1) if log_loss else (0, 1)))
            elif not (grow_only and kept(self.ax.get_ylim(), r.loss, log_loss)):
                self.ax.set_ylim(*loss)
            if lr is not None and not (grow_only and kept(self.ax_lr.get_ylim(), r.lr, True)):
                self.ax_lr.set_ylim(*lr)
        finally:
            self._setting_limits = False
        self.toolbar.forget_views()  # Home goes back to following, not to an old view
