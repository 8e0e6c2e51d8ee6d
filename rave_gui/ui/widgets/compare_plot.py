"""ComparePlot: one metric of 2 to 10 runs overlaid, one colour per run.

Each run's series is the store's min/max reduction (``MetricStore.reduced``, the single-run
plot's), read off the GUI thread with the wall time of each point, so the x axis can be the
step, the time since the run started or the wall-clock time. Smoothing is TensorBoard's
debiased exponential moving average (``ema_smooth``), drawn over the raw curve kept faint
behind. A redraw only smooths the reduced points and moves the lines' data: 10 runs of a
million points each redraw in a few tens of milliseconds (bench/bench_compare.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from PyQt6.QtCore import QEvent, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QPalette
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ...backend.manager import TrainingManager
from ...backend.runs.compare import Curve, common_metrics, ema_smooth, load_curve
from ...core.worker import run_in_background
from .plot_controls import PlotToolbar
from .plot_style import StepFormatter, log_axis

# One colour per run, by its place in the comparison (the same in every plot and table).
RUN_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip
X_STEP, X_RELATIVE, X_WALL = "step", "relative", "wall"
X_MODES = {X_STEP: "Step", X_RELATIVE: "Relative time", X_WALL: "Wall time"}
RAW_ALPHA = 0.3
SLIDER_MAX = 999  # the slider's weight: value / 1000 (0 .. 0.999)
MIN_BUCKETS = 200
PX_PER_BUCKET = 3
FEW_POINTS = 60  # a curve of at most this many points shows a dot at each


def run_color(position: int) -> str:
    return RUN_COLORS[position % len(RUN_COLORS)]


def _time_unit(span_s: float) -> tuple[float, str]:
    if span_s >= 3 * 3600:
        return 3600.0, "hours"
    if span_s >= 3 * 60:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _thin(n: int, width: int) -> np.ndarray | slice:
    """Every k-th of ``n`` points (and the last) so that about ``width`` remain; NaN and
    infinite values are kept where they fall (they break the line)."""
    k = -(-n // max(width, 1))
    if k <= 1:
        return slice(None)
    idx = np.arange(0, n, k)
    return idx if idx[-1] == n - 1 else np.append(idx, n - 1)


class ComparePlot(QWidget):
    """Overlaid curves of one metric for the runs given to ``set_runs``."""

    metric_changed = pyqtSignal(str)
    loaded = pyqtSignal()  # the curves of the current metric are in and drawn

    def __init__(self, manager: TrainingManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.runs: list[tuple[int, str]] = []
        self.metric: str | None = None
        self.x_mode = X_STEP
        self.smoothing = 0.6
        self.log_scale = False
        self.error: str | None = None
        self.last_draw_ms = 0.0
        self._curves: dict[tuple[int, str], Curve] = {}
        self._lines: dict[int, tuple[Line2D, Line2D]] = {}  # run id -> (raw, smoothed)
        self._generation = 0
        self._pending = 0  # background reads not yet delivered

        self.metric_combo = QComboBox()
        self.metric_combo.setMinimumContentsLength(12)
        self.metric_combo.currentTextChanged.connect(self._on_metric_combo)
        self.x_combo = QComboBox()
        for key, label in X_MODES.items():
            self.x_combo.addItem(label, key)
        self.x_combo.currentIndexChanged.connect(
            lambda i: self.set_x_mode(str(self.x_combo.itemData(i)))
        )
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, SLIDER_MAX)
        self.smooth_slider.setValue(round(self.smoothing * 1000))
        self.smooth_slider.setFixedWidth(90)
        self.smooth_slider.setToolTip(
            "TensorBoard's smoothing: a debiased exponential moving average (0: raw)"
        )
        self.smooth_slider.valueChanged.connect(lambda v: self.set_smoothing(v / 1000))
        self.smooth_label = QLabel()
        self.smooth_label.setMinimumWidth(36)
        self.log_check = QCheckBox("log y")
        self.log_check.toggled.connect(self.set_log_scale)

        self.figure = Figure(figsize=(7, 3.6), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumSize(300, 180)
        self.ax = self.figure.add_subplot(111)
        self.ax.tick_params(which="both", labelsize=8)
        self.ax.tick_params(length=3)
        for side in ("top", "right"):
            self.ax.spines[side].set_visible(False)
        self._message = self.ax.text(
            0.5, 0.5, "", transform=self.ax.transAxes, ha="center", va="center", fontsize=10
        )
        self.toolbar = PlotToolbar(self.canvas, self, self.autoscale)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Metric"))
        controls.addWidget(self.metric_combo)
        controls.addSpacing(6)
        controls.addWidget(QLabel("x axis"))
        controls.addWidget(self.x_combo)
        controls.addSpacing(6)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smooth_slider)
        controls.addWidget(self.smooth_label)
        controls.addSpacing(6)
        controls.addWidget(self.log_check)
        controls.addStretch(1)
        controls.addWidget(self.toolbar)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(controls)
        lay.addWidget(self.canvas, 1)
        self._update_smooth_label()
        self._apply_palette()
        self._set_message("Choose 2 to 10 runs to compare.")

    # --- public API ----------------------------------------------------------------------------
    def set_runs(self, runs: Sequence[tuple[int, str]]) -> None:
        """Compare these runs, given as (id, name) in the order of their colours."""
        runs = list(runs)
        if runs == self.runs:
            return
        self.runs = runs
        self._generation += 1
        self._curves.clear()
        for raw, smooth in self._lines.values():
            raw.remove()
            smooth.remove()
        self._lines.clear()
        self._update_legend()
        if not runs:
            with QSignalBlocker(self.metric_combo):
                self.metric_combo.clear()
            self._set_message("Choose 2 to 10 runs to compare.")
            self.redraw_now()
            return
        for pos, (rid, name) in enumerate(runs):
            color = run_color(pos)
            (raw,) = self.ax.plot([], [], color=color, linewidth=0.8, alpha=RAW_ALPHA, zorder=2)
            (smooth,) = self.ax.plot([], [], color=color, linewidth=1.6, markersize=3, zorder=3)
            smooth.set_label(f"#{rid} {name}")
            self._lines[rid] = (raw, smooth)
        self._update_legend()
        self._set_message("Reading the runs…")
        self.redraw_now()
        gen, manager, ids = self._generation, self.manager, [r for r, _ in runs]
        self._pending += 1
        run_in_background(
            lambda: common_metrics(manager, ids),
            lambda names: self._names_loaded(gen, names),
            lambda err: self._load_failed(gen, err),
        )

    def reload(self) -> None:
        """Read the runs' curves again (live runs have grown); the view is kept."""
        if not self.runs or self.metric is None:
            return
        self._generation += 1
        self._curves.clear()
        self._request_curves(autoscale=False)

    def set_metric(self, name: str) -> None:
        if name == self.metric:
            return
        self.metric = name
        if self.metric_combo.currentText() != name:
            with QSignalBlocker(self.metric_combo):
                self.metric_combo.setCurrentIndex(self.metric_combo.findText(name))
        self.metric_changed.emit(name)
        self._request_curves()

    def metrics(self) -> list[str]:
        return [self.metric_combo.itemText(i) for i in range(self.metric_combo.count())]

    def set_x_mode(self, mode: str) -> None:
        if mode not in X_MODES:
            raise ValueError(f"unknown x axis {mode!r}")
        self.x_mode = mode
        with QSignalBlocker(self.x_combo):
            self.x_combo.setCurrentIndex(list(X_MODES).index(mode))
        self.redraw_now(autoscale=True)

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = min(max(float(weight), 0.0), SLIDER_MAX / 1000)
        with QSignalBlocker(self.smooth_slider):
            self.smooth_slider.setValue(round(self.smoothing * 1000))
        self._update_smooth_label()
        self.redraw_now()

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = bool(on)
        with QSignalBlocker(self.log_check):
            self.log_check.setChecked(self.log_scale)
        self.redraw_now(autoscale=True)

    @property
    def loading(self) -> bool:
        return self._pending > 0

    def curve(self, run_id: int) -> Curve | None:
        return self._curves.get((run_id, self.metric or ""))

    def line_data(self, run_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The smoothed curve drawn for a run (x in the axis' units, y)."""
        return self._xy(self._lines[run_id][1])

    def raw_line_data(self, run_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw curve drawn faint behind the smoothed one."""
        return self._xy(self._lines[run_id][0])

    def line_color(self, run_id: int) -> str:
        return str(self._lines[run_id][1].get_color())

    def raw_alpha(self, run_id: int) -> float:
        return float(self._lines[run_id][0].get_alpha() or 1.0)

    @staticmethod
    def _xy(line: Line2D) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)

    # --- loading -------------------------------------------------------------------------------
    def _axes_px(self) -> int:
        w = self.ax.bbox.width
        return int(w) if w and w >= MIN_BUCKETS else int(self.canvas.width() * 0.85)

    def _buckets(self) -> int:
        """Min/max buckets of three pixels: every spike stays, a third of the points to draw."""
        return max(MIN_BUCKETS, self._axes_px() // PX_PER_BUCKET)

    def _names_loaded(self, gen: int, names: list[str]) -> None:
        self._pending -= 1
        if gen != self._generation:
            return
        keep = self.metric if self.metric in names else (names[0] if names else None)
        with QSignalBlocker(self.metric_combo):
            self.metric_combo.clear()
            self.metric_combo.addItems(names)
            if keep is not None:
                self.metric_combo.setCurrentIndex(names.index(keep))
        if keep is None:
            self._set_message("These runs have logged no metrics yet.")
            self.redraw_now()
            return
        self.metric = None  # read it afresh for the new runs
        self.set_metric(keep)

    def _on_metric_combo(self, name: str) -> None:
        if name:
            self.set_metric(name)

    def _request_curves(self, autoscale: bool = True) -> None:
        metric = self.metric
        if metric is None:
            return
        missing = [rid for rid, _ in self.runs if (rid, metric) not in self._curves]
        if not missing:
            self.redraw_now(autoscale=True)
            self.loaded.emit()
            return
        gen, manager, buckets = self._generation, self.manager, self._buckets()
        self._pending += 1
        run_in_background(
            lambda: [load_curve(manager, rid, metric, buckets) for rid in missing],
            lambda curves: self._curves_loaded(gen, metric, curves, autoscale),
            lambda err: self._load_failed(gen, err),
        )

    def _curves_loaded(
        self, gen: int, metric: str, curves: list[Curve], autoscale: bool = True
    ) -> None:
        self._pending -= 1
        if gen != self._generation:
            return
        for c in curves:
            self._curves[(c.experiment_id, metric)] = c
        if metric != self.metric:
            return
        self.error = None
        self._set_message("")
        self.redraw_now(autoscale=autoscale)
        self.loaded.emit()

    def _load_failed(self, gen: int, err: Exception) -> None:
        self._pending -= 1
        if gen != self._generation:
            return
        self.error = str(err)
        self._set_message(f"Cannot read the runs: {err}")
        self.redraw_now()

    # --- drawing -------------------------------------------------------------------------------
    def _x_of(self, c: Curve, origin: float) -> np.ndarray:
        if self.x_mode == X_STEP:
            return c.steps.astype(float)
        if self.x_mode == X_RELATIVE:
            return c.walls - origin
        return c.walls / 86400.0  # matplotlib's dates: days since 1970

    def _origin(self, c: Curve) -> float:
        """Relative time counts from the run's start (else from the curve's first point)."""
        if c.started_at is not None:
            return float(c.started_at)
        ok = np.isfinite(c.walls)
        return float(c.walls[ok][0]) if ok.any() else 0.0

    def redraw_now(self, autoscale: bool = False) -> None:
        """Smooth and draw the loaded curves now (the time it took: ``last_draw_ms``)."""
        t0 = time.perf_counter()
        metric = self.metric or ""
        spans = []
        for rid, (raw, smooth) in self._lines.items():
            c = self._curves.get((rid, metric))
            if c is None:
                raw.set_data([], [])
                smooth.set_data([], [])
                continue
            origin = self._origin(c)
            x = self._x_of(c, origin)
            if self.x_mode != X_STEP and np.isfinite(c.walls).any():
                spans.append(float(np.nanmax(c.walls)) - origin)
            y = c.values
            raw.set_data(x, y)
            raw.set_visible(self.smoothing > 0)
            if self.smoothing > 0:
                # The average is smooth: a point per two pixels draws it as well as all.
                sy = ema_smooth(y, self.smoothing)
                keep = _thin(y.size, self._axes_px() // 2)
                smooth.set_data(x[keep], sy[keep])
            else:
                smooth.set_data(x, y)
            smooth.set_marker("o" if y.size <= FEW_POINTS else "None")  # sparse: show each
        self._set_axes(max(spans, default=0.0), autoscale)
        self.canvas.draw()
        self.last_draw_ms = (time.perf_counter() - t0) * 1000

    def _set_axes(self, span_s: float, autoscale: bool) -> None:
        ax = self.ax
        scale = "log" if self.log_scale else "linear"
        if ax.get_yscale() != scale:
            ax.set_yscale(scale)
            if scale == "log":
                log_axis(ax.yaxis)
        if self.x_mode == X_STEP:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=7, integer=True))
            ax.xaxis.set_major_formatter(StepFormatter())
            ax.set_xlabel("step", fontsize=8)
        elif self.x_mode == X_RELATIVE:
            unit, label = _time_unit(span_s)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 3, 5, 6, 10]))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p, u=unit: f"{v / u:g}"))
            ax.set_xlabel(f"time since the run started ({label})", fontsize=8)
        else:
            tz = dt.datetime.now().astimezone().tzinfo
            ax.xaxis.set_major_locator(AutoDateLocator(tz=tz, minticks=3, maxticks=7))
            ax.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M", tz=tz))
            ax.set_xlabel("wall time", fontsize=8)
        ax.set_ylabel(self.metric or "", fontsize=8)
        if autoscale:
            self.autoscale()

    def autoscale(self) -> None:
        """Fit the axes to every run's curve (the toolbar's Home)."""
        xs, ys = [], []
        for raw, smooth in self._lines.values():
            for line in (raw, smooth):
                x, y = self._xy(line)
                ok = np.isfinite(x) & np.isfinite(y)
                if self.log_scale:
                    ok &= y > 0
                if ok.any():
                    xs += [x[ok].min(), x[ok].max()]
                    ys += [y[ok].min(), y[ok].max()]
        if not xs:
            return
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x0 == x1:
            x0, x1 = x0 - 1, x1 + 1
        xpad = (x1 - x0) * 0.01
        x0, x1 = x0 - xpad, x1 + xpad
        if self.log_scale:
            y0, y1 = y0 / 1.15, y1 * 1.15
        else:
            pad = (y1 - y0) * 0.05 or abs(y0) * 0.05 or 1.0
            y0, y1 = y0 - pad, y1 + pad
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.canvas.draw_idle()

    def _update_legend(self) -> None:
        """A legend of the runs' colours (a fixed corner: "best" would search every point)."""
        old = self.ax.get_legend()
        if old is not None:
            old.remove()
        if not self._lines:
            return
        fg = self.palette().color(QPalette.ColorRole.Text).name()
        legend = self.ax.legend(
            handles=[smooth for _raw, smooth in self._lines.values()],
            loc="upper right",
            fontsize=8,
            frameon=False,
            ncols=1 if len(self._lines) <= 5 else 2,
        )
        for text in legend.get_texts():
            text.set_color(fg)

    def _set_message(self, text: str) -> None:
        self._message.set_text(text)

    def message(self) -> str:
        return str(self._message.get_text())

    def _update_smooth_label(self) -> None:
        self.smooth_label.setText(f"{self.smoothing:.3f}".rstrip("0").rstrip(".") or "0")

    def _apply_palette(self) -> None:
        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base).name()
        fg = pal.color(QPalette.ColorRole.Text).name()
        grid = pal.color(QPalette.ColorRole.Mid).name()
        self.figure.set_facecolor(bg)
        self.ax.set_facecolor(bg)
        self.ax.tick_params(colors=fg, which="both")
        for sp in self.ax.spines.values():
            sp.set_color(grid)
        self.ax.xaxis.label.set_color(fg)
        self.ax.yaxis.label.set_color(fg)
        self.ax.grid(True, color=grid, linewidth=0.5, alpha=0.5)
        self._message.set_color(pal.color(QPalette.ColorRole.PlaceholderText).name())
        self.canvas.draw_idle()

    def changeEvent(self, event: QEvent | None) -> None:
        if event is not None and event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.figure.tight_layout(pad=0.6)


__all__ = ["RUN_COLORS", "X_MODES", "ComparePlot", "run_color"]
