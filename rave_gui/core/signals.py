"""AppSignals: one application-wide hub announcing what happens to training runs."""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal


class AppSignals(QObject):
    """Emitted on the GUI thread by the RunController; pages listen, nobody polls.

    Every signal carries the experiment id first.
    """

    run_started = pyqtSignal(int)  # a process was started (or re-attached) for the run
    run_status_changed = pyqtSignal(int, str)  # new status (queued/running/paused/...)
    # {"step", "max_steps", "percent", "rate", "eta", "epoch", "text"}
    run_progress = pyqtSignal(int, dict)
    run_metrics = pyqtSignal(int, dict)  # {metric name: [(step, value), ...]} of new points
    # new log lines: [(text, level), ...], level "info", "warning" or "error"
    run_output = pyqtSignal(int, list)
    run_checkpoints_changed = pyqtSignal(int)
    # health alerts just stored: [{"kind", "severity", "step", "message", "advice"}, ...]
    run_alerts = pyqtSignal(int, list)
    run_alerts_dismissed = pyqtSignal(int)  # the user dismissed (acknowledged) a run's alert
    run_completed = pyqtSignal(int, str)
    run_stopped = pyqtSignal(int, str)
    run_failed = pyqtSignal(int, str)  # reason
    runs_changed = pyqtSignal()  # experiments were added, deleted or renamed
