"""Closing the window with active runs: keep them (default), stop them, or cancel the close."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QApplication

from rave_gui.ui.dialogs.close_dialog import (
    CANCEL,
    KEEP,
    STOP,
    CloseRunsDialog,
    StoppingRunsDialog,
)

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from replay_helpers import (  # noqa: E402
    fixtures_available,
    group_members,
    kill_group,
    start_replay_experiment,
)


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


def _close_answering(qtbot, window, button: str) -> list[bool]:
    """Close the window, clicking ``button`` in the dialog it opens; returns the
    ``shutdown(stop_runs)`` / ``begin_shutdown(stop_runs)`` calls the controller received."""
    calls: list[bool] = []
    ctl = window.controller
    real, real_begin = ctl.shutdown, ctl.begin_shutdown
    ctl.shutdown = lambda stop_runs: (calls.append(stop_runs), real(False))
    ctl.begin_shutdown = lambda stop_runs: (calls.append(stop_runs), real_begin(False))
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


def test_keep_leaves_runs_running(qtbot, window):
    assert _close_answering(qtbot, window, "keep_button") == [False]
    assert not window.isVisible()


def test_stop_stops_the_runs_then_closes(qtbot, window):
    assert _close_answering(qtbot, window, "stop_button") == [True]
    assert isinstance(window.stopping_dialog, StoppingRunsDialog)  # the window waits, open
    assert window.isVisible()
    window.close()  # closing again while the runs stop changes nothing
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert window.stopping_dialog is None


def test_cancel_keeps_the_window_open(qtbot, window):
    assert _close_answering(qtbot, window, "cancel_button") == []
    assert window.isVisible()
    window.controller.active_ids = lambda: []


def test_no_dialog_without_active_runs(window):
    calls: list[bool] = []
    real = window.controller.shutdown
    window.controller.shutdown = lambda stop_runs: (calls.append(stop_runs), real(stop_runs))
    window.close()
    assert calls == [False]
    assert not window.isVisible()


@pytest.mark.skipif(not fixtures_available(), reason="needs the captured RAVE runs")
def test_stopping_runs_at_close_keeps_the_window_responsive(qtbot, window, manager, tmp_path):
    """Two live (replayed) runs that take 2 s each to shut down, "Stop all 2 runs": a progress
    note shows, the runs stop together in the background, a 20 ms timer on the GUI thread
    keeps ticking throughout, and the window closes once both runs ended stopped with nothing
    of them left."""
    shutdown_s = 2.0
    runs = [
        start_replay_experiment(
            manager,
            tmp_path / "runs",
            name=f"r{i}",
            duration=60.0,
            workers=1,
            seed=i,
            interrupt_time=shutdown_s,
        )
        for i in range(2)
    ]
    try:
        ctl = window.controller
        ctl.schedule()  # the background pass finds the live runs and follows them
        qtbot.waitUntil(lambda: all(r.exp_id in ctl.threads for r in runs), timeout=10_000)
        # training has begun (a SIGINT before that would not be a graceful shutdown)
        logs = [r.launched.log_path for r in runs]
        qtbot.waitUntil(
            lambda: all(p.exists() and b"examples" in p.read_bytes() for p in logs),
            timeout=20_000,
        )
        notes: list[str] = []
        ctl.shutdown_progress.connect(notes.append)
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(20)
        timer.timeout.connect(lambda: ticks.append(time.monotonic()))
        timer.start()

        def answer() -> None:
            dialog = QApplication.activeModalWidget()
            if not isinstance(dialog, CloseRunsDialog):
                QTimer.singleShot(20, answer)
                return
            assert dialog.stop_button.text() == "Stop all 2 runs"
            dialog.stop_button.click()

        QTimer.singleShot(0, answer)
        t0 = time.monotonic()
        ticks.append(t0)
        window.close()  # returns at once: the runs are stopped in the background
        returned = time.monotonic() - t0
        assert window.isVisible() and window.stopping_dialog is not None
        assert window.stopping_dialog.isVisible()
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
        took = time.monotonic() - t0
        timer.stop()
    finally:
        for r in runs:
            kill_group(r.pgid)
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    print(f"close returned in {returned:.3f} s, closed after {took:.2f} s, {len(ticks)} ticks, "
          f"longest gap {max(gaps) * 1000:.0f} ms")  # fmt: skip
    assert notes[0] == "Stopping 2 runs… (SIGINT sent, waiting)"
    assert notes[-1] == "Every run is stopped."
    assert max(gaps) < 0.25, "the GUI thread stopped processing events"
    assert len(ticks) > 0.5 * took / 0.020
    assert shutdown_s < took < 2 * shutdown_s  # stopped together, not one after the other
    for r in runs:
        exp = manager.get_experiment(r.exp_id)
        assert exp.status == "stopped", exp
        assert group_members(r.pgid) == []
    assert window.controller.threads == {}
