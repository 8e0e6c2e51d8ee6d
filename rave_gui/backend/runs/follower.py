"""RunFollower: follows one run's log and TensorBoard files into the store, and its outcome."""

from __future__ import annotations

import os
import re
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import DatabaseError, DiskFullError, ProcessError
from ..manager import (
    COMPLETED,
    FAILED,
    FINAL_STATUSES,
    LIVE_STATUSES,
    STOPPED,
    STOPPING,
    TrainingManager,
)
from ..process import runner
from ..process.locks import exclusive, lock_path
from ..process.procinfo import (
    START_TIME_TOLERANCE_S,
    is_same_process,
    process_start_time,
    signal_group,
)
from ..rave.logparse import Failure, LogLine, LogParser, Metrics, Outcome, Progress
from ..rave.runfolder import UID_KEY, check_identity
from ..rave.tfevents import EventDirFollower
from ..rave.tfrecord import DataLoss
from ..store.records import Experiment

LOG_KEY = "log"  # follow_offsets key of the log file (tfevents files use their path)
READ_LIMIT = 4 << 20  # bytes of log read per poll at most (catching up stays responsive)
CHECKPOINT_SCAN_S = 5.0
INTERRUPT_TIMEOUT_S = 60.0  # after SIGINT, then SIGTERM
TERM_TIMEOUT_S = 15.0  # after SIGTERM, then SIGKILL
_EPOCH_CKPT = re.compile(r"epoch[=-](\d+)")
_MAX_STEPS_REACHED = re.compile(r"max_steps=(\d+)` reached")
_STEP_TICK = re.compile(r"^rave-gui: step=(\d+)$")
# An ended run recorded before run folders had identities is read on (what its follower had
# not read yet) only if its log was last written before its end was recorded: a later write
# is another run's, in a folder the two shared.
LEGACY_CATCH_UP_TOLERANCE_S = 2.0
STEP_SAVE_S = 2.0  # the live step goes to the stored summary at most this often
LOCK_WAIT_S = 10.0  # a poll waits this long for another follower of the run, then skips
CATCH_UP_S = 5.0  # what a CLI command spends at most bringing live runs up to date
_EXIT_LINE = re.compile(r"^\[rave-gui\] process exited with code (-?\d+)$")  # the supervisor's
DATA_LOST = "data_lost"  # alert kind: something the run wrote could not be read


@dataclass
class FollowUpdate:
    """What one poll found."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (text, level)
    progress: Progress | None = None
    # new in the store since the last poll: read by this poll, or by another follower meanwhile
    points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    step: int | None = None
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


_ZIP_MAGIC = b"PK\x03\x04"
_EOCD_SIZE = 22  # the smallest end-of-central-directory record
_complete: dict[str, tuple[int, float, bool]] = {}  # path -> (size, mtime, complete)
_COMPLETE_CAP = 4096


def checkpoint_complete(path: Path, size: int, mtime: float) -> bool:
    """Whether a checkpoint file is completely written. torch.save writes a zip archive whose
    end-of-central-directory record comes last: a file cut short (a full disk, a kill while
    saving) lacks it. Only the file's tail is read, once per (size, mtime). A file in torch's
    old pickle format (not a zip) cannot be checked and counts as complete."""
    key = str(path)
    known = _complete.get(key)
    if known is not None and known[0] == size and known[1] == mtime:
        return known[2]
    ok = False
    if size >= _EOCD_SIZE:
        try:
            with open(path, "rb") as f:
                ok = f.read(4) != _ZIP_MAGIC or zipfile.is_zipfile(f)
        except OSError:
            ok = False
    if len(_complete) >= _COMPLETE_CAP:
        _complete.clear()
    _complete[key] = (size, mtime, ok)
    return ok


def find_checkpoints(folder: Path) -> list[dict]:
    """Every complete ``*.ckpt`` under a run folder, with size, mtime and best flag (one still
    being written, or cut short, is left out until it is complete)."""
    out = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if not name.endswith(".ckpt"):
                continue
            p = Path(root) / name
            try:
                st = p.stat()
            except OSError:
                continue
            if not checkpoint_complete(p, st.st_size, st.st_mtime):
                continue
            m = _EPOCH_CKPT.search(name)
            out.append(
                {
                    "path": str(p),
                    "size": st.st_size,
                    "mtime": st.st_mtime,
                    "is_best": name.startswith("best"),
                    "epoch": int(m.group(1)) if m else None,
                }
            )
    return out


def decide_outcome(
    *,
    exit_code: int | None,
    stop_requested: bool,
    signals: list[str],
    completed_marker: bool,
    interrupted_marker: bool,
    failure: str | None,
    last_error: str | None,
    no_exit_reason: str | None = None,
) -> tuple[str, str | None]:
    """The final status of an ended run and its error text, from everything known.

    no_exit_reason: why no exit code is known, when that is known (the run folder deleted,
    the supervisor gone); the log's last error line comes first."""
    if stop_requested or interrupted_marker or "SIGINT" in signals:
        if completed_marker and not stop_requested and not interrupted_marker:
            return COMPLETED, None
        if exit_code not in (None, 0) and failure and not stop_requested:
            return FAILED, failure
        return STOPPED, None
    if exit_code is None:
        if completed_marker:
            return COMPLETED, None
        return FAILED, (
            failure
            or last_error
            or no_exit_reason
            or "the process ended without reporting an exit code (killed?)"
        )
    if exit_code == 0:
        return COMPLETED, None
    if exit_code < 0:
        reason = failure or f"killed by signal {-exit_code}"
        return FAILED, reason
    return FAILED, failure or last_error or f"exited with code {exit_code}"


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

    def __init__(self, manager: TrainingManager, experiment_id: int) -> None:
        self.manager = manager
        self.experiment_id = experiment_id
        exp = manager.get_experiment(experiment_id)
        self.exp = exp
        self.parser = LogParser()
        offsets = manager.follow_state.offsets(experiment_id)
        self.log_offset = offsets.pop(LOG_KEY, 0)
        self.log_path = Path(exp.log_path) if exp.log_path else None
        self.status_path = (
            self.log_path.with_name(self.log_path.stem + "." + runner.STATUS_NAME)
            if self.log_path
            else None
        )
        self.run_dir = Path(exp.run_dir) if exp.run_dir else None
        self.events = EventDirFollower(self.run_dir, offsets) if self.run_dir else None
        self.max_steps = exp.config.get("max_steps")
        self.step: int | None = exp.summary.get("step")
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=120)
        self._last_ckpt_scan = 0.0
        self._failure: str | None = exp.summary.get("failure")
        self._last_error: str | None = exp.summary.get("last_error")
        self._exit_line_code: int | None = exp.summary.get("exit_line_code")
        self._completed = bool(exp.summary.get("completed_marker"))
        self._interrupted = bool(exp.summary.get("interrupted_marker"))
        self._stop_sent: dict[str, float] = {}
        self._step_saved_at = 0.0
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
        self._store_failed = False
        self._final = False  # the run's process was gone at the last poll
        self._output_loss_noted = False
        # The log stays open while followed: a run folder deleted meanwhile is still read to
        # its end (the supervisor keeps appending its last lines to the unlinked file).
        self._log_file: BinaryIO | None = None
        self.finished = exp.status in FINAL_STATUSES and not self._may_catch_up()

    def close(self) -> None:
        """Release the open log file (a later poll opens it again)."""
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __del__(self) -> None:  # a follower dropped while following leaks no file
        if getattr(self, "_log_file", None) is not None:
            self.close()

    def _may_catch_up(self) -> bool:
        """Whether an ended run's files may still be read (see LEGACY_CATCH_UP_TOLERANCE_S)."""
        if self.exp.config.get(UID_KEY):
            return True  # its own folder: checked at the first poll
        if self.log_path is None or not self.exp.completed_at:
            return False  # an imported run: its folder may be written by a later run
        try:
            mtime = os.path.getmtime(self.log_path)
        except OSError:
            return False
        return mtime <= self.exp.completed_at + LEGACY_CATCH_UP_TOLERANCE_S

    def position(self) -> int:
        """Bytes read so far from the run's log and event files (grows while reading)."""
        events = sum(self.events.offsets.values()) if self.events is not None else 0
        return self.log_offset + events

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
            if status not in FINAL_STATUSES:
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
        if log_offset != self.log_offset:  # another follower read on: its bytes are done
            self.log_offset = log_offset
            self.parser = LogParser()
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
        self._completed |= bool(summary.get("completed_marker"))
        self._interrupted |= bool(summary.get("interrupted_marker"))
        self._failure = summary.get("failure") or self._failure
        step = summary.get("step")
        if step is not None and (self.step is None or step > self.step):
            self.step = step

    # --- reading -------------------------------------------------------------------------------
    def _log_size(self) -> int | None:
        f = self._log_file
        if f is None and self.log_path is not None:
            try:
                f = self._log_file = open(self.log_path, "rb")  # noqa: SIM115 - see close()
            except OSError:
                return None
        if f is None:
            return None
        try:
            return os.fstat(f.fileno()).st_size
        except OSError:
            return None

    def _read_log(self, upd: FollowUpdate, new_points: list, final: bool = False) -> None:
        size = self._log_size()
        if size is None or self._log_file is None:
            return
        if size < self.log_offset:  # truncated or rewritten while followed: say so
            msg = (
                f"The log {self.log_path} became {self.log_offset - size} bytes shorter while "
                "it was read (truncated or rewritten): what it said there is lost; reading "
                "goes on from its new end."
            )
            self._alerts.append((msg, self.step))
            upd.lines.append((msg, "warning"))
            self.log_offset = size
        try:
            self._log_file.seek(self.log_offset)
            data = self._log_file.read(READ_LIMIT)
        except OSError:
            return
        if not data:
            return
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1  # feed whole segments only
        if final and len(data) < READ_LIMIT:  # the run is over: its log ends here
            cut = len(data)
        elif cut == 0:
            if len(data) < READ_LIMIT:
                return
            cut = len(data)
        self.log_offset += cut
        for ev in self.parser.feed(data[:cut]):
            if isinstance(ev, LogLine):
                tick = _STEP_TICK.match(ev.text)
                if tick:  # the launcher's live step line: a step, nothing to show
                    self._see_step(int(tick.group(1)))
                    continue
                upd.lines.append((ev.text, ev.level))
                exited = _EXIT_LINE.match(ev.text)
                if exited:
                    self._exit_line_code = int(exited.group(1))
                    self._markers_changed = True
                elif ev.level == "error":
                    self._last_error = ev.text
                    self._markers_changed = True
            elif isinstance(ev, Progress):
                upd.progress = ev
            elif isinstance(ev, Metrics):
                step = ev.step if ev.step is not None else self.step
                if step is not None:
                    now = time.time()
                    for k, v in ev.values.items():
                        new_points.append((k, step, v, now))
                    self._see_step(step)
                text = " ".join(f"{k}={v:g}" for k, v in ev.values.items())
                upd.lines.append((f"step {step}: {text}" if step is not None else text, "info"))
            elif isinstance(ev, Outcome):
                if ev.kind == "completed":
                    self._completed = True
                    reached = _MAX_STEPS_REACHED.search(ev.text)
                    if reached:  # the real last step: scalars stop a little before it
                        self._see_step(int(reached.group(1)))
                elif ev.kind == "interrupted":
                    self._interrupted = True
                self._remember_marker()
            elif isinstance(ev, Failure):
                self._failure = ev.reason
                self._remember_marker()

    def _remember_marker(self) -> None:
        self._markers_changed = True  # stored with the offsets the marker was read up to

    def _write_markers(self) -> None:
        # Outcome markers are kept in the summary: they survive an app restart.
        summary = self.manager.get_experiment(self.experiment_id).summary
        if self.step is not None and self.step > (summary.get("step") or 0):
            summary["step"] = self.step
        summary["completed_marker"] = self._completed
        summary["interrupted_marker"] = self._interrupted
        if self._failure:
            summary["failure"] = self._failure
        if self._last_error:
            summary["last_error"] = self._last_error
        if self._exit_line_code is not None:
            summary["exit_line_code"] = self._exit_line_code
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
        offsets[LOG_KEY] = self.log_offset
        try:
            with self.manager.db.transaction():  # points and offsets together: each read once
                if self._pending:
                    self.manager.metrics.add_points(self.experiment_id, self._pending)
                self.manager.follow_state.set_offsets(self.experiment_id, offsets)
                if self._markers_changed:
                    self._write_markers()
                for text, step in self._alerts:
                    self.manager.alerts.add(self.experiment_id, DATA_LOST, "warning", text, step)
                self._save_step(final=self._final)
        except DatabaseError as err:
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
        return True

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

    def _see_step(self, step: int) -> None:
        if self.step is None or step > self.step:
            self.step = step
            self._rate_samples.append((time.monotonic(), step))

    def rate(self) -> float | None:
        """Global steps per second over the last samples (about the last minute)."""
        if len(self._rate_samples) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate_samples[0], self._rate_samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def _scan_checkpoints(self, upd: FollowUpdate, force: bool = False) -> None:
        now = time.monotonic()
        if self.run_dir is None or (not force and now - self._last_ckpt_scan < CHECKPOINT_SCAN_S):
            return
        self._last_ckpt_scan = now
        found = find_checkpoints(self.run_dir)
        known = {c.path: c for c in self.manager.artifacts.checkpoints(self.experiment_id)}
        for c in found:
            old = known.get(c["path"])
            if old is not None and old.mtime == c["mtime"] and old.step is not None:
                c["step"] = old.step
            else:
                c["step"] = self.manager.metrics.step_at_time(self.experiment_id, c["mtime"])
        if self.manager.artifacts.sync_checkpoints(self.experiment_id, found):
            upd.checkpoints_changed = True

    # --- the run's process ---------------------------------------------------------------------
    def _alive(self) -> bool:
        exp = self.exp
        return is_same_process(exp.pid, exp.process_start_time)

    def _escalate_stop(self) -> None:
        """A stop was asked: SIGTERM, then SIGKILL, when the run ignores the interrupt."""
        pid = self.exp.pid
        if not pid:
            return
        now = time.monotonic()
        first = self._stop_sent.setdefault("SIGINT", now)
        if "SIGTERM" not in self._stop_sent and now - first > INTERRUPT_TIMEOUT_S:
            signal_group(pid, "SIGTERM")
            self._stop_sent["SIGTERM"] = now
        elif (
            "SIGTERM" in self._stop_sent
            and "SIGKILL" not in self._stop_sent
            and now - self._stop_sent["SIGTERM"] > TERM_TIMEOUT_S
        ):
            signal_group(pid, "SIGKILL")
            self._stop_sent["SIGKILL"] = now

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
        alive = self.alive = self._alive() if status_before in LIVE_STATUSES else False
        self._final = not alive
        if self._store_failed and not self._store(upd):
            self._waiting(upd, status_before, alive)
            return
        self._read_log(upd, self._pending, final=not alive)
        if self.events is not None:
            for p in self.events.poll():
                self._pending.append((p.tag, p.step, p.value, p.wall_time))
                self._see_step(p.step)
            self._note_losses(upd, self.events.take_losses())
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
            self._escalate_stop()
        if status_before in LIVE_STATUSES and not alive and self._drained():
            self._finish(upd)
        elif status_before in FINAL_STATUSES and self._drained():
            # another process (the CLI, another window) recorded the end already
            self.finished = upd.finished = True
            upd.status = status_before
            upd.message = self.exp.error or status_before

    def _save_step(self, final: bool) -> None:
        """The live step into the summary (what `runs list` and the app's table show), at
        most every STEP_SAVE_S: scalars, which move it too, come only every 50 steps."""
        now = time.monotonic()
        if self.step is None or (not final and now - self._step_saved_at < STEP_SAVE_S):
            return
        self._step_saved_at = now
        summary = self.manager.get_experiment(self.experiment_id).summary
        if self.step > (summary.get("step") or 0):
            summary["step"] = self.step
            self.manager.experiments.set_summary(self.experiment_id, summary)

    def _progress(self, upd: FollowUpdate) -> FollowUpdate:
        upd.step = self.step
        upd.rate = self.rate()
        return upd

    def _waiting(self, upd: FollowUpdate, status_before: str, alive: bool) -> FollowUpdate:
        """The database cannot be written: nothing more is read, but a stop still escalates."""
        if status_before == STOPPING and alive:
            self._escalate_stop()
        return self._progress(upd)

    def _drained(self) -> bool:
        """Everything the ended run wrote has been read (another poll otherwise)."""
        return self.log_offset >= (self._log_size() or 0)

    def _finish(self, upd: FollowUpdate) -> None:
        exp = self.exp
        tail = self.parser.flush()
        for ev in tail:
            if isinstance(ev, Failure):
                self._failure = ev.reason
            elif isinstance(ev, LogLine):
                upd.lines.append((ev.text, ev.level))
                if ev.level == "error":
                    self._last_error = ev.text
        if self.events is not None:  # the last scalars may land just before exit
            for p in self.events.poll():
                self._pending.append((p.tag, p.step, p.value, p.wall_time))
                self._see_step(p.step)
            # the run is over: what is still unread in its event files is lost for good
            self._note_losses(upd, self.events.take_losses(ended=True))
        st = runner.read_status(self.status_path) or {}
        if st.get("output_lost") and not self._output_loss_noted:  # the run folder's disk
            self._output_loss_noted = True
            self._alerts.append((str(st.get("error")), self.step))
            upd.lines.append((f"Data lost: {st.get('error')}", "warning"))
        if not self._store(upd):
            return  # the database cannot be written: the next poll tries again
        if exp.pid and not _pid_reused(exp.pid, exp.process_start_time):
            # no orphan: data-loader workers of the group go with the run (but a pid now used
            # by another process leads that process's group: never signal it)
            signal_group(exp.pid, "SIGKILL")
        exit_code = st.get("exit_code") if st.get("state") == "exited" else None
        if exit_code is None:  # no status file: the supervisor's last line in the log
            exit_code = self._exit_line_code
        no_exit_reason = None
        if self.run_dir is not None and not self.run_dir.exists():
            no_exit_reason = f"the run folder {self.run_dir} was deleted while the run went on"
        elif st.get("state") == "running":
            no_exit_reason = "the run's supervisor process ended before the run (killed?)"
        status, error = decide_outcome(
            exit_code=exit_code,
            stop_requested=exp.status == STOPPING,
            signals=list(st.get("signals") or []),
            completed_marker=self._completed,
            interrupted_marker=self._interrupted,
            failure=self._failure or st.get("error"),
            last_error=self._last_error,
            no_exit_reason=no_exit_reason,
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


def _pid_reused(pid: int, start_time: float | None) -> bool:
    """True when a process other than the one started at ``start_time`` now has ``pid``.
    (While members of the run's group are left the kernel does not hand its id out again.)"""
    started = process_start_time(pid)
    if started is None:
        return False
    return start_time is None or abs(started - start_time) > START_TIME_TOLERANCE_S


def follow_to_end(
    manager: TrainingManager, experiment_id: int, *, timeout: float = 30.0, interval: float = 0.1
) -> str:
    """Follow a run until its end is recorded (read to the end of its files, outcome from them
    and its supervisor's status) and return its status. While its process lives this waits
    up to ``timeout`` seconds; once the process is gone reading goes on while there is more
    to read, however long that takes, and stops only when the run is recorded or nothing
    more comes for ``timeout`` seconds."""
    follower = RunFollower(manager, experiment_id)
    deadline = time.monotonic() + timeout
    while True:
        before = follower.position()
        if follower.poll().finished:
            break
        if not follower.alive and follower.position() != before:
            deadline = time.monotonic() + timeout  # more to read: no waiting, no giving up
            continue
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    follower.close()
    return manager.get_experiment(experiment_id).status


def _unread(manager: TrainingManager, exp: Experiment) -> bool:
    """Whether an ended run's log holds more than its followers have read."""
    if not exp.log_path:
        return False
    try:
        size = os.path.getsize(exp.log_path)
    except OSError:
        return False
    return (manager.follow_state.offset(exp.id, LOG_KEY) or 0) < size


def _norm(offsets: dict[str, int]) -> dict[str, int]:
    return {os.path.abspath(k): v for k, v in offsets.items()}


def catch_up(
    manager: TrainingManager, experiment_ids: list[int] | None = None, budget: float = CATCH_UP_S
) -> list[int]:
    """Bring live runs (all, or those of ``experiment_ids``) up to date before a command shows
    them: one poll each for a run whose process lives, its whole end for a run whose process
    is gone. Stops after ``budget`` seconds; returns the runs whose end it recorded."""
    deadline = time.monotonic() + budget
    ended = []
    for exp in manager.list_experiments(status=list(LIVE_STATUSES)):
        if experiment_ids is not None and exp.id not in experiment_ids:
            continue
        follower = RunFollower(manager, exp.id)
        while time.monotonic() < deadline:
            alive = is_same_process(exp.pid, exp.process_start_time)
            upd = follower.poll(wait=max(0.0, min(1.0, deadline - time.monotonic())))
            if upd.finished:
                ended.append(exp.id)
            if upd.finished or alive:
                break
        follower.close()
    return ended


def reconcile(manager: TrainingManager) -> tuple[list[int], list[int]]:
    """At start: runs whose process still lives (to re-attach) and runs that ended while
    nobody watched, now recorded with their real outcome and every point they wrote (also
    runs recorded as ended before their files were read to the end)."""
    alive, ended = [], []
    for exp in manager.list_experiments(status=list(LIVE_STATUSES)):
        if is_same_process(exp.pid, exp.process_start_time):
            alive.append(exp.id)
            continue
        follow_to_end(manager, exp.id, timeout=5.0)
        ended.append(exp.id)
    for exp in manager.list_experiments(status=list(FINAL_STATUSES)):
        if _unread(manager, exp):
            before = manager.follow_state.offset(exp.id, LOG_KEY)
            follow_to_end(manager, exp.id, timeout=5.0)
            if manager.follow_state.offset(exp.id, LOG_KEY) != before:
                ended.append(exp.id)
    return alive, ended


__all__ = [
    "FollowUpdate",
    "RunFollower",
    "catch_up",
    "checkpoint_complete",
    "decide_outcome",
    "find_checkpoints",
    "follow_to_end",
    "reconcile",
]
