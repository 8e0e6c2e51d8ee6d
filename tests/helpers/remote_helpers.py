"""Remote runs for tests: a target for the test sshd, and the replay double started on it the
way a real run is (its tools copied there, the supervisor started by the SSH command line or an
sbatch script), so following and control are tested in seconds, not minutes."""

from __future__ import annotations

import posixpath
import sys
import time
from pathlib import Path

from remote_hosts import HOST, SshHost
from replay_helpers import MAX_STEPS, VAL_EVERY, replay_argv

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.runs import install_tools, start
from rave_gui.backend.remote.scripts import LOG_NAME, STATUS_NAME, SUPERVISOR, sbatch_script
from rave_gui.backend.remote.scripts import ssh_command as ssh_line
from rave_gui.backend.remote.ssh import Connection, accept_host_key, scan_host_key
from rave_gui.backend.runs.engine import new_run_folder
from rave_gui.backend.store.targets import SLURM, SSH, RemoteRun, Target, TargetStore


def add_target(
    tm: TrainingManager, host: SshHost, name: str = "box", *, slurm: bool = False,
    workdir: str = "", rave: str = "", **slurm_opts: object,
) -> Target:  # fmt: skip
    """A target for the test sshd, its host key accepted (into this test's known_hosts)."""
    target = Target(
        name=name, kind=SLURM if slurm else SSH, host=HOST, port=host.port, user=host.user,
        key_file=str(host.key), workdir=workdir or str(host.folder / "work"),
        rave=rave or str(Path(sys.executable).with_name("rave")), **slurm_opts,  # type: ignore[arg-type]
    )  # fmt: skip
    TargetStore(tm.db).add(target)
    keys, _prints = scan_host_key(target)
    accept_host_key(target, keys)
    return TargetStore(tm.db).get(name)


def start_remote_replay(
    tm: TrainingManager, target: Target, runs_dir: Path, *, fixture: str = "run_110steps",
    name: str = "replay", duration: float = 6.0, tick_every: float = 0.0,
    interrupt_time: float = 0.0,
) -> RemoteRun:  # fmt: skip
    """Record an experiment on ``target`` and start the replay there under the supervisor."""
    argv = replay_argv(
        fixture, ".", name=name, duration=duration, tick_every=tick_every,
        interrupt_time=interrupt_time,
    )  # fmt: skip
    return start_remote_command(
        tm, target, runs_dir, argv, name=name, max_steps=MAX_STEPS[fixture],
        val_every=VAL_EVERY[fixture],
    )  # fmt: skip


def start_remote_command(
    tm: TrainingManager, target: Target, runs_dir: Path, argv: list[str], *, name: str,
    max_steps: int, val_every: int,
) -> RemoteRun:  # fmt: skip
    """Record an experiment on ``target`` and start ``argv`` there, in its run folder, under
    the supervisor (by the SSH command line or an sbatch script)."""
    config = {
        "name": name, "dataset_path": "/data/db", "configs": ["v2_small"], "overrides": [],
        "max_steps": max_steps, "val_every": val_every, "batch": 2,
        "channels": 1, "gpu": -1, "workers": 0, "target": target.name,
    }  # fmt: skip
    exp_id = tm.start_training(config)
    run_dir, _uid = new_run_folder(tm, exp_id, runs_dir)
    conn = Connection(target)
    home = conn.run("pwd").text.strip()
    tools = posixpath.join(home, install_tools(conn, target))
    remote_dir = posixpath.join(target.workdir, run_dir.name)
    sup = [sys.executable, posixpath.join(tools, SUPERVISOR), "--log", LOG_NAME,
           "--status", STATUS_NAME, "--", *argv]  # fmt: skip
    if target.kind == SLURM:
        text = sbatch_script(target, name, remote_dir, sup)
    else:
        text = ssh_line(remote_dir, sup)
    return start(tm, exp_id, conn, remote_dir, sup, text, sys.executable, tools)


def completed_remote_run(
    tm: TrainingManager, target: Target, runs_dir: Path, *, duration: float = 3.0
) -> int:
    """A replay run on ``target`` followed to its end (its checkpoints copied here)."""
    from rave_gui.backend.remote.follow import RemoteRunFollower

    run = start_remote_replay(tm, target, runs_dir, duration=duration)
    follower = RemoteRunFollower(tm, run.experiment_id)
    deadline = time.monotonic() + 60
    while not follower.poll().finished:
        assert time.monotonic() < deadline, "the remote run was not followed to its end"
        time.sleep(0.25)
    follower.close()
    assert tm.get_experiment(run.experiment_id).status == "completed"
    return run.experiment_id
