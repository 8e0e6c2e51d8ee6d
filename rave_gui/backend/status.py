"""The run status model: the statuses, their groups, the legal transitions between them and
which action each status allows (one table, used by the engine, the CLI and the pages)."""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from .errors import InvalidTransitionError, ValidationError


class RunStatus(str, Enum):
    """Where a run is. A ``str`` enum: its values are the strings the database and the JSON
    output hold, and a member compares equal to its string."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def parse(cls, value: object) -> RunStatus:
        """The status named ``value``, or ValidationError listing the known ones."""
        try:
            return cls(value)
        except ValueError:
            raise ValidationError(
                f"Unknown status {value!r}; use one of: {', '.join(STATUSES)}."
            ) from None


class Action(str, Enum):
    """What a person can ask of a run."""

    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    RESUME_FROM_CHECKPOINT = "resume_from_checkpoint"
    EXPORT = "export"
    DELETE = "delete"  # the run's record (its files stay)
    DELETE_CHECKPOINTS = "delete_checkpoints"  # to free disk
    SAVE_CHECKPOINT = "save_checkpoint"  # now, at the next batch (the launcher's SIGUSR1)

    def __str__(self) -> str:
        return self.value


QUEUED, RUNNING, PAUSED, STOPPING = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.PAUSED,
    RunStatus.STOPPING,
)
COMPLETED, STOPPED, FAILED = RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.FAILED

STATUSES: tuple[RunStatus, ...] = tuple(RunStatus)
ACTIVE: tuple[RunStatus, ...] = (QUEUED, RUNNING, PAUSED, STOPPING)  # not ended yet
LIVE: tuple[RunStatus, ...] = (RUNNING, PAUSED, STOPPING)  # a process exists
FINAL: tuple[RunStatus, ...] = (COMPLETED, STOPPED, FAILED)  # ended; never changes again

TRANSITIONS: dict[RunStatus, tuple[RunStatus, ...]] = {
    QUEUED: (RUNNING, STOPPED, FAILED),
    RUNNING: (PAUSED, STOPPING, COMPLETED, STOPPED, FAILED),
    PAUSED: (RUNNING, STOPPING, COMPLETED, STOPPED, FAILED),
    STOPPING: (STOPPED, COMPLETED, FAILED),
    COMPLETED: (),
    STOPPED: (),
    FAILED: (),
}

# Which status allows which action. Resuming from a checkpoint and exporting also need a
# checkpoint (see allowed_actions).
_ALLOWED: dict[Action, tuple[RunStatus, ...]] = {
    Action.STOP: (QUEUED, RUNNING, PAUSED),
    Action.PAUSE: (RUNNING,),
    Action.RESUME: (PAUSED,),
    Action.RESUME_FROM_CHECKPOINT: FINAL,
    Action.EXPORT: (COMPLETED, STOPPED),
    Action.DELETE: (QUEUED, *FINAL),
    Action.DELETE_CHECKPOINTS: FINAL,  # a live or queued run may still write or resume them
    Action.SAVE_CHECKPOINT: (RUNNING,),  # a paused process cannot act on the signal
}
_NEEDS_CHECKPOINT = frozenset({Action.RESUME_FROM_CHECKPOINT, Action.EXPORT})


def can_transition(current: str, new: str) -> bool:
    """True if a run that is ``current`` may become ``new`` (staying put is no transition)."""
    return new in TRANSITIONS[RunStatus.parse(current)]


def check_transition(current: str, new: str, name: str | None = None) -> None:
    """InvalidTransitionError unless ``current`` may become ``new`` (ValidationError for an
    unknown status); ``name`` is the run's name, for the message."""
    new = RunStatus.parse(new)
    if not can_transition(current, new):
        who = f"Experiment {name!r}" if name else "The run"
        raise InvalidTransitionError(f"{who} is {current}; it cannot become {new}.")


def allowed_actions(status: str, has_checkpoint: bool) -> frozenset[Action]:
    """The actions a run in ``status`` allows; ``has_checkpoint``: it saved a checkpoint."""
    st = RunStatus.parse(status)
    return frozenset(
        a
        for a, statuses in _ALLOWED.items()
        if st in statuses and (has_checkpoint or a not in _NEEDS_CHECKPOINT)
    )


def refusal(status: str, action: Action, has_checkpoint: bool | None = None) -> str | None:
    """Why ``action`` is not allowed on a run in ``status`` (a sentence to finish with the
    run's name in front), or None if it is. ``has_checkpoint=None``: not checked here."""
    st = RunStatus.parse(status)
    if st not in _ALLOWED[action]:
        return _REASONS[action](st)
    if has_checkpoint is False and action in _NEEDS_CHECKPOINT:
        return f"has no checkpoint to {'resume from' if action != Action.EXPORT else 'export'}."
    return None


_REASONS = {
    Action.STOP: lambda st: f"is already {st}.",
    Action.PAUSE: lambda st: f"is {st}; only a running run can be paused.",
    Action.RESUME: lambda st: f"is {st}; only a paused run can be resumed.",
    Action.RESUME_FROM_CHECKPOINT: lambda st: f"is {st}: stop it before resuming it.",
    Action.EXPORT: lambda st: f"is {st}; only a completed or stopped run can be exported.",
    Action.DELETE: lambda st: f"is {st}: stop it first.",
    Action.DELETE_CHECKPOINTS: lambda st: f"is {st}: stop it before deleting checkpoints.",
    Action.SAVE_CHECKPOINT: lambda st: f"is {st}; only a running run can save a checkpoint now.",
}


class NamedRun(Protocol):
    """What require_action reads of a run (an ``Experiment`` record has both)."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...


def require_action(
    experiment: NamedRun, action: Action, *, has_checkpoint: bool | None = None
) -> None:
    """ValidationError saying why, unless ``experiment`` (a record with ``name`` and
    ``status``) allows ``action``."""
    reason = refusal(experiment.status, action, has_checkpoint)
    if reason is not None:
        raise ValidationError(f"Experiment {experiment.name!r} {reason}")


__all__ = [
    "ACTIVE",
    "COMPLETED",
    "FAILED",
    "FINAL",
    "LIVE",
    "PAUSED",
    "QUEUED",
    "RUNNING",
    "STATUSES",
    "STOPPED",
    "STOPPING",
    "TRANSITIONS",
    "Action",
    "RunStatus",
    "allowed_actions",
    "can_transition",
    "check_transition",
    "refusal",
    "require_action",
]
