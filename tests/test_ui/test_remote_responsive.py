"""The GUI thread never waits on the network: a run submitted to a target (the real sshd on
127.0.0.1) and stop/pause/resume/save-now of a remote run happen in the background while the
event loop keeps turning (measured: the longest gap between two ticks of a 10 ms timer)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QWizard
from remote_hosts import close_connections, sshd  # noqa: F401  (fixtures)

from rave_gui.backend.manager import TrainingManager

RAVE = Path(sys.executable).with_name("rave")
MAX_GAP_S = 0.3  # the GUI thread may be busy this long at most (a slow, shared test machine)


class GapMeter:
    """The longest time between two ticks of a 10 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = time.monotonic()
        self.longest = 0.0

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def start(self) -> None:
        self.last = time.monotonic()
        self.longest = 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


def test_submitting_to_a_target_leaves_the_gui_responsive(
    qtbot,
    manager: TrainingManager,
    controller,
    fake_dataset: Path,
    sshd,  # noqa: F811
) -> None:
    if not RAVE.exists():
        pytest.skip("the RAVE command line is not installed (the target's RAVE is inspected)")
    from remote_helpers import add_target

    from rave_gui.ui.wizard.new_training import NewTrainingWizard

    add_target(manager, sshd, "box", rave=str(RAVE))
    project_id = manager.projects.default_id()
    manager.datasets.register(project_id, fake_dataset)
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.next()
    qtbot.waitUntil(lambda: wiz.install is not None, timeout=60_000)
    wiz.next()
    wiz.params_page.name_edit.setText("far away")
    wiz.next()
    wiz.where_page.combo.setCurrentIndex(1)  # box
    qtbot.waitUntil(lambda: wiz.where_page.remote is not None, timeout=60_000)
    wiz.where_page.dataset_edit.setText(str(Path("/no such/dataset")))
    wiz.next()
    assert wiz.currentPage() is wiz.confirm_page
    meter = GapMeter()
    meter.start()
    began = time.monotonic()
    finish = wiz.button(QWizard.WizardButton.FinishButton)
    finish.click()
    # the click returned at once: the submission goes on in the background, the page says so
    assert wiz.submit_task is not None and wiz.isVisible()
    assert wiz.confirm_page.progress_label.text().startswith("Starting on box…")
    assert not finish.isEnabled()
    qtbot.waitUntil(lambda: wiz.submit_task is None, timeout=60_000)
    took = time.monotonic() - began
    longest = meter.stop()
    # the target was reached, RAVE probed there and the dataset refused: seconds of network
    error = wiz.confirm_page.error_label.error()
    assert error.startswith("The run was not started") and "metadata.yaml" in error, error
    # measured here: the submission took 0.7 s to 3 s, the longest stall 13 ms; blocking, the
    # GUI thread would have stalled the whole submission
    assert longest < min(MAX_GAP_S, took / 2), f"the GUI stalled {longest:.3f} s of {took:.2f} s"
    assert wiz.isVisible() and finish.isEnabled() and wiz.confirm_page.progress_label.isHidden()
    assert manager.list_experiments(project_id) == []  # nothing recorded


def test_stop_of_a_remote_run_runs_in_the_background(
    qtbot,
    manager: TrainingManager,
    controller,
    signals,
    tmp_path: Path,
    sshd,  # noqa: F811
) -> None:
    from remote_helpers import add_target, start_remote_replay

    target = add_target(manager, sshd, "box")
    run = start_remote_replay(manager, target, tmp_path / "runs", duration=60.0)
    exp_id = run.experiment_id
    meter = GapMeter()
    meter.start()
    began = time.monotonic()
    controller.pause(exp_id)
    controller.stop(exp_id)
    returned = time.monotonic() - began
    assert returned < 0.1, returned  # no ssh round trip on the GUI thread
    qtbot.waitUntil(
        lambda: manager.get_experiment(exp_id).status in ("stopped", "completed"),
        timeout=90_000,
    )
    assert meter.stop() < MAX_GAP_S
    assert manager.get_experiment(exp_id).status == "stopped"


def test_a_refused_remote_action_is_said(
    qtbot,
    manager: TrainingManager,
    controller,
    tmp_path: Path,
    sshd,  # noqa: F811
) -> None:
    from remote_helpers import add_target, start_remote_replay

    target = add_target(manager, sshd, "box")
    run = start_remote_replay(manager, target, tmp_path / "runs", duration=60.0)
    with qtbot.waitSignal(controller.action_failed, timeout=30_000) as failed:
        controller.resume(run.experiment_id)  # it is running, not paused
    exp_id, action, why = failed.args
    assert (exp_id, action) == (run.experiment_id, "resume")
    assert "only a paused run can be resumed" in why
    controller.stop(run.experiment_id)
    qtbot.waitUntil(
        lambda: manager.get_experiment(run.experiment_id).status == "stopped", timeout=90_000
    )
    # save-now goes through ssh too: in the background, a refusal said the same way
    began = time.monotonic()
    with qtbot.waitSignal(controller.action_failed, timeout=30_000) as failed:
        assert controller.save_checkpoint_now(run.experiment_id) == 0
        assert time.monotonic() - began < 0.1
    exp_id, action, why = failed.args
    assert (exp_id, action) == (run.experiment_id, "save a checkpoint of")
    assert "only a running run can save a checkpoint now" in why
