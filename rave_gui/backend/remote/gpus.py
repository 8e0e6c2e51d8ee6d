"""The GPUs of a run's target, read with nvidia-smi over the run's connection (the system
panel shows them for a run on a target, read now and then off the GUI thread). On SLURM the
job's own node is asked (``srun --overlap`` into the running job); a pending job has none yet."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..manager import TrainingManager
from ..store.targets import SLURM, TargetStore
from ..system.sysmon import GpuSample
from .ssh import Connection, RemoteError

QUERY = "index,name,memory.used,memory.total,utilization.gpu"
SMI = f"nvidia-smi --query-gpu={QUERY} --format=csv,noheader,nounits"
NO_SMI = 9  # the exit status of the probe when nvidia-smi is missing
TIMEOUT_S = 20.0
MIB = 1024 * 1024


@dataclass
class TargetGpus:
    """What a target's nvidia-smi said: its GPUs, or why there are none to show."""

    target: str
    gpus: list[GpuSample] = field(default_factory=list)
    error: str | None = None


def _number(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_smi(text: str) -> list[GpuSample]:
    """The GPUs of ``nvidia-smi --query-gpu=index,name,memory.used,memory.total,
    utilization.gpu --format=csv,noheader,nounits`` output (memory in MiB, load in %)."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        # a name may hold commas: the index first, the three numbers last
        index, name, (used, total, util) = int(parts[0]), ", ".join(parts[1:-3]), parts[-3:]
        mem_used, mem_total = _number(used), _number(total)
        gpus.append(GpuSample(
            index=index, name=name.strip(),
            utilization=_number(util),
            memory_used=None if mem_used is None else int(mem_used * MIB),
            memory_total=None if mem_total is None else int(mem_total * MIB),
            temperature=None, power=None, power_limit=None,
        ))  # fmt: skip
    return gpus


def target_gpus(manager: TrainingManager, experiment_id: int) -> TargetGpus:
    """The GPUs of the target a run is on (SLURM: of the node its job runs on)."""
    store = TargetStore(manager.db)
    run = store.run(experiment_id)
    if run is None:
        return TargetGpus("", error="This run was never started on a target.")
    target = store.target_of(run)
    probe = f"command -v nvidia-smi >/dev/null 2>&1 || exit {NO_SMI}; {SMI}"
    line = f"sh -c {shlex.quote(probe)}"
    where = target.name
    if run.kind == SLURM:
        if run.state != "RUNNING":
            state = run.state.lower() or "not started"
            return TargetGpus(where, error=f"SLURM job {run.job_id} is {state}: its node's "
                                           "GPUs are shown once it runs.")  # fmt: skip
        line = f"srun --jobid={shlex.quote(str(run.job_id))} --overlap -N1 -n1 {line}"
        where = f"{target.name} (job {run.job_id})"
    try:
        res = Connection(target).run(line, check=False, timeout=TIMEOUT_S)
    except RemoteError as err:
        return TargetGpus(where, error=str(err))
    if res.returncode == NO_SMI:
        return TargetGpus(where, error=f"no NVIDIA GPU on {where} (nvidia-smi is not there)")
    if res.returncode != 0:
        said = (res.stderr or res.text).strip()
        return TargetGpus(where, error=f"nvidia-smi failed on {where}: {said}")
    gpus = parse_smi(res.text)
    return TargetGpus(where, gpus, None if gpus else f"no NVIDIA GPU on {where}")


__all__ = ["QUERY", "TargetGpus", "parse_smi", "target_gpus"]
