"""Issue 15 §2-3 on the plot: before the first loss it says what comes and when, never an empty
0-1 axis with labels like ``-0 -0 0 0`` or ``146 146 146``; a resumed run draws its parent's
history faintly before its own."""

from __future__ import annotations

import numpy as np
import pytest
from dataset_helpers import make_lmdb_dataset
from test_metrics_plot import _settle

from rave_gui.core.signals import AppSignals
from rave_gui.ui.widgets.metrics_plot import MetricsPlot
from rave_gui.ui.widgets.plot_history import PARENT_ALPHA, step_limits


@pytest.fixture
def plot(qtbot, manager):
    signals = AppSignals()
    w = MetricsPlot(manager, signals)
    w.signals = signals
    qtbot.addWidget(w)
    w.resize(900, 500)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()


def _tick_labels(plot: MetricsPlot, axis: str) -> list[str]:
    plot.redraw_now()
    ax = plot.ax
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    ticks = ax.xaxis.get_major_ticks() if axis == "x" else ax.yaxis.get_major_ticks()
    locs = ax.get_xticks() if axis == "x" else ax.get_yticks()
    return [t.label1.get_text() for t, loc in zip(ticks, locs, strict=False) if lo <= loc <= hi]


def _distinct(labels: list[str]) -> bool:
    return len(labels) >= 2 and len(set(labels)) == len(labels) and "-0" not in labels


def test_step_limits_are_never_degenerate():
    assert step_limits(146, 146) == pytest.approx((141.0, 151.0))
    assert step_limits(0, 0) == pytest.approx((-0.5, 9.5))  # not below step 0
    assert step_limits(0, 1000) == pytest.approx((-20.0, 1020.0))


def test_before_the_first_loss_the_plot_says_what_comes_and_when(qtbot, plot, manager, tmp_path):
    pid = manager.projects.default_id()
    ds = manager.datasets.register(pid, make_lmdb_dataset(tmp_path / "db", 36, seconds=200.0))
    cfg = {"log_every": 10, "max_steps": 300, "val_every": 20, "batch": 2, "dataset_id": ds}
    exp = manager.start_training({"name": "new", **cfg})
    plot.set_experiment(exp)
    note = "First training losses at step 9 (logged every 10 steps); first validation at step 16."
    qtbot.waitUntil(lambda: plot._empty_text.get_text() == note)
    _settle(qtbot, plot)
    assert not plot.ax.xaxis.get_visible()  # no empty 0-1 axis under the note
    # the launcher logs the learning rate at step 0: the axes show, the note stays
    plot.signals.run_metrics.emit(exp, {"lr_generator": [(0, 1e-3)]})
    _settle(qtbot, plot)
    assert plot._empty_text.get_text() == note
    assert plot.ax.xaxis.get_visible()
    assert not plot.ax.yaxis.get_visible()  # no loss yet: no empty 0-1 loss axis
    assert plot._series["lr_generator"].line.get_marker() == "o"  # one point: a dot
    labels = _tick_labels(plot, "x")
    assert _distinct(labels), labels
    # one loss point: the note goes; the step axis still reads as distinct steps
    plot.signals.run_metrics.emit(exp, {"fullband_spectral_distance": [(146, 3.2)]})
    _settle(qtbot, plot)
    assert plot._empty_text.get_text() == ""
    assert plot.ax.yaxis.get_visible()
    labels = _tick_labels(plot, "x")
    assert _distinct(labels), labels
    assert _distinct(_tick_labels(plot, "y"))


def test_an_ended_run_without_a_loss_says_so(qtbot, plot, manager):
    exp = manager.start_training({"name": "short", "max_steps": 20})
    manager.update_experiment_status(exp, "running")
    manager.update_experiment_status(exp, "failed", error="boom")
    plot.set_experiment(exp)
    qtbot.waitUntil(lambda: "ended before step 49" in plot._empty_text.get_text())


def test_a_resumed_run_shows_its_parents_history_faintly_before_its_own(qtbot, plot, manager):
    parent = manager.start_training({"name": "first"})
    steps = np.arange(0, 101, 10)
    manager.metrics.add_points(
        parent,
        [("fullband_spectral_distance", int(s), 5.0 - s / 50, None) for s in steps]
        + [("fullband_spectral_distance", 150, 9.0, None)],  # after the checkpoint: not drawn
    )
    child = manager.start_training({"name": "first-resume", "parent_id": parent, "start_step": 100})
    manager.metrics.add_points(
        child, [("fullband_spectral_distance", s, 3.0 - s / 1000, None) for s in (149, 199)]
    )
    plot.set_experiment(child)
    qtbot.waitUntil(lambda: bool(plot.context.series))
    _settle(qtbot, plot)
    (hist,) = plot.context.series
    assert plot.context.parent_name == "first"
    assert plot.context.caption.get_text() == "faint: the history of first, resumed here"
    assert hist.name == "fullband_spectral_distance"
    assert list(hist.x) == list(steps)  # up to the step it resumed from
    assert hist.line.get_alpha() == PARENT_ALPHA and hist.line.get_visible()
    own_x, _ = plot.line_data("fullband_spectral_distance")
    assert list(own_x) == [149, 199]
    assert hist.line.get_color() == plot._series["fullband_spectral_distance"].line.get_color()
    lo, hi = plot.ax.get_xlim()
    assert lo <= 0 and hi >= 199  # one curve: the parent's history, then the run's own
    plot.set_series_visible("fullband_spectral_distance", False)
    _settle(qtbot, plot)
    assert not hist.line.get_visible()
    plot.set_experiment(parent)
    qtbot.waitUntil(lambda: not plot.context.series)
    assert plot.context.caption is None
