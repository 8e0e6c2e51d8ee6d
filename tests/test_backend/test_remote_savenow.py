"""Save a checkpoint now on a target: SIGUSR1 reaches the training process (a small Python
child standing for the launcher, recording the signal) through the supervisor, over a real
sshd and through a real single-node SLURM cluster, while a data-loader-like worker in the same
process group (which SIGUSR1 would kill) never gets it; the time-limit signal (SIGUSR2) still
ends a SLURM run cleanly."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from remote_helpers import add_target, start_remote_command
from remote_hosts import slurm, slurm_sshd, sshd  # noqa: F401  (fixtures)

from rave_gui.backend.errors import ProcessError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote import follow as remote
from rave_gui.backend.remote.control import save_checkpoint_now
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.scripts import (
    LOG_NAME,
    STATUS_NAME,
)
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.store.targets import SLURM, RemoteRun, Target

# Stands for the launcher under `rave train`: SIGUSR1 "saves a checkpoint" (a line in
# saves.txt), SIGINT is RAVE's graceful stop; its worker child keeps SIGUSR1's default (death).
CHILD = r"""
import os, signal, sys, time
saves = open("saves.txt", "a")
def save(signum, frame):
    saves.write(f"{signal.Signals(signum).name} {os.getpid()}\n"); saves.flush()
    print("rave-gui: checkpoint saved manual.ckpt step=1", flush=True)
def interrupt(signum, frame):
    raise KeyboardInterrupt
signal.signal(signal.SIGUSR1, save)
signal.signal(signal.SIGINT, interrupt)
parent = os.getpid()
worker = os.fork()
if worker == 0:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)
open("worker.pid", "w").write(str(worker))
print("training", flush=True)
try:
    for _ in range(600):
        time.sleep(0.1)
except KeyboardInterrupt:
    print("Detected KeyboardInterrupt, attempting graceful shutdown...", file=sys.stderr)
    print(f"worker alive: {os.waitpid(worker, os.WNOHANG) == (0, 0)}", flush=True)
finally:
    os.kill(worker, signal.SIGKILL)
    os.waitpid(worker, 0)
"""


def _start_child(tm: TrainingManager, target: Target, runs_dir: Path) -> RemoteRun:
    return start_remote_command(
        tm, target, runs_dir, [sys.executable, "-c", CHILD], name="child", max_steps=10,
        val_every=5,
    )  # fmt: skip


def _wait(cond, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _running(folder: Path) -> bool:
    try:
        status = json.loads((folder / STATUS_NAME).read_text())
    except (OSError, ValueError):
        return False
    return status.get("state") == "running" and (folder / "worker.pid").exists()


def _follow(follower: RemoteRunFollower, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not follower.poll().finished:
        assert time.monotonic() < deadline, "the run was not followed to its end"
        time.sleep(0.25)


def _save_now_reaches_the_child_alone(tm: TrainingManager, run: RemoteRun) -> Path:
    folder = Path(run.remote_dir)  # the target is this machine: its files are readable here
    if run.kind == SLURM:  # the job record says RUNNING once the follower has seen it
        follower = RemoteRunFollower(tm, run.experiment_id)
        _wait(lambda: follower.poll() is not None and follower.place.run.state == "RUNNING")
        follower.close()
    _wait(lambda: _running(folder), what="the child did not start")
    said = save_checkpoint_now(tm, run.experiment_id)
    assert "USR1" in said
    _wait(lambda: (folder / "saves.txt").exists() and (folder / "saves.txt").read_text(),
          what="SIGUSR1 did not reach the training process")  # fmt: skip
    status = json.loads((folder / STATUS_NAME).read_text())
    assert (folder / "saves.txt").read_text() == f"SIGUSR1 {status['child_pid']}\n"
    worker = int((folder / "worker.pid").read_text())
    os.kill(worker, 0)  # the worker in the same group lives: the group was not signalled
    # a second request, as the GUI and `runs checkpoint` make it (through the engine): a second
    # save, no stop
    assert Engine(tm).save_checkpoint_now(run.experiment_id) == 0
    _wait(lambda: len((folder / "saves.txt").read_text().splitlines()) == 2)
    time.sleep(0.3)
    status = json.loads((folder / STATUS_NAME).read_text())
    assert status["state"] == "running" and status["signals"] == []  # not taken as a stop
    assert tm.get_experiment(run.experiment_id).status == "running"
    return folder


def test_save_checkpoint_now_over_ssh(tm: TrainingManager, sshd, tmp_path: Path) -> None:  # noqa: F811
    target = add_target(tm, sshd)
    run = _start_child(tm, target, tmp_path / "runs")
    folder = _save_now_reaches_the_child_alone(tm, run)
    assert remote.stop(tm, run.experiment_id, interrupt_timeout=30) == "stopped"
    log = (folder / LOG_NAME).read_text()
    assert "checkpoint saved manual.ckpt" in log and "worker alive: True" in log
    with pytest.raises(ValidationError, match="only a running run"):
        save_checkpoint_now(tm, run.experiment_id)


def test_save_checkpoint_now_on_slurm_then_the_time_limit_signal(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, slurm_sshd, "cluster", slurm=True, time_limit="00:30:00")
    run = _start_child(tm, target, tmp_path / "runs")
    folder = _save_now_reaches_the_child_alone(tm, run)
    # what `#SBATCH --signal=B:USR2@120` makes SLURM do before the time limit: a clean end
    Connection(target).run(["scancel", "--batch", "--signal=USR2", str(run.job_id)])
    follower = RemoteRunFollower(tm, run.experiment_id)
    _follow(follower, 60)
    follower.close()
    exp = tm.get_experiment(run.experiment_id)
    assert exp.status == "stopped", exp.error
    log = (folder / LOG_NAME).read_text()
    assert "KeyboardInterrupt" in log and "worker alive: True" in log
    assert "process exited with code 0" in log


def test_a_run_whose_supervisor_does_not_pass_the_signal_is_refused(
    tm: TrainingManager,
    sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, sshd)
    run = _start_child(tm, target, tmp_path / "runs")
    folder = Path(run.remote_dir)
    _wait(lambda: _running(folder))
    status = json.loads((folder / STATUS_NAME).read_text())
    del status["passes"]  # as an older supervisor writes it
    (folder / STATUS_NAME).write_text(json.dumps(status))
    with pytest.raises(ProcessError, match="older rave-gui"):
        save_checkpoint_now(tm, run.experiment_id)
    assert (folder / "saves.txt").read_text() == ""
    assert remote.stop(tm, run.experiment_id, interrupt_timeout=30) == "stopped"
