"""ProcessThread and TrainingProcess: follow a detached command's output into Qt signals."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict
from pathlib import Path

from PyQt6.QtCore import QObject, QThread, pyqtSignal

from ..backend.errors import DatabaseError, RaveGuiError
from ..backend.manager import TrainingManager
from ..backend.process import runner
from ..backend.process.logfollow import LogFollower, lines_of
from ..backend.rave.logparse import Failure, Outcome
from ..backend.runs.follower import FollowUpdate, RunFollower
from ..backend.runs.followers import follower_for
from ..backend.system.filewatch import QUIET_POLL_S, FileWatch

POLL_INTERVAL_S = 0.25  # the quickest poll: while output arrives
# The slowest: after a while with nothing new (the poll interval doubles); with the files
# watched (inotify), the poll while they stay unchanged.
IDLE_POLL_S = QUIET_POLL_S
RETRY_INTERVAL_S = 2.0  # after an unexpected error while following


def next_interval(current: float, busy: bool) -> float:
    """Poll again soon while something arrives; back off while nothing does."""
    return POLL_INTERVAL_S if busy else min(IDLE_POLL_S, current * 2)


def describe_error(err: BaseException) -> str:
    """A message for a person: ours as they are, anything else with its kind."""
    if isinstance(err, RaveGuiError):
        return str(err)
    return f"{type(err).__name__}: {err}"


class FollowThread(QThread):
    """A thread following a detached process's output until it ends or :meth:`stop_following`
    is called: ``lines_received`` with (text, level) pairs as they are read."""

    lines_received = pyqtSignal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stop_following = False
        self._wake = threading.Event()  # set to end a wait between polls at once
        self._watch: FileWatch | None = None  # the followed files' folders, while following
        self.polls = 0  # polls done (what the file watch saves shows here)

    def stop_following(self) -> None:
        """Stop watching (the process itself goes on); the thread ends within a poll."""
        self._stop_following = True
        self._wake.set()
        watch = self._watch
        if watch is not None:
            watch.wake()

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)

    def _start_watch(self, folders: list[Path]) -> None:
        self._watch = FileWatch(folders) if folders else None

    def _end_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()

    def _wait_for_output(self, interval: float) -> None:
        """Between polls. With the files watched: the shortest interval (output arriving
        meanwhile is read in one poll), then until a file changes or the fallback poll is due.
        Else ``interval`` (short while output arrives, backing off while none does)."""
        self.polls += 1
        watch = self._watch
        if watch is None or not watch.native:
            self._sleep(interval)
            return
        self._sleep(POLL_INTERVAL_S)
        if not self._stop_following:
            watch.wait(IDLE_POLL_S - POLL_INTERVAL_S)


class ProcessThread(FollowThread):
    """Runs one command detached from the app (own process group, output to a log file in
    ``folder``) and follows that file through a LogFollower: emits ``lines_received`` with
    (text, level) pairs and, at the end, ``ended(ok, message)``. ``attach`` follows a command
    started earlier instead."""

    ended = pyqtSignal(bool, str)  # (ok, message); QThread's own ``finished`` follows it

    def __init__(
        self,
        argv: list[str] | None = None,
        folder: str | os.PathLike[str] | None = None,
        *,
        log_name: str = "command.log",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.argv = argv
        self.folder = Path(folder) if folder else None
        self.log_name = log_name
        self.pid: int | None = None
        self.start_time: float | None = None
        self.log_path: Path | None = None
        self.status_path: Path | None = None
        self.outcome: Outcome | None = None
        self.failure: str | None = None
        self.exit_code: int | None = None

    def attach(self, pid: int, start_time: float, log_path: str, status_path: str) -> None:
        self.pid, self.start_time = pid, start_time
        self.log_path, self.status_path = Path(log_path), Path(status_path)

    # --- generic following ---------------------------------------------------------------------
    def _launch(self) -> None:
        if self.pid is not None:
            return
        if not self.argv or self.folder is None:
            raise RaveGuiError("No command to run.")
        launched = runner.launch(self.argv, self.folder, log_name=self.log_name)
        self.pid, self.start_time = launched.pid, launched.start_time
        self.log_path, self.status_path = launched.log_path, launched.status_path

    def handle_events(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, Outcome):
                self.outcome = ev
            elif isinstance(ev, Failure):
                self.failure = ev.reason
        lines = lines_of(events)
        if lines:
            self.lines_received.emit(lines)

    def run(self) -> None:
        # An exception leaving a QThread's run() aborts the whole app (PyQt): none may.
        try:
            self._follow()
        except Exception as err:  # reported, never raised
            self.ended.emit(False, describe_error(err))

    def _follow(self) -> None:
        self._launch()
        assert self.log_path is not None
        follower = LogFollower(
            self.log_path, pid=self.pid, start_time=self.start_time, status_path=self.status_path
        )
        self._start_watch([self.log_path.parent, follower.status_path.parent])
        try:
            self._follow_log(follower)
        finally:
            self._end_watch()

    def _follow_log(self, follower: LogFollower) -> None:
        interval = POLL_INTERVAL_S
        while not self._stop_following:
            upd = follower.poll()
            self.handle_events(upd.events)
            if upd.final:
                self.exit_code = upd.exit_code
                ok = self.exit_code == 0 and self.failure is None
                message = (
                    "done"
                    if ok
                    else self.failure or upd.error or f"exited with code {self.exit_code}"
                )
                self.ended.emit(ok, message)
                return
            interval = next_interval(interval, bool(upd.events))
            self._wait_for_output(interval)


class TrainingProcess(FollowThread):
    """Follows one training run through a RunFollower, which stores its metric points,
    checkpoints and outcome; each signal says one thing that happened:

    - ``lines_received([(text, level)])``: new lines of its log (or a problem following it);
    - ``metrics_received({name: [(step, value)]})``: points new in the store;
    - ``progress_changed(info)``: info has step, max_steps, percent (-1 when unknown), rate
      (steps/s), eta (s), epoch and text (the progress bar's);
    - ``checkpoints_changed()``: the run's stored checkpoint list changed;
    - ``alerts_raised([alert])``: health alerts stored (kind, severity, step, message, advice);
    - ``run_ended(status, message)``: the run's end is recorded (status completed, stopped
      or failed; message its error, or the status);
    - ``following_failed(message)``: following stopped on an error, the run's record is left
      as it was (the experiment is gone...)."""

    metrics_received = pyqtSignal(dict)
    progress_changed = pyqtSignal(dict)
    checkpoints_changed = pyqtSignal()
    alerts_raised = pyqtSignal(list)
    run_ended = pyqtSignal(str, str)
    following_failed = pyqtSignal(str)
    engine_state_changed = pyqtSignal()  # a run on a target: its engine reported a new state

    def __init__(
        self, manager: TrainingManager, experiment_id: int, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.experiment_id = experiment_id
        self.follower: RunFollower | None = None
        self._shown_problem: str | None = None
        self._progress: dict | None = None  # the last progress_changed

    def _emit(self, upd: FollowUpdate) -> None:
        if upd.lines:
            self.lines_received.emit(upd.lines)
        if upd.points:
            self.metrics_received.emit(upd.points)
        if upd.checkpoints_changed:
            self.checkpoints_changed.emit()
        if upd.alerts:
            self.alerts_raised.emit([asdict(a) for a in upd.alerts])
        if upd.engine_state is not None:
            self.engine_state_changed.emit()
        step, total = upd.step, upd.max_steps
        bar = upd.progress
        if step is None and bar is None:
            return
        pct = int(100 * step / total) if step is not None and total else -1
        eta = (total - step) / upd.rate if upd.rate and total and step is not None else None
        info = {
            "step": step,
            "max_steps": total,
            "percent": pct,
            "rate": upd.rate,
            "eta": eta,
            "epoch": bar.epoch if bar and bar.epoch is not None else upd.epoch,
            "text": bar.text if bar else "",
        }
        if info != self._progress:
            self._progress = info
            self.progress_changed.emit(info)

    def _problem(self, text: str) -> None:
        """Show a problem once (in the run's log view), until it changes or goes away."""
        if text != self._shown_problem:
            self._shown_problem = text
            self.lines_received.emit([(text, "error")])

    def run(self) -> None:
        # Nothing may escape: an exception leaving a QThread's run() aborts the whole app.
        try:
            self.follower = follower_for(self.manager, self.experiment_id)
        except Exception as err:  # reported, never raised
            self.following_failed.emit(describe_error(err))
            return
        self._shown_problem = None
        try:
            self._start_watch(self.follower.watch_folders())
            self._follow_run(self.follower)
        except Exception as err:  # reported, never raised
            self.following_failed.emit(describe_error(err))
        finally:
            self._end_watch()
            self.follower.close()

    def _follow_run(self, follower: RunFollower) -> None:
        interval = POLL_INTERVAL_S
        while not self._stop_following:
            try:
                upd = follower.poll()
            except DatabaseError as err:  # locked, unreadable...: it may pass, the run goes on
                self._problem(f"{err} (retrying)")
                self._sleep(RETRY_INTERVAL_S)
                continue
            except RaveGuiError as err:  # the experiment is gone...: nothing more to follow
                self.following_failed.emit(str(err))
                return
            except Exception as err:  # a file or database error: say it, retry
                self._problem(f"Following the run failed: {describe_error(err)} (retrying)")
                self._sleep(RETRY_INTERVAL_S)
                continue
            self._shown_problem = None
            self._emit(upd)
            if upd.finished:
                status = upd.status or self._exp_status()
                self.run_ended.emit(status, upd.message or status)
                return
            busy = bool(upd.lines or upd.points or upd.progress or upd.checkpoints_changed)
            interval = next_interval(interval, busy)
            self._wait_for_output(interval)

    def _exp_status(self) -> str:
        return self.manager.get_experiment(self.experiment_id).status
