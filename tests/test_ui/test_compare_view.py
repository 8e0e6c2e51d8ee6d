"""The Compare page with pytest-qt, on real RAVE runs imported into a real store: curves of
each run in its colour, the metric choice, smoothing, the x axis, log scale, the summary, the
settings diff, the picker and the runs side by side by ear."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from compare_helpers import have_captures, import_captures
from PyQt6.QtCore import Qt

from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.backend.runs.compare import ema_smooth
from rave_gui.backend.system.settings import Settings
from rave_gui.core.worker import wait_for_background
from rave_gui.ui.pages.compare_page import ComparePage
from rave_gui.ui.widgets.compare_plot import RAW_ALPHA, X_RELATIVE, X_STEP, X_WALL, run_color

pytestmark = pytest.mark.skipif(not have_captures(), reason="captured RAVE runs not available")

FOLDERS = ("t1_d744cc98b7", "long_d744cc98b7")


@pytest.fixture
def page(qtbot, manager, tmp_path: Path):
    p = ComparePage(manager, settings=Settings(rave_executable="/nonexistent/rave"))
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.set_project(manager.projects.default_id())
    p.show()
    yield p
    p.shutdown()
    wait_for_background()


def _validation(tmp_path: Path, folder: str) -> dict[int, tuple[float, float]]:
    return {
        p.step: (p.value, p.wall_time)
        for p in read_scalars(tmp_path / folder)
        if p.tag == "validation"
    }


def _compared(qtbot, page: ComparePage, ids: list[int]) -> None:
    page.set_runs(ids)
    plot = page.view.plot
    qtbot.waitUntil(lambda: page.view.comparison is not None, timeout=10_000)
    qtbot.waitUntil(lambda: not plot.loading and plot.metric is not None, timeout=10_000)
    qtbot.waitUntil(lambda: all(plot.curve(i) is not None for i in ids), timeout=10_000)


def test_each_run_is_drawn_in_its_colour_from_its_own_points(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    _compared(qtbot, page, ids)
    plot = page.view.plot
    assert plot.metric == "validation"  # validation first among the metrics
    assert "regularization" in plot.metrics()
    for pos, (rid, folder) in enumerate(zip(ids, FOLDERS, strict=True)):
        expected = _validation(tmp_path, folder)
        x, y = plot.raw_line_data(rid)
        assert x.tolist() == sorted(expected)
        assert y.tolist() == pytest.approx([expected[s][0] for s in sorted(expected)])
        assert plot.line_color(rid) == run_color(pos)
    assert plot.line_color(ids[0]) != plot.line_color(ids[1])
    # the summary side by side: the best validation of each run, its step
    for rid, folder in zip(ids, FOLDERS, strict=True):
        expected = _validation(tmp_path, folder)
        best = min(expected, key=lambda s: expected[s][0])
        assert page.view.summary.cell_text("  at step", rid) == f"{best:,}"
    # same settings: nothing differs, the shared ones are there, collapsed
    diff = page.view.diff
    assert diff.differing_keys() == []
    assert "config.gin:CAPACITY" in diff.same_keys()
    assert diff.same_item is not None and not diff.same_item.isExpanded()


def test_the_metric_choice_redraws_and_a_run_without_it_is_empty(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    _compared(qtbot, page, ids)
    plot = page.view.plot
    with qtbot.waitSignal(plot.loaded, timeout=10_000):
        plot.metric_combo.setCurrentText("regularization")
    assert plot.metric == "regularization"
    assert plot.raw_line_data(ids[0])[0].size == 0  # the short run never logged it
    assert plot.raw_line_data(ids[1])[0].size > 0
    # the summary shows the chosen metric's min and last
    assert page.view.summary.cell_text("regularization: min", ids[0]) == "–"
    assert page.view.summary.cell_text("regularization: min", ids[1]) != "–"


def test_smoothing_is_tensorboards_over_the_faint_raw_curve(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    _compared(qtbot, page, ids)
    plot = page.view.plot
    plot.smooth_slider.setValue(500)
    assert plot.smoothing == pytest.approx(0.5)
    for rid in ids:
        _x, raw = plot.raw_line_data(rid)
        _x, smooth = plot.line_data(rid)
        assert smooth.tolist() == pytest.approx(ema_smooth(raw, 0.5).tolist())
        assert not np.allclose(smooth, raw)
        assert plot.raw_alpha(rid) == RAW_ALPHA and plot._lines[rid][0].get_visible()
    plot.set_smoothing(0)
    assert plot.smooth_slider.value() == 0
    _x, raw = plot.raw_line_data(ids[1])
    _x, smooth = plot.line_data(ids[1])
    assert smooth.tolist() == raw.tolist()
    assert not plot._lines[ids[1]][0].get_visible()  # no faint copy under an unsmoothed line


def test_x_axis_as_step_relative_and_wall_time(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    _compared(qtbot, page, ids)
    plot = page.view.plot
    expected = _validation(tmp_path, FOLDERS[1])
    walls = np.array([expected[s][1] for s in sorted(expected)])
    plot.x_combo.setCurrentIndex(1)
    assert plot.x_mode == X_RELATIVE
    x, _y = plot.raw_line_data(ids[1])
    # from the run's start: its first event of any kind
    start = min(p.wall_time for p in read_scalars(tmp_path / FOLDERS[1]))
    assert x.tolist() == pytest.approx((walls - start).tolist())
    assert "time since the run started" in plot.ax.get_xlabel()
    plot.set_x_mode(X_WALL)
    x, _y = plot.raw_line_data(ids[1])
    assert x.tolist() == pytest.approx((walls / 86400).tolist())
    assert plot.ax.get_xlabel() == "wall time"
    lo, hi = plot.ax.get_xlim()
    assert lo <= x.min() and hi >= x.max()  # the axes fit the curves in the new units
    plot.set_x_mode(X_STEP)
    assert plot.raw_line_data(ids[1])[0].tolist() == sorted(expected)
    with pytest.raises(ValueError):
        plot.set_x_mode("epochs")


def test_log_scale(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    _compared(qtbot, page, ids)
    plot = page.view.plot
    plot.log_check.setChecked(True)
    assert plot.ax.get_yscale() == "log"
    lo, hi = plot.ax.get_ylim()
    assert 0 < lo < 8.2 and hi > 9.0
    plot.set_log_scale(False)
    assert plot.ax.get_yscale() == "linear" and not plot.log_check.isChecked()


def test_a_differing_config_gin_line_is_shown_expanded(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path, gin_edit={"CAPACITY": "64"})
    _compared(qtbot, page, ids)
    diff = page.view.diff
    assert diff.differing_keys() == ["config.gin:CAPACITY"]
    assert diff.differing_item is not None and diff.differing_item.isExpanded()
    row = diff.differing_item.child(0)
    assert [row.text(1), row.text(2)] == ["48", "64"]


def test_the_picker_compares_the_ticked_runs_and_refuses_an_eleventh(qtbot, page, manager):
    ids = [manager.start_training({"name": f"r{i}", "dataset_path": "/d"}) for i in range(11)]
    page.refresh()
    assert page.run_list.count() == 11
    for rid in ids[:2]:
        item = page.item_for(rid)
        assert item is not None
        item.setCheckState(Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: page.view.ids == ids[:2], timeout=5000)
    qtbot.waitUntil(lambda: page.view.comparison is not None, timeout=5000)
    for rid in ids[2:10]:
        page.item_for(rid).setCheckState(Qt.CheckState.Checked)  # type: ignore[union-attr]
    last = page.item_for(ids[10])
    assert last is not None
    last.setCheckState(Qt.CheckState.Checked)
    assert last.checkState() == Qt.CheckState.Unchecked
    assert "At most 10" in page.picker_hint.text()
    assert page.checked_ids() == ids[:10]
    qtbot.waitUntil(lambda: page.view.ids == ids[:10], timeout=5000)
    page.filter_edit.setText("r1")
    hidden = [page.run_list.item(i).isHidden() for i in range(page.run_list.count())]
    assert hidden.count(False) == 2  # r1 and r10
    page.set_runs([])
    assert page.view.comparison is None and page.checked_ids() == []
    qtbot.waitUntil(lambda: not page.view.plot.loading, timeout=5000)


def test_side_by_side_by_ear_the_same_validation_of_each_run(qtbot, page, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    _compared(qtbot, page, ids)
    view = page.view
    view.tabs.setCurrentWidget(view.listen)
    listen = view.listen
    assert list(listen.panels) == ids
    qtbot.waitUntil(lambda: all(listen.listed(p) for p in listen.panels.values()), timeout=10_000)
    long_panel = listen.panels[ids[1]]
    assert listen.reference() is long_panel  # the run with the most validations
    listen.select(0)
    first = long_panel.clips[0].step
    # the short run shows its clip at the step nearest the long run's first validation
    short = listen.panels[ids[0]]
    nearest = min(short.clips, key=lambda c: abs((c.step or 0) - (first or 0)))
    assert short.clips[short.clip_list.currentRow()] == nearest
    assert long_panel.clip_list.currentRow() == 0
    listen.set_part("input")
    assert all(p.part == "input" for p in listen.panels.values())
    qtbot.waitUntil(
        lambda: all(p.audio is not None for p in listen.panels.values()), timeout=10_000
    )
    # the examples offered are those the clips hold (RAVE logs up to 8; these runs, one)
    assert listen.example_combo.count() == 1
    listen.example_combo.setCurrentIndex(0)
    assert all(p.example == 0 for p in listen.panels.values())
    listen.select(len(long_panel.clips) - 1)
    assert long_panel.clip_list.currentRow() == len(long_panel.clips) - 1
    assert short.clip_list.currentRow() == len(short.clips) - 1
    qtbot.waitUntil(
        lambda: all(p._decoding is None for p in listen.panels.values()), timeout=10_000
    )
    # side by side while both fit; one above the other when narrow (never scrolled sideways)
    columns = [p.parentWidget() for p in listen.panels.values()]
    listen.resize(1000, 700)
    qtbot.waitUntil(lambda: listen.per_row == 2)
    qtbot.waitUntil(lambda: columns[0].geometry().top() == columns[1].geometry().top())
    listen.resize(500, 700)
    qtbot.waitUntil(lambda: listen.per_row == 1)
    qtbot.waitUntil(lambda: columns[1].geometry().top() >= columns[0].geometry().bottom())
    assert listen.scroll.horizontalScrollBar().maximum() == 0


def test_the_window_has_a_compare_page_the_runs_table_can_open(qtbot, window, manager, tmp_path):
    ids = import_captures(manager, tmp_path)
    window.training_page.history.compare_requested.emit(ids)  # "Compare" in the history
    assert window.current_page_key() == "compare"
    assert window.compare_page.checked_ids() == ids
    qtbot.waitUntil(lambda: window.compare_page.view.comparison is not None, timeout=10_000)
    qtbot.waitUntil(lambda: not window.compare_page.view.plot.loading, timeout=10_000)


def test_long_runs_are_drawn_reduced_with_every_spike_kept(qtbot, page, manager):
    n = 200_000
    steps = np.arange(n)
    ids = []
    for r in range(2):
        exp = manager.experiments.import_record({"name": f"long{r}"}, status="completed")
        values = 3.0 + np.sin(steps / 5000.0) * 0.5 + r
        values[123_457 + r] = 50.0  # one spike each
        walls = 1.7e9 + steps / 10.0
        manager.metrics.add_series(exp, {"loss": (steps, values, walls)})
        ids.append(exp)
    _compared(qtbot, page, ids)
    plot = page.view.plot
    assert plot.metric == "loss"
    width = plot._axes_px()
    for r, rid in enumerate(ids):
        x, y = plot.raw_line_data(rid)
        assert 0 < x.size <= 4 * (width // 2)  # a few points per pixel, not 200,000
        assert y.max() == 50.0 and x[np.argmax(y)] == 123_457 + r  # the spike is drawn
        assert x[0] == 0 and x[-1] == n - 1
        sx, _sy = plot.line_data(rid)
        assert sx.size <= width + 1  # the smoothed curve: about a point per pixel
    assert plot.last_draw_ms > 0


def test_live_runs_are_read_again_as_they_log(qtbot, manager, signals, monkeypatch):
    monkeypatch.setattr(ComparePage, "LIVE_RELOAD_MS", 50)
    page = ComparePage(manager, signals, settings=Settings())
    qtbot.addWidget(page)
    page.show()
    ids = []
    for r in range(2):
        exp = manager.experiments.import_record({"name": f"live{r}"}, status="completed")
        manager.metrics.add_series(exp, {"validation": (np.arange(5), np.arange(5.0) + r, None)})
        ids.append(exp)
    try:
        _compared(qtbot, page, ids)
        plot = page.view.plot
        assert plot.raw_line_data(ids[0])[0].tolist() == [0, 1, 2, 3, 4]
        manager.metrics.add_series(ids[0], {"validation": (np.array([5, 6]), np.ones(2), None)})
        signals.run_metrics.emit(ids[0], {"validation": [(5, 1.0), (6, 1.0)]})
        qtbot.waitUntil(lambda: plot.raw_line_data(ids[0])[0].size == 7, timeout=5000)
        qtbot.waitUntil(
            lambda: page.view.summary.cell_text("Steps reached", ids[0]) == "6", timeout=5000
        )
        signals.run_metrics.emit(99, {})  # another run: nothing to read
        assert not page._live_timer.isActive()
    finally:
        page.shutdown()
        wait_for_background()


def test_open_in_tensorboard_says_when_it_is_not_installed(qtbot, manager, tmp_path):
    python = "/usr/bin/python3"
    if (
        not Path(python).exists()
        or subprocess.run([python, "-c", "import tensorboard"], capture_output=True).returncode == 0
    ):
        pytest.skip("no Python without TensorBoard here")
    rave = tmp_path / "rave"
    rave.write_text(f"#!{python}\n", encoding="utf-8")
    rave.chmod(0o755)
    page = ComparePage(manager, settings=Settings(rave_executable=str(rave)))
    qtbot.addWidget(page)
    page.show()
    try:
        ids = import_captures(manager, tmp_path)
        _compared(qtbot, page, ids)
        view = page.view
        assert view.tensorboard_button.isEnabled()
        with qtbot.waitSignal(view.tensorboard.failed, timeout=30_000):
            view.tensorboard_button.click()
        assert "TensorBoard is not installed" in view.message_bar.text()
        assert f"{python} -m pip install tensorboard" in view.message_bar.text()
        assert view.tensorboard.servers == []
    finally:
        page.shutdown()
        wait_for_background()
