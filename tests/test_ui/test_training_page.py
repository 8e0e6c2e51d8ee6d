"""TrainingPage: the runs table, legal actions, live details and a finished run's history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import QMessageBox, QToolButton

from rave_gui.backend.errors import InvalidTransitionError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.tfevents import read_scalars
from rave_gui.core.signals import AppSignals
from rave_gui.ui.models.experiments_model import COL
from rave_gui.ui.pages.training_page import TrainingPage

FIXTURE = Path("/work/shared/fixtures/rave/run_110steps")


class FakeController:
    """Does what the RunController does to the store and the signals, without processes."""

    def __init__(self, manager: TrainingManager, signals: AppSignals) -> None:
        self.manager = manager
        self.signals = signals
        self.calls: list[tuple[str, int]] = []
        self.fail_with: Exception | None = None

    def _set(self, exp_id: int, status: str) -> None:
        self.manager.update_experiment_status(exp_id, status)
        self.signals.run_status_changed.emit(exp_id, status)

    def _call(self, what: str, exp_id: int) -> None:
        self.calls.append((what, exp_id))
        if self.fail_with is not None:
            raise self.fail_with

    def stop(self, exp_id: int) -> None:
        self._call("stop", exp_id)
        self._set(exp_id, "stopped")

    def pause(self, exp_id: int) -> None:
        self._call("pause", exp_id)
        self._set(exp_id, "paused")

    def resume(self, exp_id: int) -> None:
        self._call("resume", exp_id)
        self._set(exp_id, "running")

    def save_checkpoint_now(self, exp_id: int) -> None:
        self._call("save_checkpoint_now", exp_id)

    def resume_from_checkpoint(
        self, exp_id: int, name=None, *, checkpoint=None, max_steps=None
    ) -> int:
        self._call("resume_from_checkpoint", exp_id)
        self.resumed_with = (name, checkpoint, max_steps)
        old = self.manager.get_experiment(exp_id)
        new = self.manager.start_training(
            {"name": name or old.name + " (resumed)", "parent_id": exp_id, "max_steps": max_steps}
        )
        self.signals.runs_changed.emit()
        return new

    def active_ids(self) -> list[int]:
        return []


@pytest.fixture
def page(qtbot, manager: TrainingManager):
    signals = AppSignals()
    controller = FakeController(manager, signals)
    p = TrainingPage(manager, controller, signals)
    p.confirm_actions = False
    qtbot.addWidget(p)
    p.resize(1300, 800)
    p.show()
    qtbot.waitExposed(p)
    p.fake = controller  # for the tests
    yield p
    p.shutdown()


def _imported_real_run(manager: TrainingManager, tmp_path: Path) -> int:
    log = tmp_path / "train.log"
    log.write_bytes(
        (FIXTURE / "train.stdout").read_bytes() + (FIXTURE / "train.stderr").read_bytes()
    )
    exp = manager.experiments.import_record(
        {"name": "long", "max_steps": 110, "config": "v2_small"},
        status="completed",
        started_at=time.time() - 600,
        completed_at=time.time() - 460,
        log_path=str(log),
    )
    points = [(p.tag, p.step, p.value, p.wall_time) for p in read_scalars(FIXTURE)]
    manager.metrics.add_points(exp, points)
    return exp


def _enabled(page: TrainingPage) -> set[str]:
    names = {
        page.stop_action: "stop",
        page.pause_action: "pause",
        page.resume_action: "resume",
        page.resume_ckpt_action: "resume_from_checkpoint",
        page.save_ckpt_action: "save_checkpoint",
    }
    return {n for a, n in names.items() if a.isEnabled()}


def test_project_runs_are_listed_and_the_newest_is_shown(page: TrainingPage, manager):
    first = manager.start_training({"name": "first", "max_steps": 500})
    newest = manager.start_training({"name": "newest", "max_steps": 500})
    page.set_project(manager.projects.default_id())
    assert page.model.rowCount() == 2
    assert page.current_id == newest
    assert page.panel.name_label.text() == "newest"
    assert page.panel.status_badge.text() == "queued"
    assert "2 runs" in page.count_label.text()
    page.select_run(first)
    assert page.current_id == first and page.selected_id() == first


def test_actions_are_enabled_only_where_the_status_allows_them(page: TrainingPage, manager):
    exp = manager.start_training({"name": "r", "max_steps": 100})
    page.set_project(manager.projects.default_id())
    assert _enabled(page) == {"stop"}  # queued
    manager.update_experiment_status(exp, "running")
    page.signals.run_status_changed.emit(exp, "running")
    assert _enabled(page) == {"stop", "pause", "save_checkpoint"}
    page.save_ckpt_action.trigger()
    assert page.fake.calls[-1] == ("save_checkpoint_now", exp)
    page.pause_action.trigger()
    assert page.fake.calls[-1] == ("pause", exp)
    assert page.panel.status_badge.text() == "paused"
    assert _enabled(page) == {"stop", "resume"}
    page.resume_action.trigger()
    assert _enabled(page) == {"stop", "pause", "save_checkpoint"}
    page.stop_action.trigger()
    assert page.fake.calls[-1] == ("stop", exp)
    assert page.model.index(page.model.row_of(exp), COL["status"]).data() == "stopped"
    assert _enabled(page) == set()  # no checkpoint to resume from
    manager.artifacts.sync_checkpoints(
        exp, [{"path": "/runs/r/best.ckpt", "step": 50, "is_best": True}]
    )
    page.signals.run_checkpoints_changed.emit(exp)
    assert _enabled(page) == {"resume_from_checkpoint"}


# What each status enables on the page, written out: (without a checkpoint, with one).
BUTTONS: dict[str, tuple[set[str], set[str]]] = {
    "queued": ({"stop"}, {"stop"}),
    "running": ({"stop", "pause", "save_checkpoint"}, {"stop", "pause", "save_checkpoint"}),
    "paused": ({"stop", "resume"}, {"stop", "resume"}),
    "stopping": (set(), set()),
    "completed": (set(), {"resume_from_checkpoint", "export"}),
    "stopped": (set(), {"resume_from_checkpoint", "export"}),
    "failed": (set(), {"resume_from_checkpoint"}),
}
_PATH_TO = {"running": ["running"], "paused": ["running", "paused"]}
_PATH_TO["stopping"] = ["running", "stopping"]


@pytest.mark.parametrize("status", list(BUTTONS))
@pytest.mark.parametrize("has_checkpoint", [False, True], ids=["no-ckpt", "ckpt"])
def test_each_status_enables_its_buttons(page: TrainingPage, manager, status, has_checkpoint):
    if status in ("completed", "stopped", "failed"):
        exp = manager.experiments.import_record({"name": "r"}, status=status)
    else:
        exp = manager.start_training({"name": "r"})
        for step in _PATH_TO.get(status, []):
            manager.update_experiment_status(exp, step)
    if has_checkpoint:
        manager.artifacts.sync_checkpoints(exp, [{"path": "/runs/r/epoch-1.ckpt", "step": 17}])
    page.set_project(manager.projects.default_id())
    assert page.panel.status_badge.text() == status
    expected = BUTTONS[status][has_checkpoint]
    assert _enabled(page) | ({"export"} if page.export_action.isEnabled() else set()) == expected
    buttons = [
        b for b in page.toolbar.findChildren(QToolButton) if b.defaultAction() in page.run_actions
    ]
    assert len(buttons) == len(page.run_actions)
    assert {b.defaultAction() for b in buttons if b.isEnabled()} == {
        a for a in page.run_actions if a.isEnabled()
    }
    no_ckpt_tip = page.resume_ckpt_action.toolTip() == "This run saved no checkpoint to resume from"
    assert no_ckpt_tip == (status in ("completed", "stopped", "failed") and not has_checkpoint)


def test_resume_from_checkpoint_goes_through_the_dialog_and_selects_the_new_run(
    qtbot, page: TrainingPage, manager, tmp_path
):
    from fake_rave import make_run

    exp = manager.experiments.import_record({"name": "old", "max_steps": 110}, status="stopped")
    folder = make_run(tmp_path / "old")  # best.ckpt and epoch-epoch=0000/0001.ckpt
    manager.experiments.update(exp, run_dir=str(folder))
    manager.metrics.add_points(exp, [("loss", 10, 1.0, 1.0)])  # the checkpoints' steps
    page.set_project(manager.projects.default_id())
    page.select_run(exp)
    dialog = page.resume_selected_from_checkpoint()
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.is_loaded)
    assert page.fake.calls == []  # nothing happens before the user chooses
    latest = dialog.checkpoint()
    assert latest is not None and not latest.is_best
    dialog.steps_spin.setValue(500)
    dialog.name_edit.setText("old-more")
    dialog.resume_button.click()
    assert not dialog.isVisible()
    assert page.fake.resumed_with == ("old-more", latest.path, 500)
    new_id = dialog.new_id
    assert new_id is not None and new_id != exp
    assert page.current_id == new_id
    assert page.panel.name_label.text() == "old-more"


def test_an_action_the_controller_refuses_shows_its_message(qtbot, page: TrainingPage, manager):
    exp = manager.start_training({"name": "r", "max_steps": 100})
    manager.update_experiment_status(exp, "running")
    page.set_project(manager.projects.default_id())
    page.fake.fail_with = InvalidTransitionError("Experiment 'r' is already stopping.")
    page.pause_action.trigger()
    assert page.last_error == "Experiment 'r' is already stopping."
    box = page.error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.text() == "Experiment 'r' is already stopping."
    box.close()
    assert page.panel.status_badge.text() == "running"


def test_save_checkpoint_now_shows_why_it_cannot(qtbot, page: TrainingPage, manager):
    from rave_gui.backend.errors import ProcessError

    exp = manager.start_training({"name": "r", "max_steps": 100})
    manager.update_experiment_status(exp, "running")
    page.set_project(manager.projects.default_id())
    assert page.save_ckpt_action.isEnabled()
    page.fake.fail_with = ProcessError("The process of 'r' is no longer running.")
    page.save_ckpt_action.trigger()
    assert page.fake.calls[-1] == ("save_checkpoint_now", exp)
    assert page.error_box.windowTitle() == "Cannot save a checkpoint now"
    assert page.last_error == "The process of 'r' is no longer running."
    page.error_box.close()


def test_stop_asks_for_confirmation(monkeypatch, page: TrainingPage, manager):
    exp = manager.start_training({"name": "r", "max_steps": 100})
    manager.update_experiment_status(exp, "running")
    page.set_project(manager.projects.default_id())
    page.confirm_actions = True
    answers = []

    def fake_question(*args, **kwargs):
        answers.append(args[2])
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", fake_question)
    page.stop_action.trigger()
    assert answers and "Stop 'r'" in answers[0]
    assert page.fake.calls == []  # cancelled


def test_live_signals_update_progress_speed_eta_log_and_plot(qtbot, page: TrainingPage, manager):
    exp = manager.start_training({"name": "live", "max_steps": 1000})
    manager.update_experiment_status(exp, "running")
    page.set_project(manager.projects.default_id())
    s = page.signals
    s.run_progress.emit(exp, {"step": 250, "max_steps": 1000, "percent": 25.0, "rate": 2.0})
    assert page.panel.progress_bar.value() == 250
    assert (
        "250 / 1,000" in page.panel.progress_bar.format()
        and "25.0 %" in page.panel.progress_bar.format()
    )
    assert page.panel.speed_value.text() == "2.00 steps/s"
    assert page.panel.eta_value.text() == "6 min 15 s"  # 750 steps at 2 steps/s
    s.run_output.emit(exp, [("Epoch 1 started", "info"), ("a warning", "warning")])
    s.run_output.emit(exp + 1, [("another run", "info")])
    assert page.log_view.toPlainText().endswith("Epoch 1 started\na warning")
    assert "another run" not in page.log_view.toPlainText()
    manager.metrics.add_points(exp, [("validation", 250, 0.5, None)])  # stored, then sent
    s.run_metrics.emit(exp, {"validation": [(250, 0.5)]})
    qtbot.waitUntil(lambda: page.plot.line_data("validation")[0].size == 1, timeout=3000)
    assert page.model.index(page.model.row_of(exp), COL["best"]).data() == "0.5"


def test_the_eta_to_the_adversarial_phase_comes_from_the_runs_config_gin(
    page: TrainingPage, manager, tmp_path
):
    if not FIXTURE.exists():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    exp = manager.start_training({"name": "long", "max_steps": 3_000_000})
    manager.update_experiment_status(exp, "running")
    run_dir = tmp_path / "run"
    (run_dir / "long_d744cc98b7").mkdir(parents=True)
    manager.experiments.update(exp, run_dir=str(run_dir))
    page.set_project(manager.projects.default_id())
    s = page.signals
    s.run_progress.emit(exp, {"step": 988_600, "max_steps": 3_000_000, "rate": 1.0})
    assert page.panel.phase_value.text() == "–"  # RAVE has not written its config.gin yet
    # RAVE writes it (PHASE_1_DURATION = 1000000): read when the run's details are shown again
    (run_dir / "long_d744cc98b7" / "config.gin").write_bytes((FIXTURE / "config.gin").read_bytes())
    s.run_status_changed.emit(exp, "running")
    s.run_progress.emit(exp, {"step": 988_600, "max_steps": 3_000_000, "rate": 1.0})
    assert page.panel.phase_value.text() == "adversarial phase in ~3 h 10 min"  # 11,400 s
    assert "1,000,000 steps" in page.panel.phase_value.toolTip()
    s.run_progress.emit(exp, {"step": 1_000_050, "max_steps": 3_000_000, "rate": 1.0})
    assert page.panel.phase_value.text() == "adversarial phase since step 1,000,000"


def test_a_finished_imported_run_shows_its_whole_history(qtbot, page, manager, tmp_path):
    exp = _imported_real_run(manager, tmp_path)
    page.set_project(manager.projects.default_id())
    assert page.current_id == exp
    assert page.panel.status_badge.text() == "completed"
    assert page.panel.progress_bar.value() == 1000
    assert page.panel.eta_value.text() == "done"
    assert page.panel.elapsed_value.text() == "2 min 20 s"
    assert page.panel.pid_value.text() == "–"
    assert "s/step" in page.panel.speed_value.text()  # 101 logged steps in 140 s
    qtbot.waitUntil(lambda: page.plot.line_data("validation")[0].size == 6, timeout=5000)
    assert "multiband_spectral_distance" in page.plot.visible_series()
    assert "fidelity_0.95" in page.plot.series_names()
    assert "fidelity_0.95" not in page.plot.visible_series()
    log = page.log_view.toPlainText()
    assert "`Trainer.fit` stopped: `max_steps=110` reached." in log
    assert "train set: 35 examples" in log


def test_filters_narrow_the_table(page: TrainingPage, manager):
    a = manager.start_training({"name": "drums v2"})
    b = manager.start_training({"name": "voice v3"})
    manager.update_experiment_status(b, "running")
    page.set_project(manager.projects.default_id())
    page.filter_edit.setText("drums")
    assert page.proxy.rowCount() == 1 and page.proxy.experiment_id(0) == a
    page.filter_edit.clear()
    page.status_combo.setCurrentText("Active")
    assert page.proxy.rowCount() == 2
    page.status_combo.setCurrentText("Running")
    assert page.proxy.rowCount() == 1 and page.proxy.experiment_id(0) == b
    assert "1 of 2 runs shown" in page.count_label.text()
    page.select_run(a)  # hidden by the filter: the filters are cleared to show it
    assert page.current_id == a
    assert page.status_combo.currentText() == "All runs"


def test_context_menu_offers_the_run_actions(page: TrainingPage, manager):
    manager.start_training({"name": "r"})
    page.set_project(manager.projects.default_id())
    rect = page.table.visualRect(page.proxy.index(0, 0))
    page._context_menu(rect.center())
    texts = [a.text() for a in page._menu.actions() if not a.isSeparator()]
    assert texts[:4] == ["Stop", "Pause", "Resume", "Resume from checkpoint"]
    assert page._menu.actions()[0].isEnabled()
    page._menu.close()
    page._context_menu(QPoint(5, 5000))  # below the rows: no menu for nothing


def test_new_runs_appear_and_a_deleted_selected_run_moves_the_selection(page, manager):
    exp = manager.start_training({"name": "soon gone"})
    page.set_project(manager.projects.default_id())
    assert page.current_id == exp
    new = manager.start_training({"name": "new"})
    page.signals.runs_changed.emit()
    assert page.model.row_of(new) is not None
    assert page.current_id == exp  # the selection stays
    manager.experiments.delete(exp)
    page.signals.runs_changed.emit()
    assert page.current_id == new == page.selected_id()  # the neighbour, shown and selected
    assert page.panel.name_label.text() == "new"
    manager.experiments.delete(new)
    page.signals.runs_changed.emit()
    assert page.current_id is None
    assert page.panel.name_label.text() == "No run selected"


def test_an_empty_project_says_how_to_start(page: TrainingPage, manager):
    page.set_project(manager.projects.default_id())
    assert page.current_id is None
    assert "No runs in this project yet" in page.panel.info_label.text()
    assert _enabled(page) == set()


def test_system_panel_shows_the_machine_and_gpu_rows(qtbot, page: TrainingPage):
    from rave_gui.backend.system import sysmon

    panel = page.panel.system_panel
    page.panel.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.last_sample is not None, timeout=5000)
    s = panel.last_sample
    if not s.gpus:  # this machine has no NVIDIA driver
        assert panel.no_gpu_label.text() == "no NVIDIA GPU found"
        assert panel.no_gpu_label.isVisible()
    assert "cores" in panel.cpu_bar.format()
    assert " / " in panel.ram_bar.format() and " GB" in panel.ram_bar.format()
    gpu = sysmon.GpuSample(0, "NVIDIA H100", 45.0, 10 * 1024**3, 80 * 1024**3, 61.0, 150.0, 700.0)
    panel.show_sample(sysmon.SystemSample(s.time, (gpu,), None, 12.0, 16, 1, 2))
    assert not panel.no_gpu_label.isVisible()
    w = panel._gpu_widgets[0]
    assert w["name"].text() == "GPU 0 · NVIDIA H100"
    assert w["util"].format() == "45 %" and w["util"].value() == 450
    assert w["mem"].format() == "10.7 GB / 85.9 GB"  # decimal units, as everywhere
    assert w["misc"].text() == "61 °C   ·   150 / 700 W"


def test_an_imported_run_tells_its_fidelity_and_lets_you_listen(qtbot, page, manager, tmp_path):
    from rave_gui.backend.rave.fidelity import fidelity_fact

    exp = _imported_real_run(manager, tmp_path)
    manager.experiments.update(exp, run_dir=str(FIXTURE))
    page.set_project(manager.projects.default_id())
    fact = fidelity_fact(manager.get_experiment(exp).summary)
    assert fact and fact.endswith("95 % of the variance")
    assert fact in page.panel.info_label.text()
    listen = page.panel.listen_panel
    page.panel.tabs.setCurrentWidget(listen)
    qtbot.waitUntil(lambda: listen.clip_list.count() == 6, timeout=5000)
    qtbot.waitUntil(lambda: listen.audio is not None, timeout=5000)
    assert listen.audio.clip.step == 101


def test_run_actions_have_shortcuts_shown_in_their_tooltips(qtbot, page: TrainingPage, manager):
    exp = manager.start_training({"name": "r", "max_steps": 100})
    manager.update_experiment_status(exp, "running")
    page.set_project(manager.projects.default_id())
    keys = {page.stop_action: "Ctrl+.", page.pause_action: "Ctrl+P", page.resume_action: "Ctrl+R"}
    for action, key in keys.items():
        assert action.shortcut().toString() == key
        assert f"({key})" in action.toolTip()
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert page.fake.calls == [("pause", exp)]
    qtbot.keyClick(page.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(page.table, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
    assert page.fake.calls == [("pause", exp), ("resume", exp), ("stop", exp)]
    assert manager.get_experiment(exp).status == "stopped"
    # A stopped run cannot be paused: the disabled action's shortcut does nothing.
    qtbot.keyClick(page.table, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert len(page.fake.calls) == 3


def test_the_toolbar_has_a_new_training_button(qtbot, page: TrainingPage):
    button = page.toolbar.widgetForAction(page.new_training_action)
    assert isinstance(button, QToolButton) and button.isVisible()
    assert button.text().startswith("New training")
    with qtbot.waitSignal(page.new_training_requested):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_runs_folder_is_shown_and_opens_in_the_file_manager(
    monkeypatch, page: TrainingPage, manager, tmp_path
):
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    run_dir = tmp_path / "runs" / "cello"
    exp = manager.start_training({"name": "cello", "max_steps": 100})
    page.set_project(manager.projects.default_id())
    assert not page.panel.folder_button.isVisible()  # queued: no folder yet
    manager.experiments.update(exp, run_dir=str(run_dir))
    page.refresh()
    panel = page.panel
    assert panel.folder_label.text() == f"Folder: {run_dir}"
    assert not panel.folder_button.isEnabled()  # not created yet
    assert "does not exist" in panel.folder_button.toolTip()
    run_dir.mkdir(parents=True)
    page.refresh()
    assert panel.folder_button.isEnabled()
    panel.folder_button.click()
    assert [u.toLocalFile() for u in opened] == [str(run_dir)]
    assert opened[0].scheme() == "file"


def test_a_started_run_whose_log_is_not_written_yet_waits_for_it(
    page: TrainingPage, manager, tmp_path: Path
):
    exp = manager.start_training({"name": "starting", "max_steps": 100})
    manager.experiments.update(exp, log_path=str(tmp_path / "1-starting" / "train.log"))
    manager.update_experiment_status(exp, "running")
    page.set_project(manager.projects.default_id())
    text = page.log_view.toPlainText()
    assert text == "Waiting for the run's log…" and "does not exist" not in text
    page.signals.run_output.emit(exp, [("train set: 35 examples", "info")])
    assert page.log_view.toPlainText() == "train set: 35 examples"
