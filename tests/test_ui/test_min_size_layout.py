"""The window at its smallest and at a common laptop size: the Training page keeps a readable
plot above the log (its axis never cut, the tabs never over it), and fits 1280-wide screens."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def run_with_curves(manager, window):
    exp = manager.start_training({"name": "long", "project_id": window.project_id})
    now = time.time()
    points = [
        (name, step, 8.0 - step / 100 + k, now + step)
        for k, name in enumerate(("validation", "fullband_spectral_distance_long_name"))
        for step in range(0, 110, 10)
    ]
    manager.metrics.add_points(exp, points)
    return exp


@pytest.mark.parametrize(("size", "plot_width"), [((1068, 600), 340), ((1366, 768), 480)])
def test_training_page_keeps_the_plot_readable(qtbot, window, run_with_curves, size, plot_width):
    window.resize(*size)
    window.show_page("training")
    window.refresh_current_page()
    page = window.training_page
    assert page.select_run(run_with_curves)
    qtbot.waitUntil(lambda: page.plot.line_data("validation")[0].size == 11, timeout=10_000)
    qtbot.wait(50)
    # the smallest window fits a 1280 x 720 screen (the window refuses 1068 x 600)
    if size == (1068, 600):
        assert window.width() <= 1120 and window.height() <= 720
    panel = page.panel
    holder, tabs = panel.plot_holder, panel.tabs
    assert holder.width() >= plot_width  # not 130 px any more
    assert holder.height() >= page.plot.minimumSizeHint().height()  # its axis is not cut
    assert holder.geometry().bottom() < tabs.geometry().top()  # the log below, not over it
    assert tabs.height() >= tabs.minimumSizeHint().height()
    window.grab().save(f"/tmp/h15l/test-training-{size[0]}x{size[1]}.png")
