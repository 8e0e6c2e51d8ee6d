"""SLURM states shown as the engine reports them: a job held in the queue by the real
single-node SLURM is "running · pending: JobHeldUser" in `runs list` and `runs show` (and their
--json), plain "running" once SLURM runs it, and the run ends completed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from remote_helpers import add_target, start_remote_replay
from remote_hosts import slurm, slurm_sshd  # noqa: F401  (fixtures)
from replay_helpers import fixtures_available

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.remote.states import status_text
from rave_gui.backend.store.targets import SLURM, SSH, RemoteRun, TargetStore, engine_label
from rave_gui.cli import main


def _run(state: str, reason: str = "", kind: str = SLURM, restarts: int = 0) -> RemoteRun:
    return RemoteRun(1, "cluster", kind, "/w", job_id="7", state=state, reason=reason,
                     restarts=restarts)  # fmt: skip


@pytest.mark.parametrize(
    ("state", "reason", "status", "label"),
    [
        ("PENDING", "Resources", "running", "pending: Resources"),
        ("PENDING", "None", "running", "pending"),
        ("RUNNING", "None", "running", ""),  # the status says it all
        ("COMPLETING", "", "running", "completing"),
        ("COMPLETED", "", "completed", ""),
        ("FAILED", "NonZeroExitCode", "failed", ""),
        ("CANCELLED", "", "stopped", "cancelled"),
        ("TIMEOUT", "", "stopped", "timeout"),
        ("REQUEUED", "", "running", "requeued"),
        ("SUSPENDED", "", "paused", "suspended"),
        ("OUT_OF_MEMORY", "", "failed", "out of memory"),
        ("ENDED", "", "completed", ""),  # gone from the controller: nothing more to say
    ],
)
def test_engine_label_says_what_the_status_does_not(state, reason, status, label) -> None:
    assert engine_label(_run(state, reason), status) == label
    assert status_text(status, label) == (f"{status} · {label}" if label else status)


def test_engine_label_counts_requeues_and_ignores_ssh_runs() -> None:
    assert engine_label(_run("PENDING", "BeginTime", restarts=1), "running") == (
        "pending: BeginTime, requeued 1×"
    )
    assert engine_label(_run("RUNNING", restarts=2), "running") == "requeued 2×"
    assert engine_label(_run("RUNNING", kind=SSH), "running") == ""
    assert engine_label(None, "running") == ""


def _cli(tm: TrainingManager, capsys, *argv: str) -> str:
    assert main(["--db", str(tm.db.path), *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")
def test_a_held_slurm_job_is_shown_pending_with_its_reason(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = add_target(tm, slurm_sshd, "cluster", slurm=True, extra_sbatch=["--hold"])
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=3.0)
    exp_id = run.experiment_id
    follower = RemoteRunFollower(tm, exp_id)
    upd = follower.poll()
    rec = TargetStore(tm.db).run(exp_id)
    assert rec is not None and (rec.state, rec.reason) == ("PENDING", "JobHeldUser")
    assert upd.engine_state == "PENDING"  # the GUI is told (TrainingProcess.engine_state_changed)
    assert tm.get_experiment(exp_id).status == "running"  # the status model is unchanged
    listed = _cli(tm, capsys, "runs", "list")
    assert "running · pending: JobHeldUser" in listed, listed
    shown = _cli(tm, capsys, "runs", "show", str(exp_id))
    assert "status:      running · pending: JobHeldUser" in shown, shown
    assert f"target:      cluster (slurm, job {run.job_id})" in shown
    assert "engine:      PENDING (JobHeldUser)" in shown
    data = json.loads(_cli(tm, capsys, "runs", "show", str(exp_id), "--json"))
    assert data["status"] == "running"
    assert data["engine"]["state"] == "PENDING" and data["engine"]["reason"] == "JobHeldUser"
    assert data["engine"]["label"] == "pending: JobHeldUser"
    [item] = json.loads(_cli(tm, capsys, "runs", "list", "--json"))
    assert item["engine"]["job_id"] == run.job_id
    Connection(target).run(["scontrol", "release", str(run.job_id)])
    deadline = time.monotonic() + 90
    seen = set()
    while not follower.poll().finished:
        rec = TargetStore(tm.db).run(exp_id)
        assert rec is not None
        seen.add(engine_label(rec, tm.get_experiment(exp_id).status))
        assert time.monotonic() < deadline, "the released job did not run to its end"
        time.sleep(0.25)
    follower.close()
    assert "" in seen  # running as SLURM said: nothing beside the status
    assert tm.get_experiment(exp_id).status == "completed"
    assert "running · pending" not in _cli(tm, capsys, "runs", "list")
