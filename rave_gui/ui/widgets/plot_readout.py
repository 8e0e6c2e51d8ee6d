"""MetricsPlot's hover readout: the cursor line and the series' values at the hovered step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QSizePolicy

from ...backend.system.units import format_value


def values_at(
    series: Iterable[Any], x: float | None
) -> tuple[int | None, list[tuple[str, str, float]]]:
    """The step nearest to ``x`` (None: the last step) and (name, colour, value) of each
    visible series at its point nearest to that step. A series has ``name``, ``color``,
    ``visible`` and the drawn points ``x`` (sorted steps) and ``y``."""
    found: list[tuple[int, str, str, float]] = []
    for s in series:
        if not s.visible or s.x.size == 0:
            continue
        if x is None:
            i = s.x.size - 1
        else:
            i = min(int(np.searchsorted(s.x, x)), s.x.size - 1)
            if i > 0 and abs(s.x[i - 1] - x) <= abs(s.x[i] - x):
                i -= 1
        found.append((int(s.x[i]), s.name, s.color, float(s.y[i])))
    if not found:
        return None, []
    if x is None:
        step = max(f[0] for f in found)
    else:
        step = min((f[0] for f in found), key=lambda st: abs(st - x))
    return step, [(n, c, v) for _st, n, c, v in found]


class ValuesReadout(QLabel):
    """Two lines over the plot: each shown series' value at the hovered (or the last) step."""

    def __init__(self) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        fm = self.fontMetrics()
        self.setFixedHeight(2 * fm.lineSpacing() + 4)  # no layout jumps on hover
        self.setContentsMargins(6, 0, 6, 0)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def show_values(
        self, step: int | None, vals: list[tuple[str, str, float]], hovering: bool
    ) -> None:
        if step is None:
            self.setText("")
            return
        head = "at" if hovering else "last"
        parts = [f"<b>{head} step {step:,}</b>"]
        for name, color, v in vals:
            parts.append(
                f"<span style='color:{color}'>&#9632;</span>&nbsp;{name}&nbsp;{format_value(v)}"
            )
        self.setText(" &nbsp; ".join(parts))


class HoverCursor:
    """A vertical line that follows the mouse over the axes, blitted over a copy of the last
    full draw (no redraw); ``on_hover(x)`` gets the step under the mouse, None once it left."""

    def __init__(
        self,
        canvas: FigureCanvasQTAgg,
        ax: Axes,
        ax_lr: Axes,
        toolbar: NavigationToolbar2QT,
        on_hover: Callable[[float | None], None],
    ) -> None:
        self.canvas, self.ax, self.ax_lr, self.toolbar = canvas, ax, ax_lr, toolbar
        self.on_hover = on_hover
        self._background: Any = None
        self.line = ax.axvline(0, linewidth=0.8, alpha=0.6, animated=True)
        self.line.set_visible(False)
        canvas.mpl_connect("draw_event", self._on_draw_event)
        canvas.mpl_connect("motion_notify_event", self._on_motion)
        canvas.mpl_connect("axes_leave_event", self._on_leave)
        canvas.mpl_connect("figure_leave_event", self._on_leave)

    def _on_draw_event(self, _event: Any) -> None:
        self._background = self.canvas.copy_from_bbox(self.ax.bbox)

    def _on_motion(self, event: Any) -> None:
        if event.inaxes not in (self.ax, self.ax_lr) or event.xdata is None:
            self._on_leave(event)
            return
        x = event.xdata
        if self._background is not None and self.toolbar.mode.name == "NONE":
            self.canvas.restore_region(self._background)
            self.line.set_xdata([x, x])
            self.line.set_visible(True)
            self.ax.draw_artist(self.line)
            self.canvas.blit(self.ax.bbox)
        self.on_hover(x)

    def _on_leave(self, _event: Any) -> None:
        if self.line.get_visible():
            self.line.set_visible(False)
            if self._background is not None:
                self.canvas.restore_region(self._background)
                self.canvas.blit(self.ax.bbox)
        self.on_hover(None)


__all__ = ["HoverCursor", "ValuesReadout", "values_at"]
