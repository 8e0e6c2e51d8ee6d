"""Text that must be read in full is never cut: the wizard's confirmation rows (a long dataset
path, the validation steps, the estimates), the Listen panel's list of validations, and the
runs list's columns after a visit to the History tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_helpers import make_lmdb_dataset

from rave_gui.core.worker import wait_for_background
from rave_gui.ui.widgets.listen_panel import ListenPanel
from rave_gui.ui.wizard.new_training import NewTrainingWizard

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rave"


def test_confirmation_rows_are_never_cut(qtbot, manager, controller, tmp_path):
    project_id = manager.projects.default_id()
    deep = tmp_path / "a-folder-with-a-rather-long-name" / "and-another-one-below-it" / "db"
    manager.datasets.register(project_id, make_lmdb_dataset(deep, 16, seconds=90.0))
    wizard = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    qtbot.waitUntil(lambda: wizard.install is not None, timeout=60_000)
    wizard.next()
    wizard.params_page.batch_spin.setValue(5)
    wizard.params_page.val_every_spin.setValue(20)
    wizard.params_page.max_steps_spin.setValue(500_000)  # a long note on validation steps
    wizard.next()
    page = wizard.confirm_page
    assert wizard.currentPage() is page
    qtbot.wait(50)
    labels = [
        page.summary.itemAt(i).widget()
        for i in range(page.summary.count())
        if page.summary.itemAt(i).widget() is not None
    ]
    values = [w for w in labels if not w.text().endswith(":")]
    multi = [w for w in values if w.heightForWidth(w.width()) > 1.5 * w.fontMetrics().height()]
    assert multi, "the long path and the validation note take more than one line"
    for width in (860, 760):  # the wizard as it opens, and narrower
        wizard.resize(width, wizard.height())
        qtbot.wait(50)
        for w in values:
            assert w.height() >= w.heightForWidth(w.width()) - 1, w.text()
        tops = [w.geometry().top() for w in values]
        bottoms = [w.geometry().bottom() for w in values]
        assert all(b < t for b, t in zip(bottoms, tops[1:], strict=False))  # no overlap


@pytest.mark.skipif(not (FIXTURES / "run_110steps").is_dir(), reason="captured run missing")
def test_the_validation_list_shows_step_and_loss_uncut(qtbot):
    panel = ListenPanel()
    qtbot.addWidget(panel)
    panel.resize(560, 300)  # the Listen tab at the smallest window
    panel.show()
    panel.set_run(str(FIXTURES / "run_110steps"), 1, live=False)
    qtbot.waitUntil(lambda: panel.clip_list.count() > 0, timeout=5000)
    lst = panel.clip_list
    room = lst.viewport().width()
    for i in range(lst.count()):
        item = lst.item(i)
        for line in item.text().splitlines():
            assert lst.fontMetrics().horizontalAdvance(line) + 8 <= room, line
        assert item.text().replace("\n", " ") in item.toolTip()
    panel.shutdown()
    wait_for_background()


@pytest.mark.parametrize("size", [(1101, 683), (1366, 768)])
def test_runs_table_keeps_its_columns_after_the_history_tab(qtbot, manager, window, size):
    """The History tab takes the page's width; back on Runs, the name column had stretched
    over all of it and pushed status and start time out of sight (seen in the screenshots)."""
    from rave_gui.ui.models.experiments_model import COL

    ids = [manager.start_training({"name": n, "project_id": window.project_id}) for n in "ab"]
    window.resize(*size)
    window.show_page("training")
    window.refresh_current_page()
    page = window.training_page
    page.select_run(ids[0])
    header = page.table.horizontalHeader()
    qtbot.wait(100)
    before = header.sectionSize(COL["name"])
    page.left_tabs.setCurrentWidget(page.history)
    page.history.refresh()
    page.history.table.selectRow(0)
    qtbot.wait(100)
    page.left_tabs.setCurrentIndex(0)
    qtbot.wait(100)
    assert header.sectionSize(COL["name"]) == before  # not stretched over the page
    # the status column is in sight, not pushed out of it
    assert header.sectionViewportPosition(COL["status"]) < page.table.viewport().width() - 40


def test_an_alert_reads_in_full_from_its_tooltip(qtbot, manager):
    from PyQt6.QtCore import Qt

    from rave_gui.ui.widgets.run_alerts import AlertHistory

    exp = manager.start_training({"name": "watched", "project_id": manager.projects.default_id()})
    message = "validation has not improved for 3 validations and is still 8.489, 99 % of where"
    manager.alerts.add(exp, "underfitting", "warning", message, 67, advice="Try a larger config.")
    table = AlertHistory()
    qtbot.addWidget(table)
    table.resize(540, 200)  # the Alerts tab at the smallest window: "What to do" is out of sight
    table.set_alerts(manager.alerts.for_run(exp))
    table.show()
    header = table.horizontalHeader()
    assert header.sectionViewportPosition(4) >= table.viewport().width()
    for column in (3, 4):
        tip = table.model().index(0, column).data(Qt.ItemDataRole.ToolTipRole)
        assert message in tip and "What to do: Try a larger config." in tip
