"""Resuming a run from one of its checkpoints: which checkpoint, how far, and the command line.

RAVE's global step continues from the checkpoint's, so ``--max_steps`` counts from the start of
the original run: a resumed run must be given more steps than its checkpoint holds, or it ends
at once.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..errors import NotFoundError, ValidationError
from ..jobs.export import scan_checkpoints
from ..manager import TrainingManager
from ..rave.command import MAX_STEPS
from ..store.records import Checkpoint, Experiment
from .checkpoints import with_validation
from .followers import TARGET_KEY


def resume_checkpoints(manager: TrainingManager, experiment_id: int) -> list[Checkpoint]:
    """A run's checkpoints on disk now, each with its step and validation loss, oldest first.
    A run on a target has those left there too (``on_target``: its target keeps only the
    newest and best here, or none): a resume copies its checkpoint on the target."""
    found = [c for c in scan_checkpoints(manager, experiment_id) if Path(c.path).is_file()]
    found += _left_on_target(manager, experiment_id)
    return sorted(found, key=lambda c: (c.step is None, c.step or 0, c.mtime or 0))


def _left_on_target(manager: TrainingManager, experiment_id: int) -> list[Checkpoint]:
    exp = manager.get_experiment(experiment_id)
    if not exp.config.get(TARGET_KEY) or not exp.run_dir:
        return []
    from ..remote.mirror import left_on_target

    local = Path(exp.run_dir)
    left = [
        Checkpoint(
            id=0,
            experiment_id=experiment_id,
            path=str(local / rel),
            step=manager.metrics.step_at_time(experiment_id, mtime),
            size=size,
            is_best=Path(rel).name.startswith("best"),
            mtime=mtime,
            on_target=True,
        )
        for rel, size, mtime in left_on_target(local)
    ]
    return with_validation(manager, experiment_id, left)


def default_checkpoint(checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The checkpoint a resume takes unless told: the newest that is not ``best`` (the run's
    latest state), else the newest."""
    latest = [c for c in checkpoints if not c.is_best] or list(checkpoints)
    return max(latest, key=lambda c: (c.mtime or 0, c.step or 0)) if latest else None


def resume_point(
    manager: TrainingManager, exp: Experiment, checkpoint: str | None = None
) -> Checkpoint:
    """The checkpoint of ``exp`` to resume from: ``checkpoint`` (a path) when given, which must
    be one of the run's, else :func:`default_checkpoint`."""
    ckpts = resume_checkpoints(manager, exp.id)
    if not ckpts:
        raise NotFoundError(f"Experiment {exp.name!r} has no checkpoint to resume from.")
    if checkpoint is None:
        chosen = default_checkpoint(ckpts)
        assert chosen is not None
        return chosen
    wanted = Path(checkpoint).expanduser().resolve()
    for c in ckpts:
        if Path(c.path).resolve() == wanted:
            return c
    names = ", ".join(Path(c.path).name for c in ckpts)
    raise NotFoundError(
        f"{checkpoint} is not a checkpoint of {exp.name!r}; its checkpoints are: {names}."
    )


def resume_max_steps_problem(max_steps: int, checkpoint_step: int | None) -> str | None:
    """Why ``max_steps`` cannot continue a checkpoint at ``checkpoint_step`` (None: it can)."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        return f"Max steps must be a whole number of at least 1, not {max_steps!r}."
    if max_steps > MAX_STEPS:
        return f"Max steps must be at most {MAX_STEPS:,}."
    if checkpoint_step is not None and max_steps <= checkpoint_step:
        example = suggest_max_steps(0, checkpoint_step)
        return (
            f"The checkpoint is at step {checkpoint_step:,} and RAVE counts on from there: give "
            f"more than {checkpoint_step:,} max steps (e.g. {example:,})."
        )
    return None


def check_resume_max_steps(max_steps: int, checkpoint_step: int | None) -> None:
    problem = resume_max_steps_problem(max_steps, checkpoint_step)
    if problem:
        raise ValidationError(problem)


def suggest_max_steps(original: int, checkpoint_step: int | None) -> int:
    """The max steps proposed for a resume: the original run's when the checkpoint is short of
    it, else the checkpoint's step doubled (at least 1,000 more)."""
    step = checkpoint_step or 0
    if original > step:
        return original
    return min(MAX_STEPS, step + max(step, 1000))


def resume_cli(experiment_id: int, checkpoint: str, max_steps: int, name: str = "") -> str:
    """The rave-gui command line that makes the same resume."""
    argv = ["rave-gui", "runs", "resume-from", str(experiment_id), "--checkpoint", checkpoint]
    argv += ["--max-steps", str(max_steps)]
    if name:
        argv += ["--name", name]
    return shlex.join(argv)


__all__ = [
    "check_resume_max_steps",
    "default_checkpoint",
    "resume_checkpoints",
    "resume_cli",
    "resume_max_steps_problem",
    "resume_point",
    "suggest_max_steps",
]
