"""ExperimentsModel: live updates from the AppSignals without resets, and its filter proxy."""

from __future__ import annotations

import time

import pytest
from PyQt6.QtCore import QItemSelectionModel, Qt
from PyQt6.QtWidgets import QTableView

from rave_gui.backend.manager import TrainingManager
from rave_gui.core.signals import AppSignals
from rave_gui.ui.models.experiments_model import (
    COL,
    ExperimentsFilterModel,
    ExperimentsModel,
    format_step_short,
)
from rave_gui.ui.models.roles import Role
from rave_gui.ui.widgets.status_delegate import StatusDelegate


@pytest.fixture
def setup(qtbot, manager: TrainingManager):
    """A model over a project with three runs, a proxy and a view showing it."""
    project = manager.projects.default_id()
    ids = [manager.start_training({"name": f"run {i}", "max_steps": 1000}) for i in range(3)]
    signals = AppSignals()
    # The view owns the models, as the Training page does: deleted with it, never before it.
    view = QTableView()
    model = ExperimentsModel(manager, signals, view)
    model.set_project(project)
    proxy = ExperimentsFilterModel(view)
    proxy.setSourceModel(model)
    view.setModel(proxy)
    view.setItemDelegateForColumn(COL["status"], StatusDelegate(view))
    qtbot.addWidget(view)
    view.show()
    return manager, signals, model, proxy, view, ids, project


def _select(view: QTableView, proxy: ExperimentsFilterModel, exp_id: int) -> None:
    row = proxy.proxy_row_of(exp_id)
    assert row is not None
    view.selectionModel().setCurrentIndex(
        proxy.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )


def _selected_id(view: QTableView, proxy: ExperimentsFilterModel) -> int | None:
    rows = view.selectionModel().selectedRows()
    return rows[0].data(Role.KEY) if rows else None


def test_rows_show_the_projects_runs_newest_first(setup):
    _manager, _signals, model, _proxy, _view, ids, _project = setup
    assert model.rowCount() == 3
    assert model.ids() == list(reversed(ids))
    idx = model.index(0, COL["status"])
    assert idx.data() == "queued"
    assert idx.data(Role.STATUS) == "queued"
    assert model.index(0, COL["step"]).data() == "0 / 1,000"


def test_a_new_run_appears_on_runs_changed_without_a_reset(qtbot, setup):
    manager, signals, model, proxy, view, ids, project = setup
    _select(view, proxy, ids[1])
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(model.rowsInserted, timeout=1000):
        new_id = manager.start_training({"name": "fresh", "project_id": project})
        signals.runs_changed.emit()
    assert new_id in model.ids()
    assert model.rowCount() == 4
    assert _selected_id(view, proxy) == ids[1]
    assert not resets


def test_a_deleted_run_is_removed_with_remove_rows(qtbot, setup):
    manager, signals, model, proxy, view, ids, _project = setup
    _select(view, proxy, ids[2])
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(model.rowsRemoved, timeout=1000):
        manager.experiments.delete(ids[0])
        signals.runs_changed.emit()
    assert model.ids() == [ids[2], ids[1]]
    assert _selected_id(view, proxy) == ids[2]
    assert not resets


def test_a_status_change_updates_only_its_row_and_keeps_selection_and_scroll(qtbot, manager):
    project = manager.projects.default_id()
    ids = [manager.start_training({"name": f"r{i:03d}", "max_steps": 10}) for i in range(120)]
    signals = AppSignals()
    view = QTableView()
    model = ExperimentsModel(manager, signals, view)
    model.set_project(project)
    proxy = ExperimentsFilterModel(view)
    proxy.setSourceModel(model)
    view.setModel(proxy)
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    target = ids[40]
    _select(view, proxy, target)
    view.scrollTo(proxy.index(proxy.proxy_row_of(target), 0))
    scroll = view.verticalScrollBar().value()
    assert scroll > 0

    resets, changes = [], []
    model.modelReset.connect(lambda: resets.append(1))
    proxy.modelReset.connect(lambda: resets.append(2))
    model.dataChanged.connect(lambda tl, br, roles=(): changes.append((tl.row(), br.row())))
    manager.update_experiment_status(target, "running")
    signals.run_status_changed.emit(target, "running")

    row = model.row_of(target)
    assert model.index(row, COL["status"]).data() == "running"
    assert changes and all(a == b == row for a, b in changes)
    assert not resets
    assert _selected_id(view, proxy) == target
    assert view.verticalScrollBar().value() == scroll


def test_progress_and_metrics_signals_update_step_and_best_validation(setup):
    _manager, signals, model, _proxy, _view, ids, _project = setup
    target = ids[0]
    changed = []
    model.dataChanged.connect(lambda tl, br, roles=(): changed.append((tl.column(), br.column())))
    signals.run_progress.emit(target, {"step": 250, "max_steps": 1000, "percent": 25.0})
    row = model.row_of(target)
    assert model.index(row, COL["step"]).data() == "250 / 1,000"
    assert changed == [(COL["step"], COL["step"])]

    signals.run_metrics.emit(target, {"validation": [(300, 0.9), (310, float("nan"))]})
    signals.run_metrics.emit(target, {"validation": [(320, 0.7)], "loss": [(330, 1.0)]})
    signals.run_metrics.emit(target, {"validation": [(340, 0.8)]})
    assert model.index(row, COL["best"]).data() == "0.7"
    assert model.run_by_id(target).step == 340
    # a signal about a run of another project is ignored
    signals.run_progress.emit(999, {"step": 1})


def test_running_time_ticks_for_live_runs(qtbot, setup):
    manager, signals, model, _proxy, _view, ids, _project = setup
    target = ids[0]
    manager.update_experiment_status(target, "running")
    signals.run_status_changed.emit(target, "running")
    row = model.row_of(target)
    assert model.run(row).is_live
    with qtbot.waitSignal(model.dataChanged, timeout=2500) as blocker:
        pass
    tl, br = blocker.args[0], blocker.args[1]
    assert tl.column() == br.column() == COL["duration"]
    assert model.index(row, COL["duration"]).data().endswith("s")


def test_text_and_status_filters(setup):
    manager, signals, _model, proxy, _view, ids, _project = setup
    manager.update_experiment_status(ids[0], "running")
    manager.update_experiment_status(ids[0], "failed", error="CUDA out of memory")
    signals.run_status_changed.emit(ids[0], "failed")
    assert proxy.rowCount() == 3

    proxy.set_text_filter("run 1")
    assert [proxy.experiment_id(r) for r in range(proxy.rowCount())] == [ids[1]]
    proxy.set_text_filter("MEMORY")  # the failure reason, any case
    assert [proxy.experiment_id(r) for r in range(proxy.rowCount())] == [ids[0]]
    proxy.set_text_filter("")

    proxy.set_status_filter(["queued"])
    assert sorted(proxy.experiment_id(r) for r in range(proxy.rowCount())) == sorted(ids[1:])
    proxy.set_status_filter({"failed", "completed"})
    assert [proxy.experiment_id(r) for r in range(proxy.rowCount())] == [ids[0]]
    # a run leaving the filtered status leaves the filtered view
    manager.update_experiment_status(ids[1], "running")
    signals.run_status_changed.emit(ids[1], "running")
    proxy.set_status_filter(["running"])
    assert [proxy.experiment_id(r) for r in range(proxy.rowCount())] == [ids[1]]
    manager.update_experiment_status(ids[1], "completed")
    signals.run_status_changed.emit(ids[1], "completed")
    assert proxy.rowCount() == 0
    proxy.set_status_filter(None)
    assert proxy.rowCount() == 3


def test_sorting_uses_raw_values(setup):
    _manager, signals, _model, proxy, _view, ids, _project = setup
    signals.run_progress.emit(ids[0], {"step": 900, "max_steps": 1000})
    signals.run_progress.emit(ids[1], {"step": 50, "max_steps": 1000})
    signals.run_progress.emit(ids[2], {"step": 100_000, "max_steps": 1000})
    proxy.sort(COL["step"], Qt.SortOrder.AscendingOrder)
    assert [proxy.experiment_id(r) for r in range(3)] == [ids[1], ids[0], ids[2]]


def test_set_project_switches_lists(manager):
    default = manager.projects.default_id()
    other = manager.projects.create("Other")
    manager.start_training({"name": "elsewhere", "project_id": other})
    manager.start_training({"name": "here"})
    model = ExperimentsModel(manager)
    model.set_project(default)
    assert [model.run(i).name for i in range(model.rowCount())] == ["here"]
    model.set_project(other)
    assert [model.run(i).name for i in range(model.rowCount())] == ["elsewhere"]
    model.set_project(None)
    assert model.rowCount() == 0


def test_formatting():
    assert format_step_short(300_000, 1_000_000) == "300k / 1M"
    assert format_step_short(None, None) == "–"
    assert format_step_short(12, None) == "12"


def test_duration_of_a_finished_run_is_fixed(manager):
    exp = manager.experiments.import_record(
        {"name": "old"},
        status="completed",
        started_at=time.time() - 1000,
        completed_at=time.time() - 880,
    )
    model = ExperimentsModel(manager)
    model.set_project(manager.projects.default_id())
    row = model.row_of(exp)
    assert model.index(row, COL["duration"]).data() == "2 min 00 s"


def test_a_run_with_an_open_alert_is_marked_and_the_mark_follows_signals(qtbot, setup):
    manager, signals, model, _proxy, _view, ids, project = setup
    first, second, _third = ids
    manager.alerts.add(first, "plateau", "warning", "validation is flat", 1200, "move on")
    manager.alerts.add(second, "phase_change", "info", "phase 2 started", 300)  # not marked
    model.set_project(project)  # loaded with the rows
    name = COL["name"]

    def cell(exp_id: int, role: int):
        return model.index(model.row_of(exp_id), name).data(role)

    icon = cell(first, Qt.ItemDataRole.DecorationRole)
    assert icon is not None and not icon.isNull()
    assert "Warning at step 1,200 (plateau): validation is flat" in cell(
        first, Qt.ItemDataRole.ToolTipRole
    )
    assert cell(second, Qt.ItemDataRole.DecorationRole) is None
    # a new alert arrives live: only that run's row changes
    err = manager.alerts.add(second, "nan", "error", "loss became NaN", 500)
    with qtbot.waitSignal(model.dataChanged) as blocker:
        signals.run_alerts.emit(second, [{"kind": "nan", "severity": "error"}])
    assert blocker.args[0].row() == model.row_of(second)
    assert cell(second, Qt.ItemDataRole.DecorationRole) is not None
    assert "Error at step 500 (nan)" in cell(second, Qt.ItemDataRole.ToolTipRole)
    # dismissed: the mark goes
    manager.alerts.acknowledge(err)
    with qtbot.waitSignal(model.dataChanged):
        signals.run_alerts_dismissed.emit(second)
    assert cell(second, Qt.ItemDataRole.DecorationRole) is None
    assert "nan" not in cell(second, Qt.ItemDataRole.ToolTipRole)


def test_painting_does_not_query_the_alerts(setup, monkeypatch):
    manager, _signals, model, _proxy, view, ids, project = setup
    manager.alerts.add(ids[0], "stalled", "warning", "no new step", 10)
    calls: list[object] = []
    real = manager.alerts.latest_open
    monkeypatch.setattr(manager.alerts, "latest_open", lambda e: calls.append(e) or real(e))
    model.set_project(project)
    assert len(calls) == 1  # one query for all the rows
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            for role in (Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole):
                model.index(row, col).data(role)
    view.viewport().repaint()
    assert len(calls) == 1
