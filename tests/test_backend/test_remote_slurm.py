"""Runs on a SLURM cluster: a real single-node SLURM (munge, slurmctld, slurmd) reached through
a real sshd login node on 127.0.0.1; the replay double of `rave train` runs as the batch job
under the same supervisor as local runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from remote_helpers import add_target, start_remote_replay
from remote_hosts import slurm, slurm_sshd  # noqa: F401  (fixtures)
from replay_helpers import FIXTURES, fixtures_available

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.tfevents import EventDirFollower
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.store.targets import TargetStore
from rave_gui.backend.system.settings import Settings

pytestmark = pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")


def _points(tm: TrainingManager, exp_id: int) -> list[tuple[str, int, float]]:
    return sorted(
        (n, s, v) for name in tm.metrics.names(exp_id)
        for n, s, v, _w in tm.metrics.iter_points(exp_id, name)
    )  # fmt: skip


def _expected() -> list[tuple[str, int, float]]:
    points = EventDirFollower(FIXTURES / "run_110steps").poll()
    return sorted((p.tag, p.step, p.value) for p in points)


def _follow(follower: RemoteRunFollower, timeout: float, lines: list[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        upd = follower.poll()
        if lines is not None:
            lines += [t for t, _lvl in upd.lines]
        if upd.finished:
            return
        assert time.monotonic() < deadline, "the run was not followed to its end"
        time.sleep(0.25)


def test_slurm_job_followed_to_completion(tm: TrainingManager, slurm_sshd, tmp_path: Path) -> None:  # noqa: F811
    target = add_target(tm, slurm_sshd, "cluster", slurm=True, partition="debug",
                        time_limit="00:30:00")  # fmt: skip
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=5.0)
    exp = tm.get_experiment(run.experiment_id)
    script = exp.config["remote_script"]
    assert "#SBATCH --signal=B:USR2@120" in script and "#SBATCH --partition=debug" in script
    assert "#SBATCH --time=00:30:00" in script and "--forward-signal USR2" in script
    assert run.job_id and run.job_id.isdigit()
    follower = RemoteRunFollower(tm, run.experiment_id)
    lines: list[str] = []
    _follow(follower, 90, lines)
    follower.close()
    exp = tm.get_experiment(run.experiment_id)
    assert exp.status == "completed", (exp.error, lines)
    assert _points(tm, run.experiment_id) == _expected()
    assert any(t.startswith("SLURM: RUNNING") for t in lines), lines
    rec = TargetStore(tm.db).run(run.experiment_id)
    assert rec is not None and rec.state in ("COMPLETED", "COMPLETING", "ENDED")


def test_slurm_graceful_stop_and_external_scancel(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, slurm_sshd, "cluster", slurm=True)
    conn = Connection(target)
    engine = Engine(tm, Settings())
    stopped = start_remote_replay(tm, target, tmp_path / "runs", name="stopped", duration=40.0,
                                  interrupt_time=0.5)  # fmt: skip
    cancelled = start_remote_replay(tm, target, tmp_path / "runs", name="cancelled",
                                    duration=40.0)  # fmt: skip
    followers = {r.experiment_id: RemoteRunFollower(tm, r.experiment_id)
                 for r in (stopped, cancelled)}  # fmt: skip
    deadline = time.monotonic() + 60
    while not all(_points(tm, i) for i in followers):  # both run and write
        for f in followers.values():
            f.poll()
        assert time.monotonic() < deadline
        time.sleep(0.25)
    engine.pause(stopped.experiment_id)  # scontrol suspend (allowed to root/operators)
    followers[stopped.experiment_id].poll()
    assert TargetStore(tm.db).run(stopped.experiment_id).state == "SUSPENDED"  # type: ignore[union-attr]
    engine.resume(stopped.experiment_id)
    followers[stopped.experiment_id].poll()
    assert TargetStore(tm.db).run(stopped.experiment_id).state == "RUNNING"  # type: ignore[union-attr]
    assert engine.stop(stopped.experiment_id, interrupt_timeout=30) == "stopped"
    log = Path(tm.get_experiment(stopped.experiment_id).log_path or "").read_text()
    assert "KeyboardInterrupt" in log  # scancel --full --signal=INT reached RAVE's process
    conn.run(["scancel", str(cancelled.job_id)])  # from outside rave-gui
    _follow(followers[cancelled.experiment_id], 90)
    exp = tm.get_experiment(cancelled.experiment_id)
    assert exp.status == "stopped"
    assert exp.error == f"SLURM job {cancelled.job_id} CANCELLED"
    for f in followers.values():
        f.close()


def test_requeued_job_followed_into_its_new_life(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, slurm_sshd, "cluster", slurm=True)
    conn = Connection(target)
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=8.0)
    follower = RemoteRunFollower(tm, run.experiment_id)
    deadline = time.monotonic() + 60
    while not _points(tm, run.experiment_id):
        follower.poll()
        assert time.monotonic() < deadline
        time.sleep(0.25)
    conn.run(["scontrol", "requeue", str(run.job_id)])  # what preemption does
    # SLURM holds a requeued job back a while (BeginTime); the test lets it start at once
    deadline = time.monotonic() + 30
    while "PENDING" not in conn.run(["squeue", "-h", "-j", str(run.job_id), "-o", "%T"]).text:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # ... but not within the second of the requeue: slurmd revoked the first life's credential
    # then, and a second life started in that second is killed ("Job credential revoked",
    # seen in slurmctld.log). SLURM's own hold-back exists for this.
    time.sleep(2.5)
    conn.run(["scontrol", "update", f"JobId={run.job_id}", "StartTime=now"], check=False)
    lines: list[str] = []
    _follow(follower, 240, lines)
    follower.close()
    exp = tm.get_experiment(run.experiment_id)
    assert exp.status == "completed", (exp.error, lines)
    assert any("requeued" in t for t in lines), lines
    rec = TargetStore(tm.db).run(run.experiment_id)
    assert rec is not None and rec.restarts == 1
    assert _points(tm, run.experiment_id) == _expected()  # the second life's, once each


def test_time_limit_signal_stops_the_run_cleanly(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    """What `#SBATCH --signal=B:USR2@120` makes SLURM do before the time limit — SIGUSR2 to
    the batch shell alone — sent now with `scancel --batch`: the supervisor passes SIGINT on
    to RAVE, the run ends gracefully and is recorded stopped, not failed."""
    target = add_target(tm, slurm_sshd, "cluster", slurm=True, time_limit="00:30:00")
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=40.0, interrupt_time=0.5)
    follower = RemoteRunFollower(tm, run.experiment_id)
    deadline = time.monotonic() + 60
    while not _points(tm, run.experiment_id):
        follower.poll()
        assert time.monotonic() < deadline
        time.sleep(0.25)
    Connection(target).run(["scancel", "--batch", "--signal=USR2", str(run.job_id)])
    _follow(follower, 60)
    follower.close()
    exp = tm.get_experiment(run.experiment_id)
    assert exp.status == "stopped", exp.error
    log = Path(exp.log_path or "").read_text()
    assert "KeyboardInterrupt" in log and "process exited with code 0" in log
