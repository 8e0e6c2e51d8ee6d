"""MetricsPlot's series and what keeps watching a live run cheap: tail reads merged into what
is drawn, limits that grow with headroom (so most new points leave them as they are) and a
blitter that redraws only the lines over a copy of the last full draw."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox
from PyQt6.QtWidgets import QListWidgetItem

from .plot_style import LR, make_nan_marks

TAIL_FOLD_POINTS = 200  # live points drawn raw before the tail is read back reduced
X_HEADROOM = 0.1  # room left after the last step when a followed view grows
TOO_WIDE = 1.5  # limits wider than this times what the data needs are set again


@dataclass(eq=False)
class PlotSeries:
    name: str
    kind: str
    color: str
    visible: bool
    item: QListWidgetItem
    line: Line2D | None = None
    nan_line: Line2D | None = None
    # the part read from the store (reduced), and live points received after it
    store_x: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    store_y: np.ndarray = field(default_factory=lambda: np.empty(0))
    store_last: int | None = None
    store_width: float = 0.0  # steps per bucket of the store part (0: none read whole yet)
    tail_x: list[int] = field(default_factory=list)
    tail_y: list[float] = field(default_factory=list)
    loaded: bool = False  # the store part is current for the view
    tail_due: bool = False  # the live tail is to be read back reduced, after ``store_last``
    ticket: int = 0  # the read whose result is awaited (0: none)
    # what is drawn (store part + tail), kept for the values under the cursor
    x: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    y: np.ndarray = field(default_factory=lambda: np.empty(0))
    data_dirty: bool = True


def set_store_part(
    s: PlotSeries, x: np.ndarray, y: np.ndarray, last: int | None, width: float
) -> None:
    """A whole read of the view: it replaces the store part; its bucket width is kept for the
    tail reads to come."""
    s.store_x, s.store_y = x, y
    s.store_width = width
    if last is not None and (s.store_last is None or last > s.store_last):
        s.store_last = last
    drop_received(s)


def merge_tail(s: PlotSeries, x: np.ndarray, y: np.ndarray, last: int | None) -> None:
    """A tail read (the steps after ``store_last``): appended to the store part."""
    if s.store_last is not None and x.size:
        keep = x > s.store_last
        x, y = x[keep], y[keep]
    if x.size:
        s.store_x = np.concatenate((s.store_x, x))
        s.store_y = np.concatenate((s.store_y, y))
    if last is not None and (s.store_last is None or last > s.store_last):
        s.store_last = last
    drop_received(s)


def drop_received(s: PlotSeries) -> None:
    """Forget the live points the store part now holds."""
    if s.store_last is not None and s.tail_x:
        keep = [i for i, st in enumerate(s.tail_x) if st > s.store_last]
        s.tail_x = [s.tail_x[i] for i in keep]
        s.tail_y = [s.tail_y[i] for i in keep]
    s.data_dirty = True


def changes_screen(
    s: PlotSeries,
    steps: list[int],
    values: list[float],
    xlim: tuple[float, float],
    px: float,
    follow: bool,
) -> bool:
    """Whether new points of a series change what is on screen (``px``: pixels a step): a
    point off the view does not, nor one that falls in the pixel column of the last point
    drawn without stretching that column."""
    if not steps or not s.visible:
        return False
    if s.line is None or s.x.size == 0:
        return True
    last_step = max(steps)
    if follow and last_step > xlim[1]:
        return True  # the view grows
    if not follow and (last_step < xlim[0] or min(steps) > xlim[1]):
        return False
    drawn = float(s.x[-1])
    if (last_step - drawn) * px >= 1:
        return True  # a new pixel column
    col = s.y[s.x >= drawn - 1 / max(px, 1e-12)]
    vals = np.asarray(values, dtype=np.float64)
    if np.isnan(vals).any() or np.isnan(col).all():
        return True
    return bool(vals.min() < np.nanmin(col) or vals.max() > np.nanmax(col))


def update_nan_marks(s: PlotSeries, ax: Axes, ax_lr: Axes) -> None:
    """A small cross at the bottom of the axes where a series holds a NaN (a gap in its line
    would be easy to miss)."""
    nan_x = s.x[np.isnan(s.y)] if s.y.size else s.x[:0]
    if nan_x.size == 0:
        if s.nan_line is not None:
            s.nan_line.set_data([], [])
        return
    if s.nan_line is None:
        s.nan_line = make_nan_marks(ax_lr if s.kind == LR else ax, s.color)
        s.nan_line.set_animated(True)
    s.nan_line.set_data(nan_x, np.full(nan_x.size, 0.03))


@dataclass
class DataRange:
    """The extent of the visible series: steps, loss values and learning rates."""

    x: tuple[float, float] = (math.inf, -math.inf)
    loss: tuple[float, float] = (math.inf, -math.inf)
    lr: tuple[float, float] = (math.inf, -math.inf)


def data_range(series: Iterable[PlotSeries], log_loss: bool) -> DataRange:
    r = DataRange()
    for s in series:
        if not s.visible or s.x.size == 0:
            continue
        r.x = (min(r.x[0], float(s.x[0])), max(r.x[1], float(s.x[-1])))
        y = s.y[np.isfinite(s.y)]
        if s.kind == LR or log_loss:
            y = y[y > 0]
        if y.size == 0:
            continue
        lo, hi = float(y.min()), float(y.max())
        if s.kind == LR:
            r.lr = (min(r.lr[0], lo), max(r.lr[1], hi))
        else:
            r.loss = (min(r.loss[0], lo), max(r.loss[1], hi))
    return r


def kept(current: tuple[float, float], wanted: tuple[float, float], log: bool = False) -> bool:
    """Whether ``current`` limits still do for limits ``wanted`` (data inside, not too wide)."""
    lo, hi = current
    w_lo, w_hi = wanted
    if not (lo <= w_lo and w_hi <= hi) or hi <= lo:
        return False
    if log:
        if lo <= 0 or w_lo <= 0:
            return False
        lo, hi, w_lo, w_hi = (math.log10(v) for v in (lo, hi, w_lo, w_hi))
    return (hi - lo) <= TOO_WIDE * max(w_hi - w_lo, 1e-300)


def with_headroom(lo: float, hi: float) -> tuple[float, float]:
    """Step limits for a growing run: room after the last step, for the points to come."""
    return lo, hi + max((hi - lo) * X_HEADROOM, 1.0)


def first_change(ox: np.ndarray, oy: np.ndarray, nx: np.ndarray, ny: np.ndarray) -> float:
    """The step from which a line drawn with ``ox, oy`` differs when drawn with ``nx, ny``
    (its last unchanged point: the segment after it changed); inf when nothing changed,
    -inf when it changed from the start."""
    n = min(ox.size, nx.size)
    same = (ox[:n] == nx[:n]) & ((oy[:n] == ny[:n]) | (np.isnan(oy[:n]) & np.isnan(ny[:n])))
    k = n if bool(same.all()) else int(np.argmin(same))
    if k == ox.size == nx.size:
        return math.inf
    return -math.inf if k == 0 else float(nx[k - 1])


class LineBlitter:
    """Draws the (animated) lines over a copy of the last full draw: when only the lines
    changed, ``blit`` costs a copy and the lines, not a redraw of axes, ticks and labels; when
    they changed only after some step (new points), just that part on the right is drawn
    again, over a copy of the last blit."""

    PAD = 6  # pixels left of the first changed point redrawn too (line width, markers)

    def __init__(self, canvas: FigureCanvasQTAgg, ax: Axes, artists: Any) -> None:
        self.canvas = canvas
        self.ax = ax
        self.artists = artists  # a callable: the animated artists to draw, in order
        self.background: Any = None  # the last full draw, without the lines
        self.drawn: Any = None  # the canvas as the last blit left it, with the lines
        self.size: tuple[int, int] = (0, 0)
        canvas.mpl_connect("draw_event", self._on_draw)

    def _on_draw(self, _event: Any) -> None:
        fig = self.canvas.figure
        self.background = self.canvas.copy_from_bbox(fig.bbox)
        self.size = (self.canvas.width(), self.canvas.height())
        self._draw_artists()
        self.drawn = self.canvas.copy_from_bbox(fig.bbox)

    def _draw_artists(self, region: Bbox | None = None, from_step: float = -math.inf) -> None:
        for a in self.artists():
            if not a.get_visible():
                continue
            if region is None:
                a.axes.draw_artist(a)
                continue
            x, y = a.get_data()
            x, y = np.asarray(x), np.asarray(y)
            i = max(0, int(np.searchsorted(x, from_step)) - 1)
            clip = a.get_clip_box()
            a.set_clip_box(Bbox.intersection(a.axes.bbox, region) or region)
            a.set_data(x[i:], y[i:])
            a.axes.draw_artist(a)
            a.set_data(x, y)
            a.set_clip_box(clip)

    def can_blit(self) -> bool:
        return self.background is not None and self.size == (
            self.canvas.width(),
            self.canvas.height(),
        )

    def blit(self, from_step: float = -math.inf) -> None:
        fig = self.canvas.figure
        left = -math.inf
        if math.isfinite(from_step) and self.drawn is not None:
            left = float(self.ax.transData.transform((from_step, 0))[0]) - self.PAD
        if left <= fig.bbox.x0 or left >= fig.bbox.x1:
            self.canvas.restore_region(self.background)
            self._draw_artists()
            region = fig.bbox
        else:
            region = Bbox.from_extents(left, fig.bbox.y0, fig.bbox.x1, fig.bbox.y1)
            self.canvas.restore_region(self.drawn)
            self.canvas.restore_region(self.background, bbox=region.extents)
            self._draw_artists(region, from_step)
        self.drawn = self.canvas.copy_from_bbox(fig.bbox)
        self.canvas.blit(region)
