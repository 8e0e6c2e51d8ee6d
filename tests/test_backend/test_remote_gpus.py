"""The GPUs of a run's target: nvidia-smi's csv parsed (output captured from real machines), and
the real sshd / single-node SLURM on 127.0.0.1, which have no NVIDIA GPU, saying so."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from remote_helpers import add_target, start_remote_replay
from remote_hosts import slurm, slurm_sshd, sshd  # noqa: F401  (fixtures)
from replay_helpers import fixtures_available

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.gpus import SMI, parse_smi, target_gpus
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.store.targets import TargetStore

MIB = 1024 * 1024
# `nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu
#  --format=csv,noheader,nounits` on a two-GPU server and on a MIG-enabled A100
TWO_GPUS = "0, NVIDIA GeForce RTX 3090, 20117, 24576, 97\n1, NVIDIA GeForce RTX 3090, 3, 24576, 0\n"
MIG = "0, NVIDIA A100-SXM4-40GB, 1, 40960, [N/A]\n"

no_smi = pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has one")


def test_nvidia_smi_csv_is_parsed() -> None:
    assert "--format=csv,noheader,nounits" in SMI
    first, second = parse_smi(TWO_GPUS)
    assert (first.index, first.name, first.utilization) == (0, "NVIDIA GeForce RTX 3090", 97.0)
    assert (first.memory_used, first.memory_total) == (20117 * MIB, 24576 * MIB)
    assert round(first.memory_percent or 0) == 82
    assert (second.index, second.utilization, second.memory_used) == (1, 0.0, 3 * MIB)
    [mig] = parse_smi(MIG)
    assert mig.utilization is None and mig.memory_total == 40960 * MIB  # "[N/A]": unknown
    [odd] = parse_smi("2, Tesla V100, PCIe, 16GB, 10, 16160, 5\n")  # a name with commas
    assert (odd.index, odd.name, odd.memory_total) == (2, "Tesla V100, PCIe, 16GB", 16160 * MIB)
    assert parse_smi("") == [] and parse_smi("No devices were found\n") == []


@no_smi
@pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")
def test_an_ssh_target_without_nvidia_smi_says_so(tm, sshd, tmp_path: Path) -> None:  # noqa: F811
    target = add_target(tm, sshd, "box")
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=2.0)
    found = target_gpus(tm, run.experiment_id)
    assert found.gpus == []
    assert found.error == "no NVIDIA GPU on box (nvidia-smi is not there)"
    follower = RemoteRunFollower(tm, run.experiment_id)
    while not follower.poll().finished:
        time.sleep(0.25)
    follower.close()


@no_smi
@pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")
def test_a_slurm_job_is_asked_on_its_node_once_it_runs(
    tm: TrainingManager,
    slurm_sshd,  # noqa: F811
    tmp_path: Path,
) -> None:
    target = add_target(tm, slurm_sshd, "cluster", slurm=True, extra_sbatch=["--hold"])
    run = start_remote_replay(tm, target, tmp_path / "runs", duration=8.0)
    follower = RemoteRunFollower(tm, run.experiment_id)
    follower.poll()
    pending = target_gpus(tm, run.experiment_id)
    assert pending.error == (
        f"SLURM job {run.job_id} is pending: its node's GPUs are shown once it runs."
    )
    Connection(target).run(["scontrol", "release", str(run.job_id)])
    deadline = time.monotonic() + 60
    while TargetStore(tm.db).run(run.experiment_id).state != "RUNNING":  # type: ignore[union-attr]
        follower.poll()
        assert time.monotonic() < deadline
        time.sleep(0.25)
    found = target_gpus(tm, run.experiment_id)  # srun --overlap into the running job
    assert found.error == (
        f"no NVIDIA GPU on cluster (job {run.job_id}) (nvidia-smi is not there)"
    ), found.error
    while not follower.poll().finished:
        assert time.monotonic() < deadline + 60
        time.sleep(0.25)
    follower.close()
    assert tm.get_experiment(run.experiment_id).status == "completed"
