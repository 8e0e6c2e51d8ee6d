"""How MetricsPlot draws series: their kinds, colours, default visibility, lines and step ticks."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import Formatter, LogFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory
from PyQt6.QtGui import QColor, QIcon, QPalette, QPixmap

LOSS, VALIDATION, LR = "loss", "validation", "lr"

# Series RAVE logs that say little on a loss plot: listed, off until the user ticks them.
_OFF_BY_DEFAULT = ("beta_factor", "epoch", "step", "global_step")
_OFF_PREFIXES = ("fidelity_", "fidelity")

# Stable colours for the terms RAVE logs, so a term looks the same in every run.
_KNOWN_COLORS = {
    "fullband_spectral_distance": "#1f77b4",
    "multiband_spectral_distance": "#ff7f0e",
    "regularization": "#2ca02c",
    "adversarial": "#d62728",
    "feature_matching": "#9467bd",
    "loss_dis": "#8c564b",
    "pred_real": "#e377c2",
    "pred_fake": "#bcbd22",
    "beta_factor": "#7f7f7f",
    "lr_generator": "#17becf",
    "lr_discriminator": "#aa6c39",
    "lr": "#17becf",
}
_SPARE_COLORS = (
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
    "#393b79",
    "#637939",
)


def series_kind(name: str) -> str:
    """Which axis a metric goes on: "validation", "lr" (log-scale axis) or "loss"."""
    low = name.lower()
    if low in ("validation", "val_loss", "validation_loss"):
        return VALIDATION
    if low.startswith("lr") or low.startswith("learning_rate"):
        return LR
    return LOSS


def shown_by_default(name: str) -> bool:
    low = name.lower()
    return low not in _OFF_BY_DEFAULT and not low.startswith(_OFF_PREFIXES)


def series_order(name: str) -> tuple[int, str]:
    """The legend's order: validation, the losses, learning rates, then those off by default."""
    kind = series_kind(name)
    rank = {VALIDATION: 0, LOSS: 1, LR: 2}[kind]
    if not shown_by_default(name):
        rank = 3
    return rank, name.lower()


def series_color(name: str, used: Collection[str], count: int, foreground: str) -> str:
    """A series' colour: the text colour for validation, a fixed one for the terms RAVE logs,
    else a spare colour no other series (``used``, ``count`` of them) has yet."""
    if series_kind(name) == VALIDATION:
        return foreground
    if name in _KNOWN_COLORS:
        return _KNOWN_COLORS[name]
    for c in _SPARE_COLORS:
        if c not in used:
            return c
    return _SPARE_COLORS[count % len(_SPARE_COLORS)]


def format_step_tick(x: float, _pos: Any = None, tick_step: float | None = None) -> str:
    """Axis labels for steps: 950, 12k, 1.5M; full numbers (199,950) when the ticks are closer
    than a thousand steps, so a zoomed axis never repeats one label."""
    a = abs(x)
    if tick_step is not None and 0 < tick_step < 1000 and a >= 1e4:
        return f"{x:,.0f}"
    if a >= 1e6:
        if not tick_step:
            return f"{x / 1e6:.3g}M"
        unit = tick_step / 1e6  # the decimals that tell two neighbouring ticks apart
        digits = next((d for d in range(4) if abs(round(unit, d) - unit) < 1e-9), 3)
        return f"{x / 1e6:.{digits}f}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    return f"{x:.0f}"


class StepFormatter(Formatter):
    """format_step_tick with the distance between the ticks of the current view."""

    _tick_step: float | None = None

    def set_locs(self, locs: Any) -> None:
        super().set_locs(locs)
        self._tick_step = float(locs[1] - locs[0]) if len(locs) > 1 else None

    def __call__(self, x: float, pos: Any = None) -> str:
        return format_step_tick(x, pos, self._tick_step)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


PLAIN_RANGE = (1e-2, 1e4)  # a log axis inside it reads 0.5, 20; else 10⁻⁴, 3×10⁻⁴


def power_label(x: float, plain: bool = False) -> str:
    """A log axis's tick in plain text: ``0.5``, ``20`` (``plain``, for an axis of everyday
    values such as losses), else ``10⁻⁴``, ``3×10⁻⁴`` (learning rates). Matplotlib's own labels
    are mathtext, whose first use costs about 150 ms of a run's first view."""
    if not (x > 0 and math.isfinite(x)):
        return ""
    if plain:
        return f"{x:.3g}"
    e = math.floor(math.log10(x) + 1e-9)
    c = x / 10.0**e
    exp = str(e).translate(_SUPERSCRIPT)
    if abs(c - 1) < 1e-6:
        return f"10{exp}"
    return f"{c:.2g}×10{exp}"


class PowerFormatter(LogFormatter):
    """A log axis's ticks as ``power_label``s (which ticks get a label: LogFormatter's rules)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        lo, hi = sorted((vmin, vmax))
        return power_label(x, plain=PLAIN_RANGE[0] <= lo and hi < PLAIN_RANGE[1])


def log_axis(axis: Any) -> None:
    """Plain-text labels on a log-scale axis (call after each ``set_yscale("log")``)."""
    axis.set_major_formatter(PowerFormatter())
    axis.set_minor_formatter(PowerFormatter(labelOnlyBase=False))


def style_axes(ax: Axes, ax_lr: Axes) -> None:
    """The loss axes over the (log-scale) learning-rate axes, ticks and labels."""
    ax_lr.set_yscale("log")
    log_axis(ax_lr.yaxis)
    ax.set_zorder(ax_lr.get_zorder() + 1)  # losses above the lr curves
    ax.patch.set_visible(False)
    for a in (ax, ax_lr):
        a.set_autoscale_on(False)
        a.tick_params(which="both", labelsize=8)
        a.tick_params(length=3)
        a.spines["top"].set_visible(False)
    ax.xaxis.set_major_formatter(StepFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_xlabel("step", fontsize=8, labelpad=2)
    ax.set_ylabel("loss", fontsize=8, labelpad=3)
    ax_lr.set_ylabel("learning rate", fontsize=8, labelpad=3)


def colour_axes(figure: Figure, ax: Axes, ax_lr: Axes, pal: QPalette) -> str:
    """The figure in the widget palette's colours (light or dark); returns the text colour."""
    bg = pal.color(QPalette.ColorRole.Base).name()
    fg = pal.color(QPalette.ColorRole.Text).name()
    grid = pal.color(QPalette.ColorRole.Mid).name()
    figure.set_facecolor(bg)
    ax_lr.set_facecolor(bg)
    for a in (ax, ax_lr):
        a.tick_params(colors=fg, which="both")
        for sp in a.spines.values():
            sp.set_color(grid)
        a.xaxis.label.set_color(fg)
        a.yaxis.label.set_color(fg)
    ax.tick_params(grid_color=grid, grid_linewidth=0.5, grid_alpha=0.5)
    return fg


def make_line(ax: Axes, name: str, kind: str, color: str) -> Line2D:
    """A series' line: validation bold with dots, learning rates dashed, losses thin."""
    if kind == VALIDATION:
        (line,) = ax.plot([], [], color=color, linewidth=2.0, marker="o", markersize=3, zorder=5)
    elif kind == LR:
        (line,) = ax.plot([], [], color=color, linewidth=1.2, linestyle="--", zorder=2)
    else:
        (line,) = ax.plot([], [], color=color, linewidth=1.0, zorder=3)
    line.set_label(name)
    return line


def make_nan_marks(ax: Axes, color: str) -> Line2D:
    """Crosses at the bottom of the axes (x in steps, y in axes fractions) for NaN points."""
    (marks,) = ax.plot(
        [],
        [],
        linestyle="none",
        marker="x",
        markersize=6,
        markeredgewidth=1.5,
        color=color,
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        clip_on=False,
        zorder=6,
    )
    return marks


def pad_range(lo: float, hi: float, log: bool) -> tuple[float, float]:
    """Axis limits a little wider than the data (on a log axis, by a factor)."""
    if log:
        if lo == hi:
            return lo / 2, hi * 2
        f = (hi / lo) ** 0.05
        return lo / f, hi * f
    if lo == hi:
        d = abs(lo) * 0.1 or 1.0
        return lo - d, hi + d
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def swatch(color: str) -> QIcon:
    """A small square of a series' colour for its legend entry."""
    pm = QPixmap(12, 12)
    pm.fill(QColor(color))
    return QIcon(pm)


__all__ = [
    "LOSS",
    "LR",
    "VALIDATION",
    "PowerFormatter",
    "StepFormatter",
    "colour_axes",
    "format_step_tick",
    "log_axis",
    "make_line",
    "make_nan_marks",
    "pad_range",
    "power_label",
    "series_color",
    "series_kind",
    "series_order",
    "shown_by_default",
    "style_axes",
    "swatch",
]
