"""Following and controlling a run on a target.

RemoteRunFollower is the local RunFollower over the run's local cache folder: each poll first
brings the cache up to date (one round trip, under the run's lock, see mirror.py), then reads
it through the very same code as a local run (log parser, event files, offsets in the store,
outcome). Only where the run's process lives differs: the target's engine says it (SSH: the
process group; SLURM: the job's state, shown as SLURM reports it, pending with its reason).

When the target cannot be reached (network down, sshd restarting) the run stays as it was and
each poll tries again; on reconnect the cache catches up from its own sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidTransitionError, ProcessError
from ..manager import TrainingManager
from ..runs.follower import FollowUpdate, RunFollower
from ..runs.stopping import INTERRUPT_TIMEOUT_S, TERM_TIMEOUT_S
from ..status import FINAL, LIVE, PAUSED, QUEUED, RUNNING, STOPPED, STOPPING
from ..store.targets import SLURM, RemoteRun, TargetStore
from .mirror import SyncResult, sync
from .scripts import HELPER
from .ssh import Connection, RemoteError

if TYPE_CHECKING:
    from ..runs.health import HealthThresholds

# SLURM job states in which the job may still run or write (requeued jobs come back)
SLURM_LIVE = {
    "PENDING", "CONFIGURING", "RUNNING", "SUSPENDED", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
    "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD",
}  # fmt: skip
SLURM_ENDED_BY_ENGINE = {"CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL",
                         "DEADLINE", "OUT_OF_MEMORY"}  # fmt: skip
RETRY_NOTE_S = 60.0
# A SLURM job seen ended is taken for ended only when it still is this long after: a requeue
# (preemption included) passes through states that are not "live" (the killed first life's
# end, PREEMPTED) before the job is PENDING again for its next life.
SLURM_END_GRACE_S = 6.0
SLURM_RESUME_SETTLE_S = 2.0  # an unreachable target is said again at most this often


@dataclass
class Place:
    """Where a remote run is: its record and a connection to its target."""

    run: RemoteRun
    conn: Connection
    python: str
    helper: str

    @classmethod
    def of(cls, manager: TrainingManager, experiment_id: int) -> Place:
        store = TargetStore(manager.db)
        run = store.run(experiment_id)
        if run is None:
            raise ProcessError(f"Experiment {experiment_id} was never started on its target.")
        exp = manager.get_experiment(experiment_id)
        target = store.target_of(run)
        tools = str(exp.config.get("remote_tools") or "")
        return cls(run, Connection(target), str(exp.config.get("remote_python")),
                   f"{tools}/{HELPER}")  # fmt: skip

    def sync(self, local: Path, ckpt: bool = False) -> SyncResult:
        return sync(
            self.conn, self.python, self.helper, self.run.remote_dir, local,
            pgid=self.run.pid, job=self.run.job_id, ckpt=ckpt,
            copy=self.conn.target.copy_checkpoints,
        )  # fmt: skip


class RemoteRunFollower(RunFollower):
    """A RunFollower whose files are copied from the target first (see the module's text)."""

    def __init__(
        self,
        manager: TrainingManager,
        experiment_id: int,
        thresholds: HealthThresholds | None = None,
    ) -> None:
        super().__init__(manager, experiment_id, thresholds)
        self._gpu_index = None  # the target's GPUs are not this machine's
        self.place = Place.of(manager, experiment_id)
        self._remote_alive = self.exp.status in LIVE
        self._unreachable_said = 0.0
        self.unreachable: str | None = None  # why the last sync failed
        self.bytes_copied = 0
        self.store = TargetStore(manager.db)
        self._engine_end: str | None = None  # the SLURM state that ended the run, if it did
        self._stop_sent: dict[str, float] = {}  # the stop's signals sent, when (monotonic)
        self._ended_seen: float | None = None  # when the SLURM job was first seen ended

    def _alive(self) -> bool:
        return self._remote_alive

    def watch_folders(self) -> list[Path]:
        return []  # the files change there, not here: polled (each poll copies them)

    def _poll(self, upd: FollowUpdate) -> None:
        self.exp = self.manager.get_experiment(self.experiment_id)
        if self.exp.status in LIVE or self.exp.status == QUEUED:
            self._sync(upd, final=False)
        super()._poll(upd)
        if self.exp.status == STOPPING and self._remote_alive and not self.unreachable:
            self._escalate()

    def _escalate(self) -> None:
        """A stop was asked and the run ignores it: SIGTERM (a plain scancel) after
        INTERRUPT_TIMEOUT_S, SIGKILL after TERM_TIMEOUT_S more (as local runs)."""
        now = time.monotonic()
        first = self._stop_sent.setdefault("INT", now)
        try:
            if "TERM" not in self._stop_sent and now - first > INTERRUPT_TIMEOUT_S:
                _signal(self.place, "TERM")
                self._stop_sent["TERM"] = now
            elif (
                "TERM" in self._stop_sent
                and "KILL" not in self._stop_sent
                and (now - self._stop_sent["TERM"] > TERM_TIMEOUT_S)
            ):
                _signal(self.place, "KILL")
                self._stop_sent["KILL"] = now
        except RemoteError:
            pass  # tried again at the next poll

    def _sync(self, upd: FollowUpdate, final: bool) -> None:
        assert self.run_dir is not None
        try:
            res = self.place.sync(self.run_dir, ckpt=not self._remote_alive)
        except RemoteError as err:
            self.unreachable = str(err)
            now = time.monotonic()
            if now - self._unreachable_said >= RETRY_NOTE_S:
                self._unreachable_said = now
                upd.lines.append((f"{err} (retrying; the run goes on there)", "warning"))
            return  # what was known stands: nothing is read, nothing decided
        if self.unreachable:
            upd.lines.append((f"{self.place.conn.target.name} is reachable again.", "info"))
        self.unreachable = None
        self.bytes_copied += res.bytes
        run = self.place.run
        before = (run.state, run.reason)
        if run.kind == SLURM and res.job_unknown:
            # scontrol failed (a controller busy or restarting): nothing is decided on it, or a
            # requeued job would be taken for ended while it waits for its next life
            return
        if run.kind == SLURM:
            state = res.job.get("JobState", "")
            if not state:  # gone from the controller: the status file tells the end
                alive = False
                state = run.state if run.state not in SLURM_LIVE else "ENDED"
            else:
                alive = state in SLURM_LIVE
            restarts = int(res.job.get("Restarts", run.restarts) or 0)
            if restarts > run.restarts:
                upd.lines.append((f"SLURM requeued job {run.job_id} (restart {restarts}).",
                                  "warning"))  # fmt: skip
            run.restarts = restarts
            reason = res.job.get("Reason", "")
            run.state, run.reason = state, "" if reason in ("None", "(null)") else reason
            if alive and not res.missing:
                self._remote_alive = True
                self._ended_seen = None
            elif not res.missing and self._settling(final):
                pass  # seen ended just now: a requeued job comes back; decided at a later poll
            else:
                self._remote_alive = False
                if state in SLURM_ENDED_BY_ENGINE and self.exp.status in (RUNNING, PAUSED):
                    self._ended_by_engine(state)
        else:
            self._remote_alive = bool(res.group_alive) and not res.missing
            run.state = "RUNNING" if self._remote_alive else "exited"
        if (run.state, run.reason) != before:
            self.store.set_run(run)
            text = f"{run.kind.upper()}: {run.state}" + (f" ({run.reason})" if run.reason else "")
            upd.lines.append((text, "info"))
            upd.engine_state = run.state

    def _settling(self, final: bool) -> bool:
        """Whether a SLURM job just seen ended may still come back (see SLURM_END_GRACE_S);
        the first sighting starts the wait. Never while a stop is asked or at the last read."""
        if final or self.exp.status == STOPPING or not self._remote_alive:
            return False
        now = time.monotonic()
        if self._ended_seen is None:
            self._ended_seen = now
        return now - self._ended_seen < SLURM_END_GRACE_S

    def _ended_by_engine(self, state: str) -> None:
        """SLURM ended the job (scancel from outside, the time limit, preemption): the run is
        recorded stopped, saying so, not failed."""
        try:
            self.manager.update_experiment_status(self.experiment_id, STOPPING)
        except InvalidTransitionError:
            return
        self.exp = self.manager.get_experiment(self.experiment_id)
        self._engine_end = state

    def _finish(self, upd: FollowUpdate) -> None:
        assert self.run_dir is not None
        try:  # the checkpoints, once the run wrote its last
            self.bytes_copied += self.place.sync(self.run_dir, ckpt=True).bytes
        except RemoteError as err:
            upd.lines.append((f"Checkpoints not copied: {err}", "warning"))
        super()._finish(upd)
        end = self._engine_end
        if end and upd.finished and upd.status == STOPPED:
            run = self.place.run
            msg = f"SLURM job {run.job_id} {end}" + (f" ({run.reason})" if run.reason else "")
            self.manager.experiments.update(self.experiment_id, error=msg)
            upd.message = msg


# --- control -----------------------------------------------------------------------------------
def _signal(place: Place, signal: str) -> None:
    run = place.run
    if run.kind == SLURM:
        if signal == "INT":
            place.conn.run(["scancel", "--full", "--signal=INT", str(run.job_id)], check=False)
        elif signal in ("STOP", "CONT"):
            verb = "suspend" if signal == "STOP" else "resume"
            res = place.conn.run(["scontrol", verb, str(run.job_id)], check=False)
            if res.returncode == 0 and verb == "resume":
                # SLURM resumes the job's processes asynchronously: a signal sent in the next
                # moment is lost (measured: a SIGINT right after `scontrol resume` never came)
                time.sleep(SLURM_RESUME_SETTLE_S)
            if res.returncode != 0:
                raise ProcessError(
                    f"SLURM refused to {verb} job {run.job_id}: {res.stderr or res.text} "
                    "(suspending needs an operator's or administrator's rights on most "
                    "clusters: stop the run and resume it from its checkpoint instead)."
                )
        else:
            place.conn.run(["scancel", str(run.job_id)], check=False)
    else:
        place.conn.run(f"kill -{signal} -- -{int(run.pid or 0)}", check=False)


def pause(manager: TrainingManager, experiment_id: int) -> None:
    _signal(Place.of(manager, experiment_id), "STOP")
    manager.update_experiment_status(experiment_id, PAUSED)


def resume(manager: TrainingManager, experiment_id: int) -> None:
    _signal(Place.of(manager, experiment_id), "CONT")
    manager.update_experiment_status(experiment_id, RUNNING)


def request_stop(manager: TrainingManager, experiment_id: int) -> str:
    """The graceful stop: SIGINT to the run's process group (SSH), ``scancel --full
    --signal=INT`` (SLURM); the run is marked stopping, its follower records the end."""
    exp = manager.get_experiment(experiment_id)
    if exp.status in FINAL:
        raise InvalidTransitionError(f"Experiment {exp.name!r} is already {exp.status}.")
    place = Place.of(manager, experiment_id)
    if exp.status == PAUSED:
        _signal(place, "CONT")
    _signal(place, "INT")
    try:
        manager.update_experiment_status(experiment_id, STOPPING)
    except InvalidTransitionError:
        pass
    return manager.get_experiment(experiment_id).status


def stop(manager: TrainingManager, experiment_id: int, *, interrupt_timeout: float = 60.0,
         poll_s: float = 0.5) -> str:  # fmt: skip
    """Stop a run and follow it to its end: SIGINT first, then (after ``interrupt_timeout``)
    SIGTERM / a plain ``scancel``, then SIGKILL. Returns the recorded status."""
    if manager.get_experiment(experiment_id).status not in FINAL:
        request_stop(manager, experiment_id)
    follower = RemoteRunFollower(manager, experiment_id)
    deadline = time.monotonic() + interrupt_timeout
    escalated = 0
    while not follower.poll().finished:
        if time.monotonic() > deadline and escalated < 2:
            _signal(follower.place, "TERM" if escalated == 0 else "KILL")
            escalated += 1
            deadline = time.monotonic() + 15.0
        time.sleep(poll_s)
    follower.close()
    return manager.get_experiment(experiment_id).status


__all__ = [
    "RemoteRunFollower",
    "pause",
    "request_stop",
    "resume",
    "stop",
]
