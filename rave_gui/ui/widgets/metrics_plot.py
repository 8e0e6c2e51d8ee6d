"""MetricsPlot: a run's loss terms, validation and learning rates, live and fast at any length.

What is drawn is always the store's min/max reduction (``MetricStore.reduced``) to
about the axes' width in pixels, so a run of millions of steps draws as fast as a short one and
no spike or NaN is hidden. Reads run on a background thread (the first read of a freshly
imported run builds its tiles, which takes a while); the newest request for a series wins.

Live points (``AppSignals.run_metrics``) are appended to each series' tail at once and drawn by
a coalescing timer: at most one draw every ``MIN_DRAW_INTERVAL_MS`` (every
``LIVE_DRAW_INTERVAL_MS`` when only new live points changed, and only when they change what is
on screen). When a tail grows long, only
the steps after what was read are read back from the store, reduced at the same bucket width, and
appended (see ``plot_series``). A followed view grows with headroom, so most new points leave the
limits as they are: then only the lines are drawn again (blitted). A hidden plot (page not shown,
window minimised) does nothing with live points; it catches up from the store when shown.

Zooming or panning with the toolbar re-reads the visible step range (with a margin on both sides
for panning) at full resolution; Home returns to following the whole run.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PyQt6.QtCore import QEvent, Qt, QTimer
from PyQt6.QtGui import QAction, QPalette
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ...backend.manager import TrainingManager
from ...backend.store.records import Alert
from ...core.series_loader import SeriesLoader, SeriesRequest, SeriesResult
from ...core.signals import AppSignals
from .plot_controls import PlotToolbar, SeriesLegend
from .plot_history import RunContext
from .plot_live import LiveWatch
from .plot_readout import HoverCursor, ValuesReadout, values_at
from .plot_series import (
    TAIL_FOLD_POINTS,
    LineBlitter,
    changes_screen,
    first_change,
    merge_tail,
    set_store_part,
    update_nan_marks,
)
from .plot_series import PlotSeries as _Series
from .plot_style import (
    LR,
    colour_axes,
    log_axis,
    make_line,
    series_color,
    series_kind,
    series_order,
    shown_by_default,
    style_axes,
    swatch,
)

MIN_DRAW_INTERVAL_MS = 250  # at most 4 full draws a second
LIVE_DRAW_INTERVAL_MS = 1000  # new live points alone: drawn once a second at most
MIN_BUCKETS = 50


class MetricsPlot(LiveWatch, QWidget):
    """Loss terms and validation on one axis, learning rates on a log-scale axis."""

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.experiment_id: int | None = None
        self.draw_count = 0
        self.last_draw_ms = 0.0
        self._series: dict[str, _Series] = {}
        self._user_visibility: dict[str, bool] = {}
        self._tickets = itertools.count(1)
        self._follow = True  # limits follow the whole run; False once the user zooms or pans
        self._loaded_range: tuple[float, float] | None = None
        self._loaded_width = 0
        self._setting_limits = False
        self._limits_dirty = True
        self._limits_live = False  # live points may have moved past the limits
        self._dirty = False
        self._full_draw = True  # more than the lines changed since the last draw
        self._changed_from = math.inf
        self.full_draw_count = 0
        self._stale = False  # live points came while hidden: catch up from the store on show
        self._minimised = False
        self._last_draw = 0.0
        self._error: str | None = None
        self._alert_marks: list[Any] = []  # a dashed vertical line at each alert's step

        self._loader = SeriesLoader(manager, self)
        self._loader.loaded.connect(self._on_loaded)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._view_timer = QTimer(self)  # reads a zoomed or panned view once it settles
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(120)
        self._view_timer.timeout.connect(self._request_loads)

        self._build_figure()
        self.context = RunContext(manager, self.ax, self.ax_lr, self, self._mark_dirty)
        self._build_ui()
        self._apply_palette()
        self._update_empty_text()
        if signals is not None:
            signals.run_metrics.connect(self.add_points)

    # --- construction --------------------------------------------------------------------------
    def _build_figure(self) -> None:
        self.figure = Figure(figsize=(6, 3.5), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumSize(240, 160)
        ax = self.figure.add_subplot(111)
        ax_lr = ax.twinx()
        style_axes(ax, ax_lr)
        ax_lr.set_visible(False)
        self.ax = ax
        self.ax_lr = ax_lr
        self._empty_text = ax.text(
            0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center", fontsize=10
        )
        ax.callbacks.connect("xlim_changed", self._on_xlim_changed)
        self._blitter = LineBlitter(self.canvas, ax, self._animated)
        self.canvas.mpl_connect("resize_event", self._on_resize)

    def _build_ui(self) -> None:
        self.toolbar = PlotToolbar(self.canvas, self, self.follow_whole_run)
        self.log_action = QAction("log y", self)
        self.log_action.setCheckable(True)
        self.log_action.setToolTip("Logarithmic loss axis")
        self.log_action.toggled.connect(self.set_log_scale)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.log_action)
        self.values_label = ValuesReadout()
        self._cursor = HoverCursor(
            self.canvas, self.ax, self.ax_lr, self.toolbar, self._update_values_label
        )

        self.legend = SeriesLegend()
        self.legend.toggled.connect(self._on_legend_toggled)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.toolbar)
        top.addStretch(1)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(4)
        body.addWidget(self.canvas, 1)
        body.addWidget(self.legend)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.values_label)
        lay.addLayout(body, 1)

    def _apply_palette(self) -> None:
        pal = self.palette()
        fg = self._fg = colour_axes(self.figure, self.ax, self.ax_lr, pal)
        self._cursor.line.set_color(fg)
        self._empty_text.set_color(pal.color(QPalette.ColorRole.PlaceholderText).name())
        val = self._series.get("validation")
        if val is not None:
            val.color = fg
            if val.line is not None:
                val.line.set_color(fg)
            val.item.setIcon(swatch(fg))
        self._mark_dirty()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    # --- public API ----------------------------------------------------------------------------
    def set_experiment(self, experiment_id: int | None) -> None:
        """Show a run's whole history (and its live points from then on); None clears."""
        self._loader.cancel()
        for s in self._series.values():
            for artist in (s.line, s.nan_line):
                if artist is not None:
                    artist.remove()
        self._series.clear()
        self.legend.clear()
        self.set_alerts([])  # the panel gives the run's own
        self.experiment_id = experiment_id
        self._follow = True
        self._loaded_range = None
        self._error = None
        self.toolbar.forget_views()
        if experiment_id is not None:
            try:
                names = self.manager.metrics.names(experiment_id)
            except Exception as err:  # a database error: shown on the plot
                names = []
                self._error = str(err)
            for name in sorted(names, key=series_order):
                self._add_series(name)
        self.context.set_experiment(experiment_id, self._buckets())
        self._limits_dirty = True
        self._update_empty_text()
        self._request_loads()
        self._mark_dirty()

    def set_alerts(self, alerts: Sequence[Alert]) -> None:
        """Mark the alerts' steps (a dashed line in the severity's colour; the kind as its
        label) on the plot."""
        from .run_alerts import SEVERITY_COLORS

        for mark in self._alert_marks:
            mark.remove()
        self._alert_marks = [
            self.ax.axvline(
                a.step,
                color=SEVERITY_COLORS.get(a.severity, SEVERITY_COLORS["warning"]),
                linestyle="--",
                linewidth=1.0,
                alpha=0.8,
                label=f"_alert {a.kind}",  # leading underscore: not in a legend
                zorder=1,
            )
            for a in alerts
            if a.step is not None
        ]
        self._mark_dirty()

    def alert_steps(self) -> list[int]:
        """The steps marked on the plot (one per alert with a step)."""
        return [int(m.get_xdata()[0]) for m in self._alert_marks]

    def refresh(self) -> None:
        """Read the shown run again from the store."""
        self.set_experiment(self.experiment_id)

    def add_points(self, experiment_id: int, points: dict) -> None:
        """New live points ``{name: [(step, value), ...]}`` (the AppSignals.run_metrics slot)."""
        if experiment_id != self.experiment_id or not points:
            return
        if self._hidden():
            self._stale = True  # nothing to do now: read from the store when shown
            return
        width = self._buckets()
        xlim = self.ax.get_xlim()
        px = self.ax.bbox.width / max(xlim[1] - xlim[0], 1e-9)  # pixels a step
        shown = False  # whether a new point changes what is on screen
        first = False  # a series' first points: axes and limits change, drawn without delay
        for name, pts in points.items():
            if not pts:
                continue
            s = self._series.get(name)
            first = first or s is None or (s.visible and s.x.size == 0)
            if s is None:
                s = self._add_series(str(name), resort=True)
                s.loaded = True  # nothing in the store before these points matters yet
                self._update_empty_text()
            n = len(s.tail_x)
            for step, value in pts:
                if s.store_last is None or step > s.store_last:
                    s.tail_x.append(int(step))
                    s.tail_y.append(float(value))
            s.data_dirty = True
            new = (s.tail_x[n:], s.tail_y[n:])
            shown = shown or changes_screen(s, *new, xlim, px, self._follow)
            if s.store_width and self._follow and len(s.tail_x) > TAIL_FOLD_POINTS:
                s.tail_due = True  # read back the steps after the store part, reduced
            elif len(s.tail_x) > 2 * width and s.visible:
                s.loaded = False  # long enough: read it back reduced from the store
        self._request_loads()
        if shown:  # else drawn with the next point that does
            self._limits_live = self._limits_live or self._follow
            self._mark_dirty(lines_only=not first)

    def series_names(self) -> list[str]:
        return list(self._series)

    def visible_series(self) -> list[str]:
        return [n for n, s in self._series.items() if s.visible]

    def is_series_visible(self, name: str) -> bool:
        s = self._series.get(name)
        return bool(s and s.visible)

    def set_series_visible(self, name: str, visible: bool) -> None:
        s = self._series.get(name)
        if s is None:
            return
        s.item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    def line_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The points drawn for a series (after the last draw)."""
        s = self._series.get(name)
        if s is None or s.line is None:
            return np.empty(0), np.empty(0)
        x, y = s.line.get_data()
        return np.asarray(x), np.asarray(y)

    def loading(self) -> bool:
        """Reads are pending (tests wait for this to become False)."""
        return any(s.ticket for s in self._series.values())

    def follow_whole_run(self) -> None:
        """Leave a zoomed view: limits follow all the data again."""
        self._follow = True
        self._loaded_range = None
        self._limits_dirty = True
        for s in self._series.values():
            s.loaded = False
        self._request_loads()
        self._mark_dirty()

    def set_log_scale(self, on: bool) -> None:
        self.ax.set_yscale("log" if on else "linear")
        if on:
            log_axis(self.ax.yaxis)
        else:
            self.ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
        self._limits_dirty = True
        self._mark_dirty()

    def shutdown(self) -> None:
        """Stop drawing and reading (the window is closing); waits for a read under way."""
        self._timer.stop()
        self._view_timer.stop()
        self._loader.cancel()
        SeriesLoader.pool().waitForDone(5000)

    def redraw_now(self) -> None:
        """Draw at once (benchmarks and screenshots)."""
        self._timer.stop()
        self._flush(force=True)

    # --- series --------------------------------------------------------------------------------
    def _add_series(self, name: str, resort: bool = False) -> _Series:
        visible = self._user_visibility.get(name, shown_by_default(name))
        used = {s.color for s in self._series.values()}
        color = series_color(name, used, len(self._series), self._fg)
        row = None
        if resort:
            keys = [series_order(n) for n in self._series]
            row = sum(1 for k in keys if k < series_order(name))
        kind = series_kind(name)
        item = self.legend.add_series(name, kind, color, visible, row)
        s = self._series[name] = _Series(name, kind, color, visible, item)
        return s

    def _on_legend_toggled(self, name: str, visible: bool) -> None:
        s = self._series.get(name)
        if s is None or visible == s.visible:
            return
        s.visible = visible
        self._user_visibility[name] = visible
        s.data_dirty = True
        if self._follow:
            self._limits_dirty = True
        self._request_loads()
        self._mark_dirty()

    # --- reading -------------------------------------------------------------------------------
    def _buckets(self) -> int:
        w = self.ax.bbox.width
        if not w or w < MIN_BUCKETS:
            w = self.canvas.width() * 0.8
        return max(MIN_BUCKETS, int(w))

    def _request_loads(self) -> None:
        """Ask the loader for every visible series whose store part is not current. A zoomed
        view reads all visible series again, so that they all cover the same range."""
        if self.experiment_id is None:
            return
        wanted = [s for s in self._series.values() if s.visible and not s.loaded]
        if self._follow:
            self._request_tails([s for s in self._series.values() if s.loaded])
        if not wanted:
            return
        buckets = self._buckets()
        self._loaded_width = buckets
        start = end = None
        if not self._follow:
            lo, hi = self.ax.get_xlim()
            span = max(hi - lo, 1.0)
            start, end = math.floor(lo - span / 2), math.ceil(hi + span / 2)
            buckets *= 2  # the margins double the range: same density on screen
            self._loaded_range = (lo - span / 2, hi + span / 2)
            wanted = [s for s in self._series.values() if s.visible]
        reqs = []
        for s in wanted:
            s.ticket = next(self._tickets)
            s.loaded = True
            reqs.append(SeriesRequest(self.experiment_id, s.name, start, end, buckets, s.ticket))
        self._loader.request(reqs)

    def _on_loaded(self, results: list[SeriesResult]) -> None:
        lines_only = True
        for r in results:
            s = self._series.get(r.request.name)
            if (
                s is None
                or r.request.experiment_id != self.experiment_id
                or r.request.ticket != s.ticket
            ):
                continue  # an answer to an older question
            s.ticket = 0
            if r.error is not None:
                self._error = r.error
                continue
            req = r.request
            if req.width is not None:  # a tail read
                merge_tail(s, r.x, r.y, r.last_step)
                lines_only = lines_only and s.store_x.size <= 8 * self._buckets()
                if s.store_x.size > 8 * self._buckets():  # the run grew a lot: read it anew
                    s.loaded = False
                continue
            lines_only = False
            width = 0.0
            if r.x.size:
                lo = r.x[0] if req.start is None else req.start
                hi = r.x[-1] if req.end is None else req.end
                width = max(1.0, (float(hi) - float(lo) + 1) / req.buckets)
            set_store_part(s, r.x, r.y, r.last_step, width)
        if self._follow:  # a whole read sets the limits anew; a tail read may grow them
            self._limits_dirty = self._limits_dirty or not lines_only
            self._limits_live = True
        self._request_loads()
        self._mark_dirty(lines_only=lines_only)

    # --- drawing -------------------------------------------------------------------------------
    def _mark_dirty(self, lines_only: bool = False) -> None:
        self._dirty = True
        self._full_draw = self._full_draw or not lines_only
        interval = MIN_DRAW_INTERVAL_MS if self._full_draw else LIVE_DRAW_INTERVAL_MS
        wait = int(max(0, interval - (time.monotonic() - self._last_draw) * 1000))
        if not self._timer.isActive() or self._timer.remainingTime() > wait:
            self._timer.start(wait)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._minimised = False
        if self._stale:
            self._catch_up()
        if self._dirty:
            self._mark_dirty()

    def _flush(self, force: bool = False) -> None:
        if not self._dirty and not force:
            return
        if not force and self._hidden():
            return  # drawn when shown
        self._dirty = False
        before = self._view_key()
        self._changed_from = math.inf  # the step from which the lines changed (see _blit)
        self._update_lines()
        self._limits_dirty |= self.context.sync(self._series)  # the parent's history, as shown
        self._update_empty_text()
        if self._follow and (self._limits_dirty or self._limits_live):
            self._set_limits()
        if (
            not force
            and not self._full_draw
            and self._view_key() == before
            and self._blitter.can_blit()
        ):
            self._blit()  # only lines changed: no axes, ticks or labels to draw again
            return
        self._full_draw = False
        self._layout_margins()
        self._draw()

    def _update_lines(self) -> None:
        any_lr = False
        for s in self._series.values():
            if s.data_dirty:
                s.data_dirty = False
                old = (s.x, s.y)
                if s.tail_x:
                    s.x = np.concatenate((s.store_x, np.asarray(s.tail_x, dtype=np.int64)))
                    s.y = np.concatenate((s.store_y, np.asarray(s.tail_y, dtype=np.float64)))
                else:
                    s.x, s.y = s.store_x, s.store_y
                if s.line is None and s.x.size:
                    s.line = make_line(
                        self.ax_lr if s.kind == LR else self.ax, s.name, s.kind, s.color
                    )
                    s.line.set_animated(True)  # drawn by the blitter, over the axes
                if s.line is not None:
                    s.line.set_data(s.x, s.y)
                if s.visible:  # where the lines changed: only there are they drawn again
                    self._changed_from = min(self._changed_from, first_change(*old, s.x, s.y))
                update_nan_marks(s, self.ax, self.ax_lr)
            if s.line is not None:
                if s.line.get_visible() != s.visible:
                    self._changed_from = -math.inf
                s.line.set_visible(s.visible)
            if s.nan_line is not None:
                s.nan_line.set_visible(s.visible)
            any_lr = any_lr or (s.visible and s.kind == LR and s.x.size > 0)
        if any_lr != self.ax_lr.get_visible():
            self.ax_lr.set_visible(any_lr)
            self._limits_dirty = True

    def _layout_margins(self) -> None:
        w, h = self.canvas.width(), self.canvas.height()
        if w < 50 or h < 50:
            return
        right = 74 if self.ax_lr.get_visible() else 14  # "6×10⁻⁴" and the axis label
        self.figure.subplots_adjust(
            left=min(0.4, 56 / w),
            right=max(0.6, 1 - right / w),
            bottom=min(0.4, 34 / h),
            top=max(0.6, 1 - 10 / h),
        )

    def _draw(self) -> None:
        t0 = time.perf_counter()
        self.canvas.draw()
        self.last_draw_ms = (time.perf_counter() - t0) * 1000
        self._last_draw = time.monotonic()
        self.draw_count += 1
        self.full_draw_count += 1
        self._update_values_label(None)

    def _update_empty_text(self) -> None:
        points = self.context.series or any(s.x.size for s in self._series.values())
        if self._error:
            text = f"Cannot read the metrics: {self._error}"
        elif self.experiment_id is None:
            text = "Select a run to see its curves"
        elif self.loading() and not points:
            text = "Reading the metrics…"
        else:  # before the first loss: what comes, and when
            text = self.context.note if all(s.kind == LR for s in self._series.values()) else ""
        self._empty_text.set_text(text)
        self.context.show_axes(self._series.values(), empty=bool(text) and not points)
        self.legend.setVisible(bool(self._series))

    # --- view changes and the readout ----------------------------------------------------------
    def _on_xlim_changed(self, _ax: Any) -> None:
        if self._setting_limits:
            return
        self._follow = False
        lo, hi = self.ax.get_xlim()
        lr = self._loaded_range
        span = hi - lo
        if lr is not None and lr[0] <= lo and hi <= lr[1] and (lr[1] - lr[0]) <= 4 * span:
            return  # still inside what was read, at a similar resolution
        for s in self._series.values():
            s.loaded = False
        self._view_timer.start()  # a pan sends many changes: read once it settles

    def _on_resize(self, _event: Any) -> None:
        self._layout_margins()
        if self._loaded_width and abs(self._buckets() - self._loaded_width) > (
            0.25 * self._loaded_width
        ):
            for s in self._series.values():
                s.loaded = False
            self._request_loads()
        # Matplotlib draws the resized figure whole itself (draw_idle): the lines drawn since
        # are blitted over it, not drawn whole a second time.
        self._mark_dirty(lines_only=True)

    def values_at(self, x: float | None) -> tuple[int | None, list[tuple[str, str, float]]]:
        """The step nearest to ``x`` (None: the last step) and (name, colour, value) of each
        visible series at its point nearest to that step."""
        return values_at(self._series.values(), x)

    def _update_values_label(self, x: float | None) -> None:
        step, vals = self.values_at(x)
        self.values_label.show_values(step, vals, hovering=x is not None)


__all__ = ["MetricsPlot"]
