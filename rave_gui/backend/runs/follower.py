"""RunFollower: follows one run's log and TensorBoard files into the store, and its outcome."""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DatabaseError, DiskFullError, ProcessError
from ..manager import TrainingManager
from ..process import runner
from ..process.locks import exclusive, lock_path
from ..process.logfollow import STEP_TICK, LogFollower, display_line
from ..process.procinfo import is_same_process
from ..rave.logparse import Event, LogLine, Metrics, Outcome, Progress
from ..rave.runfolder import UID_KEY, check_identity
from ..rave.tfevents import EventDirFollower
from ..rave.tfrecord import DataLoss
from ..status import FAILED, FINAL, LIVE, STOPPING
from ..system import sysmon
from ..system.settings import load_settings
from .checkpoints import sync_run_checkpoints
from .health import HealthAlert, HealthMonitor, HealthThresholds, thresholds_from
from .outcome import (
    OutcomeMarkers,
    decide_outcome,
    no_exit_reason,
    steps_reached,
)
from .stopping import StopEscalation, kill_leftovers

LOG_KEY = "log"  # follow_offsets key of the log file (tfevents files use their path)
CHECKPOINT_SCAN_S = 5.0
# An ended run recorded before run folders had identities is read on (what its follower had
# not read yet) only if its log was last written before its end was recorded: a later write
# is another run's, in a folder the two shared.
LEGACY_CATCH_UP_TOLERANCE_S = 2.0
LOCK_WAIT_S = 10.0  # a poll waits this long for another follower of the run, then skips
DATA_LOST = "data_lost"  # alert kind: something the run wrote could not be read
HEALTH_KEY = "health"  # the health rules' state, in the run's stored summary
GPU_CHECK_S = 30.0  # the run's GPU memory is read at most this often


@dataclass
class FollowUpdate:
    """What one poll found."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (text, level)
    progress: Progress | None = None
    # new in the store since the last poll: read by this poll, or by another follower meanwhile
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    step: int | None = None
    epoch: int | None = None  # the last epoch a log line named ("Epoch: 10 completed")
    max_steps: int | None = None
    rate: float | None = None  # global steps per second
    checkpoints_changed: bool = False
    status: str | None = None  # set when the status changed
    finished: bool = False
    message: str = ""
    # The database could not be written (a full disk...): why. Nothing read is dropped: the
    # points wait in memory (points_waiting) and are written by a later poll.
    store_error: str | None = None
    points_waiting: int = 0
    alerts: list[HealthAlert] = field(default_factory=list)  # health alerts stored by this poll
    engine_state: str | None = None  # a run on a target: the state its engine newly reported


class RunFollower:
    """Reads what a run wrote since the last poll (log lines, progress, scalars, checkpoints),
    stores metric points in batches, and records the run's outcome when its process is gone.

    Offsets are saved in the database, so a follower created after an app restart continues
    exactly where the previous one stopped: no point is read twice. A run already recorded as
    ended is read on to the end of its files (what an earlier follower left unread is stored;
    its outcome stays as recorded). Any number of followers (the app, `rave-gui runs follow`,
    a run's on-exit hook, a CLI command catching up) may follow one run at once: each poll
    holds the run's lock (see locks.py) and starts from the offsets and outcome markers stored
    by whichever follower polled last.

    Nothing is read from a folder that does not belong to the run (see runfolder): such a run
    is recorded failed, saying so, and keeps only what was stored before. Recording it failed
    (rather than raising at every poll) ends it for good: it is not retried at every start, it
    can be deleted, and no later follower reads the foreign files into it.
    """

    def __init__(
        self,
        manager: TrainingManager,
        experiment_id: int,
        thresholds: HealthThresholds | None = None,
    ) -> None:
        self.manager = manager
        self.experiment_id = experiment_id
        exp = manager.get_experiment(experiment_id)
        self.exp = exp
        offsets = manager.follow_state.offsets(experiment_id)
        log_offset = offsets.pop(LOG_KEY, 0)
        # The log stays open while followed: a run folder deleted meanwhile is still read to
        # its end (the supervisor keeps appending its last lines to the unlinked file).
        self.log = (
            LogFollower(exp.log_path, offset=log_offset, keep_open=True) if exp.log_path else None
        )
        self.status_path = self.log.status_path if self.log is not None else None
        self.run_dir = Path(exp.run_dir) if exp.run_dir else None
        self.events = EventDirFollower(self.run_dir, offsets) if self.run_dir else None
        self.max_steps = exp.config.get("max_steps")
        self.step: int | None = exp.summary.get("step")
        self.epoch: int | None = None  # the last epoch the log named (other trainers' lines)
        # the run's timeline: (time.time() seconds, step reached then), times and steps rising
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=120)
        self._last_ckpt_scan = 0.0
        self.markers = OutcomeMarkers.from_summary(exp.summary)
        self._stopping = StopEscalation()
        # per series, the last step this follower reported (or found stored when created)
        self._reported = {n: m.get("last_step") for n, m in exp.summary.get("metrics", {}).items()}
        self._lock_path = lock_path(manager.db.path, f"run-{experiment_id}")
        self._checked = False  # the folder's identity, checked at the first poll
        self.alive = False  # whether the run's process lived at the last poll
        # Read but not yet stored (written with the offsets they were read up to; kept while
        # the database cannot be written): points, changed outcome markers, alerts.
        self._pending: list[tuple[str, int, float, float | None]] = []
        self._markers_changed = False
        self._alerts: list[tuple[str, int | None]] = []
        self._health_alerts: list[HealthAlert] = []  # of the process watch, to store
        self._store_failed = False
        self._output_loss_noted = False
        # Health rules: over the points (state kept in the summary, shared by every follower),
        # and over the live process and its GPU (this follower's own watch).
        self.thresholds = thresholds or thresholds_from(asdict(load_settings()))
        self._watch = HealthMonitor(self.thresholds)
        self._gpu_checked = 0.0
        gpu = exp.config.get("gpu")
        self._gpu_index = gpu if isinstance(gpu, int) and gpu >= 0 else None
        self.finished = exp.status in FINAL and not self._may_catch_up()

    def watch_folders(self) -> list[Path]:
        """The folders whose changes are worth a poll (the run folder, the log's): a follower
        thread sleeps on them (FileWatch) between polls."""
        out: list[Path] = []
        for f in (
            self.run_dir,
            self.log.log_path.parent if self.log is not None else None,
            self.status_path.parent if self.status_path is not None else None,
        ):
            if f is not None and f not in out:
                out.append(f)
        return out

    def close(self) -> None:
        """Release the open log file (a later poll opens it again)."""
        if self.log is not None:
            self.log.close()

    def _may_catch_up(self) -> bool:
        """Whether an ended run's files may still be read (see LEGACY_CATCH_UP_TOLERANCE_S)."""
        if self.exp.config.get(UID_KEY):
            return True  # its own folder: checked at the first poll
        if self.log is None or not self.exp.completed_at:
            return False  # an imported run: its folder may be written by a later run
        try:
            mtime = os.path.getmtime(self.log.log_path)
        except OSError:
            return False
        return mtime <= self.exp.completed_at + LEGACY_CATCH_UP_TOLERANCE_S

    def position(self) -> int:
        """Bytes read so far from the run's log and event files (grows while reading)."""
        events = sum(self.events.offsets.values()) if self.events is not None else 0
        return (self.log.offset if self.log is not None else 0) + events

    def _refuse_foreign_folder(self, upd: FollowUpdate) -> bool:
        """True (and the run recorded failed, unless it ended already) when the run folder is
        not this run's: nothing of it may be read."""
        self._checked = True
        if self.run_dir is None or not self.run_dir.exists():
            return False  # nothing there to take for this run's
        try:
            check_identity(self.run_dir, self.exp.config.get(UID_KEY))
        except ProcessError as err:
            status, error = self.exp.status, str(err)
            if status not in FINAL:
                self.manager.update_experiment_status(self.experiment_id, FAILED, error=error)
                status = FAILED
            self.finished = upd.finished = True
            upd.status, upd.message = status, error
            return True
        return False

    def _reload(self, upd: FollowUpdate) -> None:
        """Start from what the last poll of any follower stored (under the run's lock); the
        points another follower stored meanwhile go into ``upd`` (so the app still sees them)."""
        if self._store_failed:  # what this follower read waits to be stored: it is ahead
            return
        offsets = self.manager.follow_state.offsets(self.experiment_id)
        log_offset = offsets.pop(LOG_KEY, 0)
        if self.log is not None and log_offset != self.log.offset:
            self.log.reset(log_offset)  # another follower read on: its bytes are done
        if (
            self.events is not None
            and self.run_dir is not None
            and _norm(offsets) != _norm(self.events.offsets)
        ):
            self.events = EventDirFollower(self.run_dir, offsets)
        for name, m in self.exp.summary.get("metrics", {}).items():
            last, stored = self._reported.get(name), m.get("last_step")
            if stored is not None and (last is None or stored > last):
                pts = self.manager.metrics.iter_points(self.experiment_id, name, last)
                upd.points[name] = [(s, v) for _n, s, v, _w in pts]
                self._reported[name] = stored
        summary = self.exp.summary
        self.markers.merge(summary)
        step = summary.get("step")
        if step is not None and (self.step is None or step > self.step):
            self.step = step

    # --- reading -------------------------------------------------------------------------------
    def _read_log(self, upd: FollowUpdate, final: bool = False) -> None:
        if self.log is None:
            return
        events = self.log.read(final=final)
        lost = self.log.take_truncation()
        if lost:  # truncated or rewritten while followed: say so
            msg = (
                f"The log {self.log.log_path} became {lost} bytes shorter while it was read "
                "(truncated or rewritten): what it said there is lost; reading goes on from its "
                "new end."
            )
            self._alerts.append((msg, self.step))
            upd.lines.append((msg, "warning"))
        self._take(upd, events)

    def _take(self, upd: FollowUpdate, events: list[Event]) -> None:
        """What the log's events say: lines to show, progress, points, steps, outcome markers
        (stored with the offsets they were read up to)."""
        for ev in events:
            if isinstance(ev, LogLine):
                tick = STEP_TICK.match(ev.text)
                if tick:  # the launcher's live step line: a step, nothing to show
                    self._see_step(int(tick.group(1)))
                    continue
            elif isinstance(ev, Progress):
                upd.progress = ev
            elif isinstance(ev, Metrics):
                if ev.epoch is not None:
                    self.epoch = ev.epoch
                if not ev.values:  # a step or an epoch only; its line came as a LogLine
                    if ev.step is not None:
                        self._see_step(ev.step)
                    continue
                step = ev.step if ev.step is not None else self.step
                if step is not None:
                    now = time.time()
                    for k, v in ev.values.items():
                        self._pending.append((k, step, v, now))
                    self._see_step(step)
            elif isinstance(ev, Outcome):
                reached = steps_reached(ev)
                if reached is not None:  # the real last step: scalars stop a little before it
                    self._see_step(reached)
            line = display_line(ev, self.step, self.exp.status == STOPPING)  # one presentation
            if line is not None:
                upd.lines.append(line)
            if self.markers.see(ev):
                self._markers_changed = True

    def _write_markers(self) -> None:
        # Outcome markers are kept in the summary: they survive an app restart.
        summary = self.manager.get_experiment(self.experiment_id).summary
        if self.step is not None and self.step > (summary.get("step") or 0):
            summary["step"] = self.step
        self.markers.write_into(summary)
        self.manager.experiments.set_summary(self.experiment_id, summary)

    def _note_losses(self, upd: FollowUpdate, losses: list[DataLoss]) -> None:
        for loss in losses:
            text = loss.describe()
            step = loss.after_step if loss.after_step is not None else self.step
            self._alerts.append((text, step))
            upd.lines.append((f"Data lost: {text}", "warning"))

    # --- storing -------------------------------------------------------------------------------
    def _store(self, upd: FollowUpdate) -> bool:
        """Write what was read (points, the offsets read up to, markers, alerts) in one
        transaction. When the database cannot be written everything is kept for the next try
        and the update says so; True when written."""
        offsets = dict(self.events.offsets) if self.events is not None else {}
        offsets[LOG_KEY] = self.log.offset if self.log is not None else 0
        try:
            with self.manager.db.transaction():  # points and offsets together: each read once
                if self._pending:
                    self.manager.metrics.add_points(self.experiment_id, self._pending)
                    self._check_points(upd)
                self.manager.follow_state.set_offsets(self.experiment_id, offsets)
                if self._markers_changed:
                    self._write_markers()
                for text, step in self._alerts:
                    self.manager.alerts.add(self.experiment_id, DATA_LOST, "warning", text, step)
                self._add_health_alerts(upd, self._health_alerts)
                self._save_step()
        except DatabaseError as err:
            upd.alerts.clear()  # not stored: raised again by the next try
            self._store_problem(upd, err)
            return False
        for name, step, value, _w in self._pending:
            upd.points.setdefault(name, []).append((step, value))
            self._reported[name] = max(step, self._reported.get(name, step))
        if self._store_failed:
            upd.lines.append(
                (f"The database is written again: {len(self._pending)} waiting points stored.",
                 "info")
            )  # fmt: skip
            self._store_failed = False
        self._pending = []
        self._markers_changed = False
        self._alerts = []
        self._health_alerts = []
        return True

    def _check_points(self, upd: FollowUpdate) -> None:
        """The health rules over the points being stored, from the state the last store (of
        any follower) left in the summary; the new state goes back with the points."""
        summary = self.manager.get_experiment(self.experiment_id).summary
        monitor = HealthMonitor(self.thresholds, summary.get(HEALTH_KEY))
        points: dict[str, list[tuple[int, float]]] = {}
        for name, step, value, _w in self._pending:
            points.setdefault(name, []).append((step, value))
        self._add_health_alerts(upd, monitor.feed(points))
        summary[HEALTH_KEY] = monitor.state()
        self.manager.experiments.set_summary(self.experiment_id, summary)

    def _add_health_alerts(self, upd: FollowUpdate, alerts: list[HealthAlert]) -> None:
        for a in alerts:
            self.manager.alerts.add(
                self.experiment_id, a.kind, a.severity, a.message, a.step, advice=a.advice
            )
            upd.alerts.append(a)

    def _watch_process(self, alive: bool) -> None:
        """The rules over the live process: no new step for long (stalled), its GPU's memory
        (alerts stored at the next store)."""
        now = time.time()
        found = self._watch.check_stalled(now, alive, self.step)
        if alive and self._gpu_index is not None and now - self._gpu_checked >= GPU_CHECK_S:
            self._gpu_checked = now
            gpus = [g for g in sysmon.sample().gpus if g.index == self._gpu_index]
            if gpus:
                found += self._watch.check_gpu_memory(gpus[0].memory_percent, self.step)
        self._health_alerts.extend(found)

    def _store_problem(self, upd: FollowUpdate, err: DatabaseError) -> None:
        n = len(self._pending)
        if isinstance(err, DiskFullError):
            text = (
                f"Disk full: {n} points waiting; free space on the disk of the database "
                f"{self.manager.db.path} and they are written."
            )
        else:
            text = f"{err} ({n} points waiting: they are written once the database can be.)"
        upd.store_error = text
        upd.points_waiting = n
        if not self._store_failed:  # said once, when it starts
            upd.lines.append((text, "error"))
        self._store_failed = True

    def _see_step(self, step: int, wall_time: float | None = None) -> None:
        """A step the run reached; ``wall_time``: when it wrote it (an event point's), known."""
        if self.step is None or step > self.step:
            self.step = step
        if wall_time is not None:
            self._sample(wall_time, step)

    def _sample(self, when: float, step: int) -> None:
        """A point of the run's timeline, kept when it is later and further than the last."""
        samples = self._rate_samples
        if samples:
            t, s = samples[-1]
            if step <= s or when < t:
                return
        samples.append((when, step))

    def rate(self) -> float | None:
        """Global steps per second over the run's own timeline (the last samples): the wall
        times of its event points, and for steps known without one (the launcher's step lines,
        log metrics) the end of the poll that read them, once a poll. Steps read in a burst
        (catching up after a restart) thus count at the times the run wrote them, or at one
        time together, never as steps made between the reads."""
        if len(self._rate_samples) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate_samples[0], self._rate_samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def _scan_checkpoints(self, upd: FollowUpdate, force: bool = False) -> None:
        now = time.monotonic()
        if self.run_dir is None or (not force and now - self._last_ckpt_scan < CHECKPOINT_SCAN_S):
            return
        self._last_ckpt_scan = now
        if sync_run_checkpoints(self.manager, self.experiment_id, self.run_dir):
            upd.checkpoints_changed = True

    # --- the run's process ---------------------------------------------------------------------
    def _alive(self) -> bool:
        exp = self.exp
        return is_same_process(exp.pid, exp.process_start_time)

    def poll(self, wait: float = LOCK_WAIT_S) -> FollowUpdate:
        """Read everything new; store it; detect the end of the run. When another follower
        holds the run for longer than ``wait`` seconds, returns an empty update.

        When the database cannot be written (a full disk) nothing is lost and nothing raised:
        the update's store_error says why, what was read waits, and no more is read until it
        is stored (the run's files keep the rest)."""
        upd = FollowUpdate(max_steps=self.max_steps)
        if self.finished:
            upd.finished = True
            return upd
        with exclusive(self._lock_path, wait) as held:
            if held:
                self._poll(upd)
            else:
                upd.step, upd.rate = self.step, self.rate()
        return upd

    def _poll(self, upd: FollowUpdate) -> None:
        self.exp = self.manager.get_experiment(self.experiment_id)
        if not self._checked and self._refuse_foreign_folder(upd):
            return
        self._reload(upd)
        status_before = self.exp.status
        alive = self.alive = self._alive() if status_before in LIVE else False
        if self._store_failed and not self._store(upd):
            self._waiting(upd, status_before, alive)
            return
        self._read_log(upd, final=not alive)
        if self.events is not None:
            for p in self.events.poll():
                self._pending.append((p.tag, p.step, p.value, p.wall_time))
                self._see_step(p.step, p.wall_time)
            self._note_losses(upd, self.events.take_losses())
        self._watch_process(alive)
        if not self._store(upd):
            self._waiting(upd, status_before, alive)
            return
        self._progress(upd)
        try:
            self._scan_checkpoints(upd)
        except DatabaseError as err:
            self._last_ckpt_scan = 0.0
            self._store_problem(upd, err)
            return
        if status_before == STOPPING and alive:
            self._stopping.poll(self.exp.pid)
        if status_before in LIVE and not alive and self._drained():
            self._finish(upd)
        elif status_before in FINAL and self._drained():
            # another process (the CLI, another window) recorded the end already
            self.finished = upd.finished = True
            upd.status = status_before
            upd.message = self.exp.error or status_before

    def _save_step(self) -> None:
        """The live step into the summary (what `runs list` and the app's table show), with
        the offsets it was read up to: a follower that lets go (the app closing) leaves no
        step behind that the next one, starting from those offsets, would never read again."""
        if self.step is None:
            return
        summary = self.manager.get_experiment(self.experiment_id).summary
        if self.step > (summary.get("step") or 0):
            summary["step"] = self.step
            self.manager.experiments.set_summary(self.experiment_id, summary)

    def _progress(self, upd: FollowUpdate) -> FollowUpdate:
        if self.step is not None:
            self._sample(time.time(), self.step)  # reached by now, at the latest
        upd.step, upd.epoch = self.step, self.epoch
        upd.rate = self.rate()
        return upd

    def _waiting(self, upd: FollowUpdate, status_before: str, alive: bool) -> FollowUpdate:
        """The database cannot be written: nothing more is read, but a stop still escalates."""
        if status_before == STOPPING and alive:
            self._stopping.poll(self.exp.pid)
        return self._progress(upd)

    def _drained(self) -> bool:
        """Everything the ended run wrote has been read (another poll otherwise)."""
        return self.log is None or self.log.drained()

    def _finish(self, upd: FollowUpdate) -> None:
        exp = self.exp
        if self.log is not None:
            self._take(upd, self.log.flush())
        if self.events is not None:  # the last scalars may land just before exit
            for p in self.events.poll():
                self._pending.append((p.tag, p.step, p.value, p.wall_time))
                self._see_step(p.step, p.wall_time)
            # the run is over: what is still unread in its event files is lost for good
            self._note_losses(upd, self.events.take_losses(ended=True))
        st = runner.read_status(self.status_path) or {}
        if st.get("output_lost") and not self._output_loss_noted:  # the run folder's disk
            self._output_loss_noted = True
            self._alerts.append((str(st.get("error")), self.step))
            upd.lines.append((f"Data lost: {st.get('error')}", "warning"))
        if not self._store(upd):
            return  # the database cannot be written: the next poll tries again
        kill_leftovers(exp.pid, exp.process_start_time)
        exit_code = st.get("exit_code") if st.get("state") == "exited" else None
        if exit_code is None:  # no status file: the supervisor's last line in the log
            exit_code = self.markers.exit_line_code
        status, error = decide_outcome(
            exit_code=exit_code,
            stop_requested=exp.status == STOPPING,
            signals=list(st.get("signals") or []),
            completed_marker=self.markers.completed,
            interrupted_marker=self.markers.interrupted,
            failure=self.markers.failure or st.get("error"),
            last_error=self.markers.last_error,
            no_exit_reason=no_exit_reason(self.run_dir, st.get("state")),
        )
        try:
            self._scan_checkpoints(upd, force=True)
            self.manager.update_experiment_status(
                self.experiment_id, status, error=error, exit_code=exit_code
            )
        except DatabaseError as err:
            self._store_problem(upd, err)
            return
        self.close()
        self.finished = True
        upd.finished = True
        upd.status = status
        upd.message = error or status


def _norm(offsets: dict[str, int]) -> dict[str, int]:
    return {os.path.abspath(k): v for k, v in offsets.items()}


__all__ = ["DATA_LOST", "HEALTH_KEY", "LOG_KEY", "FollowUpdate", "RunFollower"]
