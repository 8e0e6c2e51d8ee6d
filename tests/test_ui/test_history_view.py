"""The history on a real store of many runs: the lazy model, the filter bar, the actions on
runs (compare, TensorBoard, run again, archive, delete, export) and the Training page's tab."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from history_helpers import T0, fill_runs
from PyQt6.QtCore import QDate, Qt

from rave_gui.backend.errors import NotFoundError
from rave_gui.backend.store.history import HistoryFilter
from rave_gui.ui.models.history_model import COL, PAGE, HistoryModel
from rave_gui.ui.widgets.history_view import HistoryView

N = 450


@pytest.fixture
def runs(manager, tmp_path: Path) -> list[int]:
    return fill_runs(manager, N, tmp_path / "data")


@pytest.fixture
def view(qtbot, manager, runs) -> HistoryView:
    v = HistoryView(manager)
    qtbot.addWidget(v)
    v.resize(1000, 500)
    v.set_project(manager.projects.default_id())
    v.show()
    return v


def _names(model: HistoryModel) -> list[str]:
    return [model.run(i).name for i in range(model.rowCount())]


def test_model_reads_a_page_at_a_time_and_sorts_in_the_store(qtbot, manager, runs) -> None:
    model = HistoryModel(manager)
    model.more = 2 * PAGE  # (1000 by default: more than these runs)
    model.reload()
    assert model.rowCount() == PAGE and model.total() == N and model.canFetchMore()
    assert model.index(0, COL["name"]).data() == "run-00449"  # newest first
    assert model.index(0, COL["steps"]).data() == "450k"
    assert model.index(0, COL["best_validation"]).data() == "0.00222222"
    assert model.index(0, COL["config"]).data() == "v2_small"  # 449 % 4 == 1
    with qtbot.waitSignal(model.rowsInserted):
        model.fetchMore()
    assert model.rowCount() == 3 * PAGE
    model.fetch_all()
    assert model.rowCount() == N and not model.canFetchMore()
    assert len(set(_names(model))) == N
    model.sort(COL["best_validation"], Qt.SortOrder.DescendingOrder)  # a new order: page 1
    assert model.rowCount() == PAGE and _names(model)[:2] == ["run-00000", "run-00001"]
    model.sort(COL["tags"], Qt.SortOrder.AscendingOrder)
    assert model.run(0).tags == ("good",) and model.run(PAGE - 1).tags == ()
    model.set_filter(HistoryFilter(tag="long"))
    assert model.total() == model.rowCount() == len(range(0, N, 15))
    assert not model.canFetchMore()


def test_filter_bar_filters_by_every_field(qtbot, view: HistoryView) -> None:
    bar, model = view.filter_bar, view.model

    def total_after(change) -> int:
        with qtbot.waitSignal(model.modelReset, timeout=2000):
            change()
        return model.total()

    assert bar.config_combo.findData("causal") > 0 and bar.tag_combo.findData("long") > 0
    assert total_after(lambda: bar.text_edit.setText("more noise")) == len(range(0, N, 7))
    assert "450 runs" not in view.count_label.text()
    assert total_after(lambda: bar.text_edit.clear()) == N
    i = bar.status_combo.findText("Failed")
    assert total_after(lambda: bar.status_combo.setCurrentIndex(i)) == N // 3
    ds = bar.dataset_combo.findData("ds2")
    assert total_after(lambda: bar.dataset_combo.setCurrentIndex(ds)) == N // 3  # 2 mod 3
    assert total_after(bar.clear) == N
    cfg = bar.config_combo.findData("v2")  # v2 and v2 + causal, not v2_small
    assert total_after(lambda: bar.config_combo.setCurrentIndex(cfg)) == sum(
        1 for i in range(N) if i % 4 in (0, 2)
    )
    tag = bar.tag_combo.findData("good")
    assert total_after(lambda: bar.tag_combo.setCurrentIndex(tag)) == sum(
        1 for i in range(N) if i % 4 in (0, 2) and i % 10 == 0
    )
    bar.clear()
    day = dt.datetime.fromtimestamp(T0 + 200 * 1200).date()
    qday = QDate(day.year, day.month, day.day)
    start = dt.datetime(day.year, day.month, day.day).timestamp()
    expected = sum(1 for i in range(N) if start <= T0 + i * 1200 < start + 86_400)
    total_after(lambda: bar.since_edit.setDate(qday))
    assert total_after(lambda: bar.until_edit.setDate(qday)) == expected
    assert all(start <= model.run(r).started_at < start + 86_400 for r in range(model.rowCount()))
    bar.clear()
    view.manager.history.set_archived(model.run(0).id)
    view.refresh()
    assert model.total() == N - 1
    assert total_after(lambda: bar.archived_check.setChecked(True)) == N
    assert model.index(0, COL["status"]).data().endswith("(archived)")


def test_context_menu_emits_compare_tensorboard_and_run_again(qtbot, view: HistoryView) -> None:
    view.table.selectRow(0)
    menu = view.context_menu()
    assert [a.text() for a in menu.actions() if a.text()][:4] == [
        "Details…",
        "Run again…",
        "Compare",
        "Open in TensorBoard",
    ]
    assert not view.compare_action.isEnabled() and view.run_again_action.isEnabled()
    first = view.model.run(0).id
    with qtbot.waitSignal(view.run_again_requested) as again:
        view.run_again_action.trigger()
    assert again.args == [first]
    view.table.selectAll()  # 200 rows loaded: too many to compare
    view.context_menu()
    assert not view.compare_action.isEnabled() and view.tensorboard_action.isEnabled()
    view.table.clearSelection()
    for r in (0, 2, 5):
        view.table.selectionModel().select(
            view.model.index(r, 0),
            view.table.selectionModel().SelectionFlag.Select
            | view.table.selectionModel().SelectionFlag.Rows,
        )
    view.context_menu()
    assert view.compare_action.isEnabled() and not view.run_again_action.isEnabled()
    ids = [view.model.run(r).id for r in (0, 2, 5)]
    with qtbot.waitSignal(view.compare_requested) as compared:
        view.compare_action.trigger()
    assert compared.args == [ids]
    with qtbot.waitSignal(view.tensorboard_requested) as tb:
        view.tensorboard_action.trigger()
    assert tb.args == [ids]
    with qtbot.waitSignal(view.model.modelReset):
        view.archive_action.trigger()
    assert view.model.total() == N - 3 and "3 runs archived" in view.last_message


def test_delete_with_files_says_what_it_frees(qtbot, view: HistoryView, tmp_path: Path) -> None:
    exp_id = view.model.run(1).id
    folder = tmp_path / "runs" / "one"
    folder.mkdir(parents=True)
    (folder / "best.ckpt").write_bytes(b"\0" * 2_500_000)
    view.manager.experiments.update(exp_id, run_dir=str(folder))
    view.table.selectRow(1)
    box = view.ask_delete(files=True)
    assert "2.5 MB freed on disk" in box.informativeText()
    with qtbot.waitSignal(view.runs_deleted, timeout=10_000) as deleted:
        box.accept_button.click()
    assert deleted.args == [[exp_id]] and not folder.exists()
    assert view.last_message == "Run deleted; 2.5 MB freed"
    assert view.model.total() == N - 1 and view.model.row_of(exp_id) is None
    with pytest.raises(NotFoundError):
        view.manager.get_experiment(exp_id)
    view.table.selectRow(0)
    box = view.ask_delete(files=False)
    assert "metrics, notes and tags are removed" in box.informativeText()
    box.reject()


def test_export_metrics_writes_csv_and_json(qtbot, view: HistoryView, tmp_path: Path) -> None:
    exp_id = view.model.run(0).id
    view.manager.metrics.add_points(exp_id, [("loss", 1, 0.5, 10.0), ("loss", 2, 0.25, 11.0)])
    csv_path, json_path = tmp_path / "m.csv", tmp_path / "m.json"
    view.export(exp_id, str(csv_path))
    qtbot.waitUntil(lambda: view.last_message.startswith("Exported"), timeout=10_000)
    assert csv_path.read_text().splitlines() == [
        "metric,step,value,wall_time", "loss,1,0.5,10.0", "loss,2,0.25,11.0"
    ]  # fmt: skip
    view.export(exp_id, str(json_path))
    qtbot.waitUntil(lambda: str(json_path) in view.last_message, timeout=10_000)
    assert json.loads(json_path.read_text())["series"]["loss"] == [[1, 0.5, 10.0], [2, 0.25, 11.0]]
    view.table.selectRow(0)
    dialog = view.ask_export()
    assert dialog is not None and dialog.defaultSuffix() == "csv"
    dialog.reject()
    view.export(exp_id, str(tmp_path))  # a folder: refused, said
    qtbot.waitUntil(lambda: "it is a folder" in view.last_message, timeout=10_000)


def test_training_page_history_tab_shows_the_selected_run(qtbot, manager, signals, runs) -> None:
    from rave_gui.ui.pages.training_page import TrainingPage

    page = TrainingPage(manager, None, signals)
    qtbot.addWidget(page)
    page.resize(1400, 700)
    page.show()
    page.set_project(manager.projects.default_id())
    page.left_tabs.setCurrentWidget(page.history)
    assert not page.panel.isVisible()  # the whole width for ten columns
    assert page.history.model.total() == N
    page.history.table.selectRow(3)
    chosen = page.history.model.run(3).id
    assert page.current_id == chosen
    page.left_tabs.setCurrentIndex(0)  # back to Runs: the run chosen stays shown and selected
    assert page.panel.isVisible() and page.selected_id() == chosen
    page.left_tabs.setCurrentWidget(page.history)
    dialog = page.history.open_detail(chosen)
    assert dialog.view.detail.info["id"] == chosen
    dialog.close()
    with qtbot.waitSignal(page.compare_requested) as compared:
        page.history.compare_requested.emit([1, 2])
    assert compared.args == [[1, 2]]
    shown = page.model.rowCount()
    page.history.table.selectRow(0)
    page.history.archive_action.trigger()  # hidden in the Runs tab too
    assert page.model.rowCount() == shown - 1
    manager.history.add_tags(runs[0], ["fresh"])
    signals.runs_changed.emit()
    qtbot.waitUntil(lambda: page.history.filter_bar.tag_combo.findData("fresh") > 0, timeout=5000)
    page.shutdown()
