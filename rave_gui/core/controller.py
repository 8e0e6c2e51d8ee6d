"""RunController: the GUI's handle on training runs (start, queue, follow, stop, re-attach)."""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QObject, QTimer

from ..backend.engine import Engine
from ..backend.errors import RaveGuiError
from ..backend.follower import reconcile
from ..backend.manager import LIVE_STATUSES, TrainingManager
from ..backend.ravecmd import RaveInstall
from ..backend.settings import Settings
from .process import TrainingProcess
from .signals import AppSignals
from .worker import run_in_background, wait_for_background

SCHEDULE_INTERVAL_MS = 2000


class RunController(QObject):
    """Owns one TrainingProcess thread per live run and turns their signals into AppSignals.

    Runs are separate process groups: closing the app only stops following them unless the
    user asks to stop them too; on the next start ``attach_existing`` picks them up again.
    """

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals,
        settings: Settings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.signals = signals
        self.settings = settings
        self.engine = Engine(manager, settings)
        self.threads: dict[int, TrainingProcess] = {}
        self._attaching = False  # runs left from a previous session are being reconciled
        self._timer = QTimer(self)
        self._timer.setInterval(SCHEDULE_INTERVAL_MS)
        self._timer.timeout.connect(self.schedule)
        self._timer.start()

    # --- settings and RAVE ---------------------------------------------------------------------
    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.engine.settings = settings
        self.schedule()

    def install(self) -> RaveInstall:
        return self.engine.install()

    # --- starting ------------------------------------------------------------------------------
    def start_training(self, config: dict[str, Any]) -> int:
        """Check, record and start (or queue) a run; raises a RaveGuiError with the reason."""
        exp_id = self.engine.submit(config, start=False)
        self.signals.runs_changed.emit()
        self.signals.run_status_changed.emit(exp_id, "queued")
        self.schedule()
        return exp_id

    def schedule(self) -> None:
        """Start queued runs while slots are free, and follow every live run."""
        if self._attaching:
            return
        try:  # never wait on the GUI thread: while another process schedules, the next tick
            started = self.engine.schedule(wait=0.0)
        except RaveGuiError:
            started = []
        for exp_id in started:
            status = self.manager.get_experiment(exp_id)["status"]
            self.signals.run_status_changed.emit(exp_id, status)
            if status in LIVE_STATUSES:
                self.signals.run_started.emit(exp_id)
        for exp in self.manager.list_experiments(status=list(LIVE_STATUSES)):
            self.follow(exp["id"])
        failed = [e for e in started if self.manager.get_experiment(e)["status"] == "failed"]
        for exp_id in failed:
            err = self.manager.get_experiment(exp_id)["error"] or "failed to start"
            self.signals.run_failed.emit(exp_id, err)

    def follow(self, exp_id: int) -> None:
        if exp_id in self.threads:
            return
        thread = TrainingProcess(self.manager, exp_id, parent=self)
        thread.lines_received.connect(
            lambda lines, i=exp_id: self.signals.run_output.emit(i, lines)
        )
        thread.metrics_update.connect(lambda pts, i=exp_id: self.signals.run_metrics.emit(i, pts))
        thread.run_progress.connect(lambda info, i=exp_id: self.signals.run_progress.emit(i, info))
        thread.checkpoints_changed.connect(
            lambda i=exp_id: self.signals.run_checkpoints_changed.emit(i)
        )
        thread.ended.connect(lambda ok, msg, i=exp_id: self._on_finished(i, ok, msg))
        self.threads[exp_id] = thread
        thread.start()

    def _on_finished(self, exp_id: int, ok: bool, message: str) -> None:
        thread = self.threads.pop(exp_id, None)
        if thread is not None:
            thread.wait(5000)
            thread.deleteLater()
        status = self.manager.get_experiment(exp_id)["status"]
        self.signals.run_status_changed.emit(exp_id, status)
        if status == "completed":
            self.signals.run_completed.emit(exp_id, message)
        elif status == "stopped":
            self.signals.run_stopped.emit(exp_id, message)
        elif status == "failed":
            self.signals.run_failed.emit(exp_id, message)
        self.schedule()

    # --- control -------------------------------------------------------------------------------
    def stop(self, experiment_id: int) -> None:
        # A run whose process is gone is recorded by its follower thread, off the GUI thread.
        status = self.engine.request_stop(
            experiment_id, follow_ended=experiment_id not in self.threads
        )
        self.signals.run_status_changed.emit(experiment_id, status)
        if status == "stopped":
            self.signals.run_stopped.emit(experiment_id, "cancelled")

    def pause(self, experiment_id: int) -> None:
        self.engine.pause(experiment_id)
        self.signals.run_status_changed.emit(experiment_id, "paused")

    def resume(self, experiment_id: int) -> None:
        self.engine.resume(experiment_id)
        self.signals.run_status_changed.emit(experiment_id, "running")

    def resume_from_checkpoint(self, experiment_id: int, name: str | None = None) -> int:
        new_id = self.engine.resume_from_checkpoint(experiment_id, name, start=False)
        self.signals.runs_changed.emit()
        self.schedule()
        return new_id

    def active_ids(self) -> list[int]:
        return [e["id"] for e in self.manager.list_experiments(status=list(LIVE_STATUSES))]

    # --- app start and close -------------------------------------------------------------------
    def attach_existing(self) -> None:
        """Re-attach to runs still alive (pid and start time match) and record the outcome
        of runs that ended while the app was closed. Reading what those runs wrote meanwhile
        happens off the GUI thread; queued runs wait until it is done."""
        self._attaching = True
        run_in_background(
            lambda: reconcile(self.manager), self._on_reconciled, self._on_reconcile_failed
        )

    def _on_reconciled(self, result: tuple[list[int], list[int]]) -> None:
        alive, ended = result
        self._attaching = False
        for exp_id in ended:
            self.signals.run_status_changed.emit(
                exp_id, self.manager.get_experiment(exp_id)["status"]
            )
        if ended:
            self.signals.runs_changed.emit()
        for exp_id in alive:
            self.follow(exp_id)
            self.signals.run_started.emit(exp_id)
        self.schedule()

    def _on_reconcile_failed(self, _err: Exception) -> None:
        # The runs stay as they were recorded; following them reports what it can.
        self._attaching = False
        self.schedule()

    def shutdown(self, stop_runs: bool) -> None:
        """Stop following every run (and stop the runs themselves if asked); waits for the
        follower threads so none outlives the window."""
        self._timer.stop()
        if self._attaching:  # let the reconciliation finish writing before the app closes
            wait_for_background(30_000)
        if stop_runs:
            for exp_id in self.active_ids():
                try:
                    self.engine.request_stop(exp_id, follow_ended=False)  # stop() below
                except RaveGuiError:
                    pass
        for thread in list(self.threads.values()):
            thread.stop_following()
        for exp_id, thread in list(self.threads.items()):
            thread.wait(10_000)
            self.threads.pop(exp_id, None)
        if stop_runs:
            for exp_id in self.active_ids():
                try:
                    self.engine.stop(exp_id)
                except RaveGuiError:
                    pass
