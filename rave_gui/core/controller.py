"""RunController: the GUI's handle on training runs (start, queue, follow, stop, re-attach).

Nothing here makes the GUI thread wait on a run: schedule passes (which may probe RAVE and
launch runs), the reconciliation at start and stopping the runs at close run in the
background, one engine pass at a time, and report back by signal.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from ..backend.errors import RaveGuiError
from ..backend.manager import TrainingManager
from ..backend.rave.command import RaveInstall
from ..backend.runs.engine import Engine
from ..backend.runs.followers import is_remote
from ..backend.runs.reconcile import reconcile
from ..backend.status import LIVE, RunStatus
from ..backend.system.settings import Settings
from .process import TrainingProcess
from .signals import AppSignals
from .worker import BackgroundTask, run_in_background

SCHEDULE_INTERVAL_MS = 2000


@dataclass
class SchedulePass:
    """What one background schedule pass found: queued runs that left the queue (with their
    new status and, for those that failed to start, the reason) and every live run."""

    changed: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    live: list[int] = field(default_factory=list)


class RunController(QObject):
    """Owns one TrainingProcess thread per live run and turns their signals into AppSignals.

    Runs are separate process groups: closing the app only stops following them unless the
    user asks to stop them too; on the next start ``attach_existing`` picks them up again.
    ``begin_shutdown`` closes without blocking: ``shutdown_progress(text)`` says how the
    stopping goes, ``shutdown_finished`` comes when nothing is left to wait for.
    """

    shutdown_progress = pyqtSignal(str)
    shutdown_finished = pyqtSignal()
    # a stop/pause/resume done in the background (a remote run) was refused: id, action, why
    action_failed = pyqtSignal(int, str, str)

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
        self._closing = False
        # One engine pass (schedule, reconcile, stopping at close) at a time, off the GUI thread.
        self._engine_lock = threading.Lock()
        self._schedule_task: BackgroundTask | None = None
        self._schedule_again = False
        self._timer = QTimer(self)
        self._timer.setInterval(SCHEDULE_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    # --- settings and RAVE ---------------------------------------------------------------------
    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.engine.settings = settings
        self.schedule()

    def install(self) -> RaveInstall:
        """Probe RAVE (cached per executable version; the first probe takes seconds): call it
        off the GUI thread, as the wizard does with run_in_background."""
        return self.engine.install()

    # --- starting ------------------------------------------------------------------------------
    def start_training(self, config: dict[str, Any]) -> int:
        """Check, record and start (or queue) a run; raises a RaveGuiError with the reason."""
        exp_id = self.engine.submit(config, start=False)
        self.signals.runs_changed.emit()
        self.signals.run_status_changed.emit(exp_id, RunStatus.QUEUED)
        self.schedule()
        return exp_id

    def start_training_in_background(self, config: dict[str, Any]) -> BackgroundTask:
        """start_training off the GUI thread, for a run on a target (connecting, copying the
        tools, probing RAVE and the dataset there and submitting take seconds). The task's
        ``succeeded(exp_id)`` / ``failed(error)`` come back on the GUI thread, after the
        controller has announced the new run."""

        def submit() -> int:
            with self._engine_lock:  # no schedule pass sees the run half-recorded
                return self.engine.submit(config, start=False)

        return run_in_background(submit, self._submitted)

    def _submitted(self, exp_id: int) -> None:
        status = self.manager.get_experiment(exp_id).status
        self.signals.runs_changed.emit()
        self.signals.run_status_changed.emit(exp_id, status)
        if status in LIVE:
            self.signals.run_started.emit(exp_id)
        self.schedule()  # follows it

    def schedule(self) -> None:
        """Start queued runs while slots are free, and follow every live run: a pass in the
        background (it may probe RAVE and launch processes); its results come back on the
        GUI thread. Asked while a pass runs, one more pass follows it (never two at once)."""
        if self._attaching or self._closing:
            return
        if self._schedule_task is not None:
            self._schedule_again = True
            return
        self._schedule_task = run_in_background(
            self._schedule_pass, self._on_scheduled, self._on_schedule_failed
        )

    def _tick(self) -> None:
        if self._schedule_task is None:  # a pass under way is as good as this one
            self.schedule()

    def _schedule_pass(self) -> SchedulePass:
        """In the background: one Engine.schedule and what the GUI needs to know of it."""
        with self._engine_lock:
            result = SchedulePass()
            queued = [e.id for e in self.manager.list_experiments(status=RunStatus.QUEUED)]
            try:
                self.engine.schedule()
            except RaveGuiError:
                pass
            for exp_id in queued:  # started, or failed to start (Engine.schedule says which)
                exp = self.manager.get_experiment(exp_id)
                if exp.status == RunStatus.QUEUED:
                    continue
                result.changed[exp_id] = exp.status
                if exp.status == RunStatus.FAILED:
                    result.errors[exp_id] = exp.error or "failed to start"
            result.live = [e.id for e in self.manager.list_experiments(status=list(LIVE))]
            return result

    def _on_scheduled(self, result: SchedulePass) -> None:
        self._schedule_task = None
        for exp_id, status in result.changed.items():
            self.signals.run_status_changed.emit(exp_id, status)
            if status in LIVE:
                self.signals.run_started.emit(exp_id)
        for exp_id in result.live:
            self.follow(exp_id)
        for exp_id, err in result.errors.items():
            self.signals.run_failed.emit(exp_id, err)
        self._schedule_next()

    def _on_schedule_failed(self, _err: Exception) -> None:
        self._schedule_task = None  # the next timer tick tries again
        self._schedule_next()

    def _schedule_next(self) -> None:
        if self._schedule_again:
            self._schedule_again = False
            self.schedule()

    def follow(self, exp_id: int) -> None:
        if exp_id in self.threads or self._closing:
            return
        thread = TrainingProcess(self.manager, exp_id, parent=self)
        thread.lines_received.connect(
            lambda lines, i=exp_id: self.signals.run_output.emit(i, lines)
        )
        thread.metrics_received.connect(lambda pts, i=exp_id: self.signals.run_metrics.emit(i, pts))
        thread.progress_changed.connect(
            lambda info, i=exp_id: self.signals.run_progress.emit(i, info)
        )
        thread.checkpoints_changed.connect(
            lambda i=exp_id: self.signals.run_checkpoints_changed.emit(i)
        )
        thread.alerts_raised.connect(lambda a, i=exp_id: self.signals.run_alerts.emit(i, a))
        thread.engine_state_changed.connect(lambda i=exp_id: self._announce_status(i))
        thread.run_ended.connect(lambda status, msg, i=exp_id: self._on_run_ended(i, status, msg))
        thread.following_failed.connect(lambda msg, i=exp_id: self._on_following_failed(i, msg))
        self.threads[exp_id] = thread
        thread.start()

    def _announce_status(self, exp_id: int) -> None:
        """run_status_changed with the recorded status (the views read the engine's state
        of a run on a target, "pending: Resources", with it)."""
        try:
            status = self.manager.get_experiment(exp_id).status
        except RaveGuiError:
            return
        self.signals.run_status_changed.emit(exp_id, status)

    def _drop_thread(self, exp_id: int) -> None:
        thread = self.threads.pop(exp_id, None)
        if thread is not None:
            thread.wait(5000)
            thread.deleteLater()

    def _on_following_failed(self, exp_id: int, message: str) -> None:
        """Following a run stopped on an error: the run is shown as recorded (the next
        schedule pass follows it again while it is live)."""
        self._drop_thread(exp_id)
        try:
            status = self.manager.get_experiment(exp_id).status
        except RaveGuiError:  # the experiment is gone
            self.schedule()
            return
        self._on_run_ended(exp_id, status, message)

    def _on_run_ended(self, exp_id: int, status: str, message: str) -> None:
        self._drop_thread(exp_id)
        self.signals.run_status_changed.emit(exp_id, status)
        if status == RunStatus.COMPLETED:
            self.signals.run_completed.emit(exp_id, message)
        elif status == RunStatus.STOPPED:
            self.signals.run_stopped.emit(exp_id, message)
        elif status == RunStatus.FAILED:
            self.signals.run_failed.emit(exp_id, message)
        self.schedule()

    # --- control -------------------------------------------------------------------------------
    def _remote(self, experiment_id: int, action: str, fn: Any, status: str | None) -> bool:
        """For a run on a target: ``fn()`` (it talks to the target) in the background, then
        ``status`` (None: the status recorded then) announced, or ``action_failed``. False
        for a local run (done at once by the caller)."""
        if not is_remote(self.manager, experiment_id):
            return False

        def done(_result: object) -> None:
            now = status or self.manager.get_experiment(experiment_id).status
            self.signals.run_status_changed.emit(experiment_id, now)

        def failed(err: Exception) -> None:
            self.action_failed.emit(experiment_id, action, str(err))
            self.signals.run_status_changed.emit(
                experiment_id, self.manager.get_experiment(experiment_id).status
            )

        run_in_background(fn, done, failed)
        return True

    def stop(self, experiment_id: int) -> None:
        request = lambda: self.engine.request_stop(experiment_id, follow_ended=False)  # noqa: E731
        if self._remote(experiment_id, "stop", request, None):
            return
        # A run whose process is gone is recorded by its follower thread, off the GUI thread.
        status = self.engine.request_stop(
            experiment_id, follow_ended=experiment_id not in self.threads
        )
        self.signals.run_status_changed.emit(experiment_id, status)
        if status == RunStatus.STOPPED:
            self.signals.run_stopped.emit(experiment_id, "cancelled")

    def pause(self, experiment_id: int) -> None:
        pause = lambda: self.engine.pause(experiment_id)  # noqa: E731
        if self._remote(experiment_id, "pause", pause, RunStatus.PAUSED):
            return
        self.engine.pause(experiment_id)
        self.signals.run_status_changed.emit(experiment_id, RunStatus.PAUSED)

    def resume(self, experiment_id: int) -> None:
        resume = lambda: self.engine.resume(experiment_id)  # noqa: E731
        if self._remote(experiment_id, "resume", resume, RunStatus.RUNNING):
            return
        self.engine.resume(experiment_id)
        self.signals.run_status_changed.emit(experiment_id, RunStatus.RUNNING)

    def save_checkpoint_now(self, experiment_id: int) -> int:
        """The run saves a checkpoint at its next batch; the checkpoint list shows it once
        written (run_checkpoints_changed). On a target the signal goes through ssh, in the
        background (a refusal comes as ``action_failed``); returns 0 then."""
        save = lambda: self.engine.save_checkpoint_now(experiment_id)  # noqa: E731
        if self._remote(experiment_id, "save a checkpoint of", save, None):
            return 0
        return self.engine.save_checkpoint_now(experiment_id)

    def resume_from_checkpoint(
        self,
        experiment_id: int,
        name: str | None = None,
        *,
        checkpoint: str | None = None,
        max_steps: int | None = None,
    ) -> int:
        new_id = self.engine.resume_from_checkpoint(
            experiment_id, name, start=False, checkpoint=checkpoint, max_steps=max_steps
        )
        self.signals.runs_changed.emit()
        self.schedule()
        return new_id

    def continue_run(
        self,
        experiment_id: int,
        name: str | None = None,
        *,
        checkpoint: str | None = None,
        max_steps: int | None = None,
        quiet: bool = False,
    ) -> BackgroundTask:
        """resume_from_checkpoint in the background (on a target it is a new job there:
        seconds of network). Without arguments: "Continue" a run that hit its time limit,
        from its newest checkpoint with the same max steps. The task's ``succeeded(new_id)``
        comes after the new run is announced; a refusal is ``action_failed`` too unless
        ``quiet`` (the caller shows it)."""

        def work() -> int:
            with self._engine_lock:
                return self.engine.resume_from_checkpoint(
                    experiment_id, name, start=False, checkpoint=checkpoint, max_steps=max_steps
                )

        def failed(err: Exception) -> None:
            if not quiet:
                self.action_failed.emit(experiment_id, "continue", str(err))

        return run_in_background(work, self._submitted, failed)

    def active_ids(self) -> list[int]:
        return [e.id for e in self.manager.list_experiments(status=list(LIVE))]

    # --- app start and close -------------------------------------------------------------------
    def attach_existing(self) -> None:
        """Re-attach to runs still alive (pid and start time match) and record the outcome
        of runs that ended while the app was closed. Reading what those runs wrote meanwhile
        happens off the GUI thread; queued runs wait until it is done."""
        self._attaching = True
        run_in_background(self._reconcile, self._on_reconciled, self._on_reconcile_failed)

    def _reconcile(self) -> tuple[list[int], list[int]]:
        with self._engine_lock:
            return reconcile(self.manager)

    def _on_reconciled(self, result: tuple[list[int], list[int]]) -> None:
        alive, ended = result
        self._attaching = False
        for exp_id in ended:
            self.signals.run_status_changed.emit(exp_id, self.manager.get_experiment(exp_id).status)
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
        """Stop following every run (and stop the runs themselves if asked), blocking until
        done, so no follower thread outlives the window. The window uses begin_shutdown."""
        threads = self._begin_closing()
        self._close_work(threads, stop_runs)
        self._closed()

    def begin_shutdown(self, stop_runs: bool) -> None:
        """shutdown without blocking: the waiting (for an engine pass under way, the
        follower threads and, if asked, the runs, stopped all at once) happens in the
        background; shutdown_progress tells how it goes, shutdown_finished when it is over."""
        threads = self._begin_closing()
        run_in_background(
            lambda: self._close_work(threads, stop_runs),
            lambda _r: self._closed(),
            lambda _e: self._closed(),
        )

    def _begin_closing(self) -> list[TrainingProcess]:
        self._closing = True
        self._timer.stop()
        for thread in self.threads.values():
            thread.stop_following()  # each ends within a poll
        return list(self.threads.values())

    def _close_work(self, threads: list[TrainingProcess], stop_runs: bool) -> None:
        """Any thread: wait for the engine pass under way (reconcile or schedule: it writes
        the store), the followers, then stop the live runs in parallel."""
        with self._engine_lock:
            ids = self.active_ids() if stop_runs else []
            for exp_id in ids:
                try:
                    self.engine.request_stop(exp_id, follow_ended=False)  # stop() below
                except RaveGuiError:
                    pass
            n = len(ids)
            if n:
                what = "1 run" if n == 1 else f"{n} runs"
                self.shutdown_progress.emit(f"Stopping {what}… (SIGINT sent, waiting)")
            for thread in threads:
                thread.wait(10_000)
            if not n:
                return
            done = 0
            lock = threading.Lock()

            def stop(exp_id: int) -> None:
                nonlocal done
                try:
                    self.engine.stop(exp_id)
                except RaveGuiError:
                    pass
                with lock:  # emitted under the lock: the notes arrive in the order counted
                    done += 1
                    left = n - done
                    text = f"Stopping {what}… ({done} stopped, waiting for {left})"
                    self.shutdown_progress.emit(text if left else "Every run is stopped.")

            with ThreadPoolExecutor(max_workers=n, thread_name_prefix="stop-run") as pool:
                list(pool.map(stop, ids))

    def _closed(self) -> None:
        for exp_id, thread in list(self.threads.items()):
            if thread.isFinished():
                self.threads.pop(exp_id, None)
                thread.deleteLater()
        self.shutdown_finished.emit()
