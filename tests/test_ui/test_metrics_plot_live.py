"""MetricsPlot watching a live run: a hidden plot neither reads nor draws and catches up when
shown; while the view is unchanged, live points cost tail reads (never a whole re-read) and
blits (the lines alone) rather than full draws."""

from __future__ import annotations

import numpy as np
import pytest

from rave_gui.core.signals import AppSignals
from rave_gui.ui.widgets.metrics_plot import MIN_DRAW_INTERVAL_MS, MetricsPlot
from rave_gui.ui.widgets.plot_series import TAIL_FOLD_POINTS

SPACING = 50


@pytest.fixture
def plot(qtbot, manager):
    signals = AppSignals()
    w = MetricsPlot(manager, signals)
    w.signals = signals  # for the tests
    qtbot.addWidget(w)
    w.resize(900, 500)
    w.show()
    qtbot.waitExposed(w)
    requests: list = []
    ask = w._loader.request
    w._loader.request = lambda reqs: (requests.extend(reqs := list(reqs)), ask(reqs))[1]
    w.requests = requests  # every read the plot asked for
    yield w
    w.shutdown()


def settle(qtbot, plot: MetricsPlot) -> None:
    qtbot.waitUntil(lambda: not plot.loading() and not plot._dirty, timeout=15000)
    qtbot.wait(MIN_DRAW_INTERVAL_MS + 50)
    qtbot.waitUntil(lambda: not plot._dirty and not plot._timer.isActive(), timeout=15000)


def log(manager, plot: MetricsPlot, exp: int, steps: np.ndarray, names: list[str]) -> None:
    """What the follower does: store the points, then send them to the GUI."""
    series = {n: (steps, np.exp(-steps / 1e6) + i, None) for i, n in enumerate(names)}
    manager.metrics.add_series(exp, series)
    plot.signals.run_metrics.emit(
        exp, {n: list(zip(s.tolist(), v.tolist(), strict=True)) for n, (s, v, _) in series.items()}
    )


def stored_run(manager, n: int, names: list[str]) -> tuple[int, int]:
    exp = manager.start_training({"name": "watched"})
    steps = SPACING * np.arange(n, dtype=np.int64)
    manager.metrics.add_series(
        exp, {n_: (steps, np.exp(-steps / 1e6) + i, None) for i, n_ in enumerate(names)}
    )
    return exp, int(steps[-1])


def test_an_unchanged_view_reads_only_the_tails_and_blits(qtbot, plot, manager) -> None:
    names = ["regularization", "validation"]
    exp, last = stored_run(manager, 20_000, names)
    plot.set_experiment(exp)
    settle(qtbot, plot)
    assert [r.start for r in plot.requests] == [None, None]  # the first view: read whole
    plot.requests.clear()
    draws, full = plot.draw_count, plot.full_draw_count
    xlim = plot.ax.get_xlim()
    for _ in range(3 * TAIL_FOLD_POINTS // 50):
        steps = last + SPACING * np.arange(1, 51, dtype=np.int64)
        log(manager, plot, exp, steps, names)
        last = int(steps[-1])
        settle(qtbot, plot)
    # no whole re-read: only the steps after what was read, once the live tails grew long
    assert plot.requests
    assert all(r.start is not None and r.width is not None for r in plot.requests)
    assert {r.name for r in plot.requests} == set(names)
    for name in names:
        x, _y = plot.line_data(name)
        assert x[-1] == last and np.all(np.diff(x) > 0)
        assert x.size < 6 * plot.ax.bbox.width  # still reduced
    # the view grows with headroom: the new points fit in, the lines alone are drawn again
    assert plot.draw_count - draws >= 6
    assert plot.full_draw_count - full <= 2
    assert xlim[1] < plot.ax.get_xlim()[1] and plot.ax.get_xlim()[1] >= last


def test_a_hidden_plot_does_not_refresh_and_catches_up_when_shown(qtbot, plot, manager) -> None:
    names = ["regularization", "validation"]
    exp, last = stored_run(manager, 5_000, names)
    plot.set_experiment(exp)
    settle(qtbot, plot)
    before = {n: plot.line_data(n) for n in names}
    plot.hide()  # another page shown
    plot.requests.clear()
    draws = plot.draw_count
    for _ in range(6):
        steps = last + SPACING * np.arange(1, 101, dtype=np.int64)
        log(manager, plot, exp, steps, [*names, "adversarial"])
        last = int(steps[-1])
    qtbot.wait(3 * MIN_DRAW_INTERVAL_MS)
    assert plot.requests == [] and plot.draw_count == draws  # nothing read, nothing drawn
    for n in names:
        np.testing.assert_array_equal(plot.line_data(n)[0], before[n][0])
    plot.show()  # back on the page: what came meanwhile is read from the store
    settle(qtbot, plot)
    assert plot.draw_count > draws
    for n in [*names, "adversarial"]:
        assert plot.line_data(n)[0][-1] == last
    assert "adversarial" in plot.series_names()
    assert all(r.start is not None for r in plot.requests if r.name in names)  # tails only


def test_a_point_that_changes_nothing_on_screen_is_not_drawn(qtbot, plot, manager) -> None:
    exp, last = stored_run(manager, 20_000, ["regularization"])
    plot.set_experiment(exp)
    settle(qtbot, plot)
    draws = plot.draw_count
    _x, y = plot.line_data("regularization")

    def send(step: int, value: float) -> None:
        manager.metrics.add_points(exp, [("regularization", step, value, None)])
        plot.signals.run_metrics.emit(exp, {"regularization": [(step, value)]})

    send(last + SPACING, float(y[-1]))  # in the last pixel column, inside its values
    qtbot.wait(3 * MIN_DRAW_INTERVAL_MS)
    assert plot.draw_count == draws and not plot._dirty
    send(last + 2 * SPACING, float(np.nanmax(y)) + 1)  # the same column, stretched
    qtbot.waitUntil(lambda: plot.draw_count > draws, timeout=3000)
    settle(qtbot, plot)
    draws = plot.draw_count
    send(last + 20_000 * SPACING // 50, 1.0)  # a new pixel column
    qtbot.waitUntil(lambda: plot.draw_count > draws, timeout=3000)
    settle(qtbot, plot)
    assert plot.line_data("regularization")[0][-1] == last + 20_000 * SPACING // 50
