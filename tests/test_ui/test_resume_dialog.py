"""ResumeDialog (issue 15 §3): the run's checkpoints with step and validation loss, max steps
above the chosen checkpoint's step, the command line, and the resume itself."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from fake_rave import make_run
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication

from rave_gui.backend.errors import ValidationError
from rave_gui.ui.dialogs.resume_dialog import ResumeDialog


@pytest.fixture
def run(manager, tmp_path: Path) -> int:
    """A stopped run of 40 max steps: validations at steps 10 (0.5) and 20 (0.4), a checkpoint
    after each and best.ckpt."""
    exp = manager.start_training({"name": "cello", "max_steps": 40})
    manager.update_experiment_status(exp, "running")
    manager.update_experiment_status(exp, "stopped")
    folder = make_run(tmp_path / "runs" / "1-cello")
    manager.experiments.update(exp, run_dir=str(folder))
    ckpts = folder / "version_0" / "checkpoints"
    for name, mtime in (
        ("epoch-epoch=0000.ckpt", 1000.0),
        ("epoch-epoch=0001.ckpt", 1010.0),
        ("best.ckpt", 1011.0),
    ):
        os.utime(ckpts / name, (mtime, mtime))
    manager.metrics.add_points(
        exp, [("validation", 10, 0.5, 995.0), ("validation", 20, 0.4, 1005.0)]
    )
    return exp


def _dialog(qtbot, manager, exp: int, submit=None) -> tuple[ResumeDialog, list]:
    calls: list = []

    def record(path: str, max_steps: int, name: str) -> int:
        calls.append((path, max_steps, name))
        return 99

    d = ResumeDialog(manager, exp, submit or record)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitUntil(lambda: d.is_loaded)
    return d, calls


def _cells(d: ResumeDialog, title: str) -> dict[str, str]:
    col = [c.title for c in d.ckpt_model.columns].index(title)
    return {
        Path(d.ckpt_model.record(r).path).name: d.ckpt_model.index(r, col).data(
            Qt.ItemDataRole.DisplayRole
        )
        for r in range(d.ckpt_model.rowCount())
    }


def test_the_checkpoints_are_read_in_the_background(qtbot, manager, run):
    d = ResumeDialog(manager, run, lambda *_a: 99)
    qtbot.addWidget(d)
    d.show()
    # the dialog is up before the folder and the store are read: it says so, nothing to resume
    assert not d.is_loaded and d.ckpt_model.rowCount() == 0
    assert d.table_error.error() == "Reading the run's checkpoints…"
    assert not d.resume_button.isEnabled() and d.command_line() == ""
    assert d.max_steps() == 40  # the run's own until a checkpoint is chosen
    with qtbot.waitSignal(d.loaded, timeout=5000):
        pass
    assert d.table_error.error() == "" and d.ckpt_model.rowCount() == 3
    assert d.checkpoint() is not None and d.resume_button.isEnabled()
    assert d.command_line().startswith("rave-gui runs resume-from")


def test_checkpoints_are_listed_with_step_and_validation_loss(qtbot, manager, run):
    d, _calls = _dialog(qtbot, manager, run)
    assert _cells(d, "Step") == {
        "epoch-epoch=0000.ckpt": "10",
        "epoch-epoch=0001.ckpt": "20",
        "best.ckpt": "20",
    }
    assert _cells(d, "Val. loss") == {
        "epoch-epoch=0000.ckpt": "0.5",
        "epoch-epoch=0001.ckpt": "0.4",
        "best.ckpt": "0.4",
    }
    chosen = d.checkpoint()
    assert chosen is not None and Path(chosen.path).name == "epoch-epoch=0001.ckpt"  # latest
    assert d.max_steps() == 40  # the run's own: the checkpoint is short of it
    assert d.resume_button.isEnabled()


def test_max_steps_must_be_above_the_checkpoint_and_the_command_follows(qtbot, manager, run):
    d, calls = _dialog(qtbot, manager, run)
    d.steps_spin.setValue(20)
    assert d.steps_error.error().startswith("The checkpoint is at step 20 and RAVE counts on")
    assert not d.resume_button.isEnabled()
    d.resume_button.click()
    assert calls == [] and d.isVisible()
    d.steps_spin.setValue(400)
    assert d.steps_error.error() == ""
    d.select_checkpoint(next(c.path for c in d.checkpoints() if c.is_best))
    d.name_edit.setText("cello longer")
    argv = shlex.split(d.command_box.toPlainText())
    assert argv[:4] == ["rave-gui", "runs", "resume-from", str(run)]
    assert argv[argv.index("--checkpoint") + 1].endswith("best.ckpt")
    assert argv[argv.index("--max-steps") + 1] == "400"
    assert argv[argv.index("--name") + 1] == "cello longer"
    QGuiApplication.clipboard().setText("")
    d.copy_button.click()
    assert QGuiApplication.clipboard().text() == d.command_box.toPlainText()
    d.resume_button.click()
    assert calls == [(d.checkpoint().path, 400, "cello longer")]
    assert d.new_id == 99 and not d.isVisible()


def test_a_refused_resume_is_shown_and_the_dialog_stays(qtbot, manager, run):
    def refuse(path: str, max_steps: int, name: str) -> int:
        raise ValidationError("An experiment named 'x' already exists in this project.")

    d, _calls = _dialog(qtbot, manager, run, refuse)
    d.resume_button.click()
    assert d.isVisible()
    assert "already exists" in d.error_label.error()


def test_a_run_without_checkpoints_says_so(qtbot, manager):
    exp = manager.start_training({"name": "none", "max_steps": 40})
    d, _calls = _dialog(qtbot, manager, exp)
    assert d.table_error.error() == "This run has no checkpoint on disk to resume from."
    assert not d.resume_button.isEnabled()
