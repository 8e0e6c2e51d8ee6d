"""Closing the window with active runs: keep them (default), stop them, or cancel the close."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QApplication

from rave_gui.ui.dialogs.close_dialog import CANCEL, KEEP, STOP, CloseRunsDialog


@pytest.mark.parametrize(
    ("button", "choice", "accepted"),
    [("keep_button", KEEP, True), ("stop_button", STOP, True), ("cancel_button", CANCEL, False)],
)
def test_each_button_gives_its_choice(qtbot, button, choice, accepted):
    dialog = CloseRunsDialog(2)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.finished) as done:
        getattr(dialog, button).click()
    assert dialog.choice() == choice
    assert (done.args[0] == dialog.DialogCode.Accepted) is accepted


def test_keep_is_the_default_and_escape_cancels(qtbot):
    dialog = CloseRunsDialog(1)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.keep_button.isDefault()
    assert dialog.stop_button.text() == "Stop the run"
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.choice() == CANCEL
    dialog2 = CloseRunsDialog(3)
    qtbot.addWidget(dialog2)
    dialog2.show()
    assert dialog2.stop_button.text() == "Stop all 3 runs"
    qtbot.keyClick(dialog2, Qt.Key.Key_Return)
    assert dialog2.choice() == KEEP


def _close_answering(window, button: str) -> list[bool]:
    """Close the window, clicking ``button`` in the dialog it opens; returns the
    ``shutdown(stop_runs)`` calls the controller received."""
    calls: list[bool] = []
    real = window.controller.shutdown
    window.controller.shutdown = lambda stop_runs: (calls.append(stop_runs), real(False))
    window.controller.active_ids = lambda: [7, 8]
    seen: list[CloseRunsDialog] = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, CloseRunsDialog):
            QTimer.singleShot(20, answer)
            return
        seen.append(dialog)
        getattr(dialog, button).click()

    QTimer.singleShot(0, answer)
    window.close()
    assert seen, "the close dialog was not shown"
    return calls


def test_keep_leaves_runs_running(window):
    assert _close_answering(window, "keep_button") == [False]
    assert not window.isVisible()


def test_stop_stops_the_runs(window):
    assert _close_answering(window, "stop_button") == [True]
    assert not window.isVisible()


def test_cancel_keeps_the_window_open(window):
    assert _close_answering(window, "cancel_button") == []
    assert window.isVisible()
    window.controller.active_ids = lambda: []


def test_no_dialog_without_active_runs(window):
    calls: list[bool] = []
    real = window.controller.shutdown
    window.controller.shutdown = lambda stop_runs: (calls.append(stop_runs), real(stop_runs))
    window.close()
    assert calls == [False]
    assert not window.isVisible()
