"""The run panel's health alerts (banner, history, plot markers) and a failed run's diagnosis."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from test_training_page import FIXTURE, FakeController, _imported_real_run

from rave_gui.backend.runs.health import HealthMonitor
from rave_gui.core.signals import AppSignals
from rave_gui.ui.models.experiments_model import COL
from rave_gui.ui.pages.training_page import TrainingPage

SHOTS = Path(os.environ.get("RAVE_GUI_SHOTS", "/tmp/rave-gui-shots"))


@pytest.fixture
def page(qtbot, manager):
    signals = AppSignals()
    p = TrainingPage(manager, FakeController(manager, signals), signals)
    qtbot.addWidget(p)
    p.resize(1300, 800)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.shutdown()


def _store_alerts(manager, exp: int) -> list:
    """Real alerts: the rules fed a validation that turns NaN, then the adversarial phase."""
    alerts = HealthMonitor().feed(
        {"validation": [(16, 8.6), (50, math.nan)], "adversarial": [(84, 1.0)]}
    )
    for a in alerts:
        manager.alerts.add(exp, a.kind, a.severity, a.message, a.step, advice=a.advice)
    return alerts


def test_new_alerts_show_a_banner_a_history_and_plot_markers(
    qtbot, page: TrainingPage, manager, tmp_path
):
    if not FIXTURE.exists():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    exp = _imported_real_run(manager, tmp_path)
    page.set_project(manager.projects.default_id())
    panel = page.panel
    assert panel.experiment_id == exp
    assert not panel.alert_banner.isVisible()
    qtbot.waitUntil(lambda: page.plot.line_data("validation")[0].size == 6, timeout=5000)

    alerts = _store_alerts(manager, exp)
    assert [a.kind for a in alerts] == ["nan", "phase_change"]
    page.signals.run_alerts.emit(exp + 1, [])  # another run's: nothing read
    assert not panel.alert_banner.isVisible()
    page.signals.run_alerts.emit(exp, [])
    banner = panel.alert_banner
    assert banner.isVisible()
    assert "phase_change" in banner.title.text() and "step 84" in banner.title.text()
    assert banner.advice.text() == alerts[1].advice == banner.toolTip()
    assert not banner.advice.isVisible()  # two lines above the plot; the advice on a click
    banner.advice_button.click()
    assert banner.advice.isVisible()
    tab = panel.tabs.indexOf(panel.alert_history)
    assert panel.tabs.tabText(tab) == "Alerts (2)"
    model = panel.alert_history.model()
    assert model.rowCount() == 2
    assert [model.index(r, 2).data() for r in range(2)] == ["nan", "phase_change"]
    assert model.index(0, 4).data() == alerts[0].advice
    assert page.plot.alert_steps() == [50, 84]
    name_cell = page.model.index(page.model.row_of(exp), COL["name"])
    assert name_cell.data(Qt.ItemDataRole.DecorationRole) is not None  # the nan error

    page.plot.redraw_now()
    panel.tabs.setCurrentIndex(tab)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.grab().save(str(SHOTS / "run-alerts.png"))

    # dismissed: the banner shows the older alert not yet dismissed; kept in the store
    qtbot.mouseClick(banner.close_button, Qt.MouseButton.LeftButton)
    assert banner.isVisible() and "nan" in banner.title.text()
    assert [a.acknowledged for a in manager.alerts.for_run(exp)] == [False, True]
    assert name_cell.data(Qt.ItemDataRole.DecorationRole) is not None  # nan still open
    banner.close_button.click()
    assert not banner.isVisible()
    assert name_cell.data(Qt.ItemDataRole.DecorationRole) is None  # runs table: mark gone
    assert model.rowCount() == 2  # the history keeps them
    page._show_run(exp, reload=True)  # shown again later: still dismissed
    assert not panel.alert_banner.isVisible()
    assert page.plot.alert_steps() == [50, 84]


def test_a_failed_run_shows_its_diagnosis_not_the_traceback(
    qtbot, page: TrainingPage, manager, tmp_path
):
    log = tmp_path / "train.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "/opt/venv/lib/python3.11/site-packages/scripts/train.py", line 200, in main\n'
        "    nepoch = FLAGS.val_every // len(train)\n"
        "ZeroDivisionError: integer division or modulo by zero\n"
    )
    exp = manager.start_training({"name": "big batch"})
    manager.experiments.update(exp, log_path=str(log))
    manager.update_experiment_status(
        exp, "failed", error="ZeroDivisionError: integer division or modulo by zero"
    )
    page.set_project(manager.projects.default_id())
    label = page.panel.error_label
    assert label.isVisible()
    assert label.text().startswith("The batch is larger than the training set.")
    assert "smaller --batch" in label.text()
    assert "From: ZeroDivisionError" in label.text()
