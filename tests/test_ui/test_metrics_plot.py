"""MetricsPlot: live points, reduced reads of long series, coalesced redraws, zoom, toggles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.core.signals import AppSignals
from rave_gui.ui.widgets.metrics_plot import MetricsPlot
from rave_gui.ui.widgets.plot_style import (
    LOSS,
    LR,
    VALIDATION,
    power_label,
    series_kind,
    shown_by_default,
)


@pytest.fixture
def plot(qtbot, manager: TrainingManager):
    signals = AppSignals()
    w = MetricsPlot(manager, signals)
    w.signals = signals  # for the tests
    qtbot.addWidget(w)
    w.resize(900, 500)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()  # no read left running against a closed database


def _settle(qtbot, plot: MetricsPlot, timeout: int = 15000) -> None:
    """Wait until every read has arrived and the result was drawn."""
    qtbot.waitUntil(lambda: not plot.loading() and not plot._dirty, timeout=timeout)
    qtbot.wait(plot_interval_ms() + 50)
    qtbot.waitUntil(lambda: not plot._dirty and not plot._timer.isActive(), timeout=timeout)


def plot_interval_ms() -> int:
    from rave_gui.ui.widgets.metrics_plot import MIN_DRAW_INTERVAL_MS

    return MIN_DRAW_INTERVAL_MS


def test_series_go_on_the_right_axis_and_some_start_hidden():
    assert series_kind("validation") == VALIDATION
    assert series_kind("lr_generator") == LR
    assert series_kind("lr_discriminator") == LR
    assert series_kind("lr") == LR
    assert series_kind("fullband_spectral_distance") == LOSS
    assert series_kind("feature_matching") == LOSS
    assert not shown_by_default("beta_factor")
    assert not shown_by_default("epoch")
    assert not shown_by_default("fidelity_0.95")
    assert shown_by_default("adversarial")
    assert shown_by_default("validation")


def test_points_received_through_signals_appear(qtbot, plot: MetricsPlot, manager):
    exp = manager.start_training({"name": "live"})
    plot.set_experiment(exp)
    _settle(qtbot, plot)
    plot.signals.run_metrics.emit(
        exp, {"validation": [(10, 1.0), (20, 0.8)], "lr_generator": [(10, 1e-3), (20, 9e-4)]}
    )
    plot.signals.run_metrics.emit(exp, {"validation": [(30, 0.6)]})
    plot.signals.run_metrics.emit(exp + 1, {"validation": [(40, 99.0)]})  # another run
    qtbot.waitUntil(lambda: plot.line_data("validation")[0].size == 3, timeout=3000)
    x, y = plot.line_data("validation")
    assert x.tolist() == [10, 20, 30]
    assert y.tolist() == [1.0, 0.8, 0.6]
    assert plot.line_data("lr_generator")[1].tolist() == [1e-3, 9e-4]
    assert plot.ax_lr.get_visible() and plot.ax_lr.get_yscale() == "log"
    lo, hi = plot.ax.get_xlim()
    assert lo <= 10 and hi >= 30  # the view follows the run
    # the learning rates' ticks in plain text: no mathtext (its first use costs ~150 ms)
    plot.redraw_now()
    labels = [t.get_text() for t in plot.ax_lr.get_yticklabels(minor=False)]
    labels += [t.get_text() for t in plot.ax_lr.get_yticklabels(minor=True)]
    shown = [t for t in labels if t]
    assert shown and all("$" not in t and ("×10" in t or t.startswith("10")) for t in shown)


def test_a_finished_runs_whole_history_is_read_from_the_store(qtbot, plot, manager):
    exp = manager.experiments.import_record({"name": "done"}, status="completed")
    manager.metrics.add_points(
        exp,
        [("validation", s, 1.0 / (s + 1), None) for s in range(0, 1000, 100)]
        + [("regularization", s, 0.1, None) for s in range(1000)]
        + [("beta_factor", s, 0.5, None) for s in range(1000)],
    )
    plot.set_experiment(exp)
    _settle(qtbot, plot)
    assert plot.series_names()[0] == "validation"  # emphasized, first in the legend
    assert plot.line_data("validation")[0].size == 10
    assert plot.line_data("regularization")[0][-1] == 999
    assert "beta_factor" not in plot.visible_series()
    assert plot.line_data("beta_factor")[0].size == 0  # hidden: not even read
    plot.set_series_visible("beta_factor", True)
    _settle(qtbot, plot)
    assert plot.line_data("beta_factor")[0].size > 0
    plot.set_series_visible("beta_factor", False)
    _settle(qtbot, plot)
    assert not plot._series["beta_factor"].line.get_visible()


def test_a_million_point_series_is_drawn_reduced_keeping_nan_and_spike(qtbot, plot, manager):
    exp = manager.experiments.import_record({"name": "long"}, status="completed")
    n = 1_000_000
    steps = np.arange(n, dtype=np.int64)
    values = 1.0 + np.sin(steps / 20_000.0) * 0.2 + np.random.default_rng(0).random(n) * 0.05
    values[333_333] = math.nan
    values[777_777] = 1e6
    manager.metrics.add_series(exp, {"fullband_spectral_distance": (steps, values, None)})
    plot.set_experiment(exp)
    _settle(qtbot, plot, timeout=60000)
    x, y = plot.line_data("fullband_spectral_distance")
    width = plot.ax.bbox.width
    assert width > 400
    assert 0.5 * width <= x.size <= 5 * width  # a few points per pixel column, not 1M
    assert np.isnan(y).any()
    assert 333_333 in x[np.isnan(y)].tolist()
    assert np.nanmax(y) == 1e6
    assert x[np.nanargmax(y)] == 777_777
    nan_marks = plot._series["fullband_spectral_distance"].nan_line
    assert nan_marks is not None and 333_333 in nan_marks.get_xdata()


def test_zoom_rereads_the_visible_range_at_full_resolution(qtbot, plot, manager):
    exp = manager.experiments.import_record({"name": "zoom"}, status="completed")
    n = 200_000
    steps = np.arange(n, dtype=np.int64)
    manager.metrics.add_series(exp, {"regularization": (steps, np.cos(steps / 1000.0), None)})
    plot.set_experiment(exp)
    _settle(qtbot, plot, timeout=30000)
    assert plot.line_data("regularization")[0].size < 5000
    plot.ax.set_xlim(100_000, 100_200)  # what the toolbar's zoom does
    qtbot.waitUntil(lambda: not plot._follow, timeout=1000)
    qtbot.wait(200)
    _settle(qtbot, plot)
    x, _y = plot.line_data("regularization")
    inside = x[(x >= 100_000) & (x <= 100_200)]
    assert inside.tolist() == list(range(100_000, 100_201))  # every point of the view
    assert plot.ax.get_xlim() == (100_000, 100_200)  # the user's view is kept
    # live points do not move a zoomed view
    plot.signals.run_metrics.emit(exp, {"regularization": [(n + 5, 0.0)]})
    _settle(qtbot, plot)
    assert plot.ax.get_xlim() == (100_000, 100_200)
    plot.toolbar.home()  # back to following the whole run
    _settle(qtbot, plot)
    lo, hi = plot.ax.get_xlim()
    assert lo <= 0 and hi >= n + 5
    assert plot.line_data("regularization")[0].size < 5000


def test_a_burst_of_live_points_is_drawn_at_most_a_couple_of_times(qtbot, plot, manager):
    exp = manager.start_training({"name": "burst"})
    plot.set_experiment(exp)
    _settle(qtbot, plot)
    before = plot.draw_count
    for i in range(100):
        plot.signals.run_metrics.emit(
            exp, {"regularization": [(i, 0.5 + i / 1000)], "validation": [(i, 1.0)]}
        )
    qtbot.wait(3 * plot_interval_ms())
    assert 1 <= plot.draw_count - before <= 2
    assert plot.line_data("regularization")[0].size == 100


def test_a_hidden_plot_draws_when_shown(qtbot, manager):
    signals = AppSignals()
    w = MetricsPlot(manager, signals)
    qtbot.addWidget(w)
    exp = manager.start_training({"name": "hidden"})
    w.set_experiment(exp)
    manager.metrics.add_points(exp, [("validation", 1, 1.0, None)])  # stored, then sent
    signals.run_metrics.emit(exp, {"validation": [(1, 1.0)]})
    qtbot.wait(2 * plot_interval_ms())
    assert w.draw_count == 0
    w.show()
    qtbot.waitUntil(lambda: w.draw_count >= 1, timeout=3000)
    # what came while hidden is read from the store once shown
    qtbot.waitUntil(lambda: w.line_data("validation")[0].tolist() == [1], timeout=3000)


def test_values_under_the_cursor_are_the_nearest_points(qtbot, plot, manager):
    exp = manager.start_training({"name": "cursor"})
    plot.set_experiment(exp)
    plot.signals.run_metrics.emit(
        exp,
        {
            "validation": [(0, 3.0), (100, 2.0), (200, 1.0)],
            "regularization": [(s, s / 1000) for s in range(0, 201, 10)],
        },
    )
    _settle(qtbot, plot)
    step, values = plot.values_at(96)
    assert step == 100
    assert dict((n, v) for n, _c, v in values) == {"validation": 2.0, "regularization": 0.1}
    step, values = plot.values_at(None)  # not hovering: the last values
    assert step == 200
    assert "last step 200" in plot.values_label.text()


def test_log_scale_toggle_and_empty_states(qtbot, plot, manager):
    plot.set_experiment(None)
    _settle(qtbot, plot)
    assert "Select a run" in plot._empty_text.get_text()
    exp = manager.start_training({"name": "empty"})
    plot.set_experiment(exp)
    _settle(qtbot, plot)
    # what comes before the first point, and when (RAVE's interval: the config has none)
    qtbot.waitUntil(lambda: "First training losses at step 49" in plot._empty_text.get_text())
    plot.signals.run_metrics.emit(exp, {"validation": [(1, 10.0), (2, 0.1)]})
    plot.log_action.setChecked(True)
    _settle(qtbot, plot)
    assert plot._empty_text.get_text() == ""
    assert plot.ax.get_yscale() == "log"
    lo, hi = plot.ax.get_ylim()
    assert 0 < lo < 0.1 and hi > 10.0
    ticks = [t.get_text() for t in plot.ax.get_yticklabels() if t.get_text()]
    assert "1" in ticks and "0.1" in ticks and not any("$" in t for t in ticks), ticks


def test_log_ticks_read_as_powers_of_ten():
    assert [power_label(v) for v in (1e-4, 3e-4, 2.5e-3, 1.0, 20.0, 1e5)] == [
        "10⁻⁴",
        "3×10⁻⁴",
        "2.5×10⁻³",
        "10⁰",
        "2×10¹",
        "10⁵",
    ]
    assert [power_label(v, plain=True) for v in (0.5, 1.0, 20.0)] == ["0.5", "1", "20"]
    assert power_label(0.0) == power_label(float("nan")) == ""


def test_step_labels_stay_distinct_when_zoomed():
    from rave_gui.ui.widgets.plot_style import format_step_tick

    assert format_step_tick(950) == "950"
    assert format_step_tick(200_000, tick_step=50_000) == "200k"
    assert format_step_tick(1_250_000, tick_step=250_000) == "1.25M"
    assert format_step_tick(2_000_000, tick_step=1_000_000) == "2M"
    assert format_step_tick(199_950, tick_step=25) == "199,950"  # a zoomed view
