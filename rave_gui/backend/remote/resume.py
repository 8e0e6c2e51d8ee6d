"""Resuming a run on a target from one of its checkpoints: a new job on the same target.

The checkpoint is on the target (the local folder is a cache of it). RAVE deletes the
checkpoint it resumes from, so, as for local runs, the new run resumes from a copy: made on
the target, in the new run's own folder (``resume-from/NAME_HASH/version_0/checkpoints/``,
with the run's config.gin), just before its job starts (runs.start); the original run keeps
all its files."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from ..errors import ProcessError, ValidationError
from ..manager import TrainingManager
from ..runs.followers import TARGET_KEY
from ..status import FINAL
from ..store.records import Experiment
from ..store.targets import TargetStore
from .ssh import Connection

RESUME_KEY = "resume_remote"  # in a resumed run's config: what to copy on the target
RESUME_DIR = "resume-from"

_COPY = (
    'set -e; cd -- "$1"; mkdir -p -- "$4/version_0/checkpoints"; '
    'if [ -f "$3" ]; then cp -- "$3" "$4/config.gin"; fi; cp -- "$2" "$4/version_0/checkpoints/"'
)


def resume_config(
    manager: TrainingManager, exp: Experiment, checkpoint: Path, rave_folder: Path
) -> dict[str, Any]:
    """The config entries of a run resuming ``exp`` (a run on a target) from ``checkpoint``
    (its local cached copy, in ``rave_folder``, RAVE's NAME_HASH folder): ``ckpt`` relative to
    the new run's folder on the target, and what to copy there before it starts."""
    run = TargetStore(manager.db).run(exp.id)
    if run is None or not exp.run_dir:
        raise ProcessError(f"Experiment {exp.name!r} was never started on its target.")
    local = Path(exp.run_dir).resolve()
    try:
        rel_ckpt = checkpoint.resolve().relative_to(local)
        rel_folder = rave_folder.resolve().relative_to(local)
    except ValueError:
        raise ValidationError(
            f"{checkpoint} is not in the run folder of {exp.name!r}: on {run.target} only its "
            "own checkpoints can be resumed from."
        ) from None
    remote_ckpt = posixpath.join(run.remote_dir, rel_ckpt.as_posix())
    into = posixpath.join(RESUME_DIR, rave_folder.name)
    spec = {
        "checkpoint": remote_ckpt,
        "gin": posixpath.join(run.remote_dir, rel_folder.as_posix(), "config.gin"),
        "into": into,
    }
    return {"ckpt": into, "resumed_from": remote_ckpt, RESUME_KEY: spec}


def copy_resume_point(conn: Connection, remote_dir: str, spec: dict[str, str]) -> None:
    """Copy the checkpoint (and config.gin) a run resumes from into its folder on the target."""
    argv = ["sh", "-c", _COPY, "sh", remote_dir, spec["checkpoint"], spec["gin"], spec["into"]]
    res = conn.run(argv, check=False)
    if res.returncode != 0:
        said = (res.stderr or res.text).strip()
        raise ProcessError(
            f"The checkpoint to resume from, {spec['checkpoint']}, could not be copied on "
            f"{conn.target.name}: {said}"
        )


def timed_out(manager: TrainingManager, experiment_id: int) -> bool:
    """True for a run on a SLURM target that ended at its time limit: it can be continued
    from its last checkpoint with the same max steps (Engine.resume_from_checkpoint)."""
    exp = manager.get_experiment(experiment_id)
    if exp.status not in FINAL or not exp.config.get(TARGET_KEY):
        return False
    run = TargetStore(manager.db).run(experiment_id)
    if run is None:
        return False
    return run.state == "TIMEOUT" or "time limit" in (exp.error or "").lower()


__all__ = ["RESUME_DIR", "RESUME_KEY", "copy_resume_point", "resume_config", "timed_out"]
