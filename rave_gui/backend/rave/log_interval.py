"""How often a run logs its training scalars, and what its plot can expect before the first point.

RAVE leaves Lightning's ``log_every_n_steps`` at 50: a short run shows no training loss for its
first 49 steps, and none at all when it is shorter. Our launcher sets the interval from the
environment (``RAVE_GUI_LOG_EVERY_N_STEPS``); a run's config records it as ``log_every``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DatasetError
from .command import batches_per_epoch, validation_steps
from .dataset import read_dataset

RAVE_LOG_EVERY = 50  # Lightning's default, which RAVE keeps
LOG_EVERY_ENV = "RAVE_GUI_LOG_EVERY_N_STEPS"  # read by launcher.py (which cannot import this)
POINTS_PER_RUN = 20  # a short run still draws a curve of about this many points


def default_log_every(max_steps: int, batches_per_epoch: int | None = None) -> int:
    """The logging interval suggested for a run: RAVE's 50 for a long run; for a short one at
    most the batches in an epoch (a point per epoch at least) and at most a twentieth of the run
    (about 20 points), never below 1."""
    every = RAVE_LOG_EVERY
    if batches_per_epoch is not None and batches_per_epoch >= 1:
        every = min(every, batches_per_epoch)
    if max_steps >= 1:
        every = min(every, max(1, max_steps // POINTS_PER_RUN))
    return max(1, every)


def default_log_every_for(dataset_path: str, max_steps: int, batch: int) -> int:
    """:func:`default_log_every` for a run on a dataset folder (its size read from it; one that
    cannot be read counts as unknown: pre-flight reports it)."""
    try:
        n = read_dataset(dataset_path).n_examples
    except DatasetError:
        n = None
    return default_log_every(max_steps, batches_per_epoch(n, batch) if n and batch > 0 else None)


def first_log_step(log_every: int, start_step: int = 0) -> int:
    """The first step (0-based, as in the event files) at which training scalars are logged:
    Lightning logs after batch ``k * log_every`` (steps log_every - 1, 2 * log_every - 1, ...)."""
    n = max(1, log_every)
    return (start_step // n) * n + n - 1 if (start_step + 1) % n else start_step


def log_every_env(log_every: int | None) -> dict[str, str]:
    """The environment a launched run gets for its logging interval (empty: RAVE's own)."""
    return {} if not log_every else {LOG_EVERY_ENV: str(int(log_every))}


def log_every_note(log_every: int, max_steps: int) -> str:
    """What the interval means for this run's plot, in a sentence."""
    first = first_log_step(log_every)
    if first >= max_steps:
        return (
            f"No training loss is logged in this {max_steps:,}-step run (the first would be at "
            f"step {first:,}): log more often."
        )
    count = (max_steps - first - 1) // log_every + 1
    return (
        f"Training losses are logged every {log_every:,} steps: the first at step {first:,}, "
        f"{count:,} points in all. RAVE's own interval is {RAVE_LOG_EVERY}; logging more often "
        "costs a little speed."
    )


def first_points_note(
    config: Mapping[str, Any], n_examples: int | None, *, ended: bool = False
) -> str:
    """What a run's plot says before its first point: which values come, and at which steps
    (``ended``: the run is over, and logged none)."""
    every = config.get("log_every") or RAVE_LOG_EVERY
    start = int(config.get("start_step") or 0)
    max_steps = config.get("max_steps")
    first = first_log_step(int(every), start)
    if ended:
        return (
            f"This run logged no training loss: it ended before step {first:,}, the first it "
            f"would have logged (every {int(every):,} steps)."
        )
    text = f"First training losses at step {first:,} (logged every {int(every):,} steps)"
    if isinstance(max_steps, int) and first >= max_steps:
        text = f"No training loss is logged before the run's last step ({max_steps:,})"
    val_every = config.get("val_every")
    batch = config.get("batch")
    if (
        n_examples
        and not start
        and isinstance(val_every, int)
        and isinstance(batch, int)
        and isinstance(max_steps, int)
    ):
        steps = validation_steps(val_every, max_steps, batches_per_epoch(n_examples, batch), 1)
        text += (
            f"; first validation at step {steps[0]:,}."
            if steps
            else "; no validation happens in this run."
        )
    else:
        text += "."
    return text


__all__ = [
    "LOG_EVERY_ENV",
    "RAVE_LOG_EVERY",
    "default_log_every",
    "default_log_every_for",
    "first_log_step",
    "first_points_note",
    "log_every_env",
    "log_every_note",
]
