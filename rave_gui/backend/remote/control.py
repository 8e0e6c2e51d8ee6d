"""Save a checkpoint now, for a run on a target (the remote side of the engine's save-now).

The launcher (rave/trainwatch.py) saves a checkpoint at the next batch boundary when its
process gets SIGUSR1. SIGUSR1 kills any process that does not handle it — the supervisor
without its pass-through, RAVE's data-loader workers — so it is never sent to the run's process
group: it goes to the supervisor alone, which passes it on to its child (the launcher) alone,
and it is no stop (see process/supervisor.py):

- SSH target: ``kill -USR1 -- PID`` there, PID being the supervisor's (the group's id);
- SLURM target: ``scancel --batch --signal=USR1 JOB``, the batch shell alone, which ``exec``'d
  the supervisor (``--full`` would signal every process of the job, the workers too).

The time-limit signal of SLURM runs is SIGUSR2 (scripts.LIMIT_SIGNAL): the supervisor turns
it into SIGINT, the graceful stop. The saved checkpoint comes back with the follower's next
checkpoint copy like RAVE's own.
"""

from __future__ import annotations

import json
import posixpath

from ..errors import ProcessError, ValidationError
from ..manager import TrainingManager
from ..status import RUNNING
from ..store.targets import SLURM
from .follow import Place
from .scripts import SAVE_SIGNAL, STATUS_NAME


def _supervisor_passes(place: Place) -> bool:
    """Whether the run's supervisor passes SIGUSR1 on (an older one would die of it)."""
    path = posixpath.join(place.run.remote_dir, STATUS_NAME)
    res = place.conn.run(["cat", "--", path], check=False)
    try:
        status = json.loads(res.text) if res.returncode == 0 else {}
    except ValueError:
        status = {}
    return f"SIG{SAVE_SIGNAL}" in (status.get("passes") or [])


def save_checkpoint_now(manager: TrainingManager, experiment_id: int) -> str:
    """Ask a running remote run to save a checkpoint at its next batch. Returns what was run
    there (the kill or scancel line). ValidationError when the run is not running;
    ProcessError when it cannot take the request (a pending job, a process gone, a run started
    by an older rave-gui whose supervisor does not pass the signal on)."""
    exp = manager.get_experiment(experiment_id)
    if exp.status != RUNNING:
        raise ValidationError(
            f"{exp.name!r} is {exp.status}; only a running run can save a checkpoint now."
        )
    place = Place.of(manager, experiment_id)
    run = place.run
    if run.kind == SLURM and run.state and run.state != "RUNNING":
        raise ProcessError(
            f"SLURM job {run.job_id} of {exp.name!r} is {run.state}: it saves checkpoints "
            "once it runs."
        )
    if not _supervisor_passes(place):
        raise ProcessError(
            f"{exp.name!r} was started on {run.target} by an older rave-gui (or has not "
            "started yet): it cannot save a checkpoint on request (RAVE saves one at each "
            "validation)."
        )
    if run.kind == SLURM:
        argv = ["scancel", "--batch", f"--signal={SAVE_SIGNAL}", str(run.job_id)]
    else:
        argv = ["kill", f"-{SAVE_SIGNAL}", "--", str(int(run.pid or 0))]
    res = place.conn.run(argv, check=False)
    if res.returncode != 0:
        raise ProcessError(
            f"The process of {exp.name!r} on {run.target} did not take the request: "
            f"{res.stderr or res.text or 'it is no longer running'}"
        )
    return " ".join(argv)


__all__ = ["save_checkpoint_now"]
