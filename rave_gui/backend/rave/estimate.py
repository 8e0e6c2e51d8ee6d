"""How long a run will take and how much disk its checkpoints will use, before it starts.

The speed is this machine's own, measured on past runs of the same configuration and device in
the store (steps per second over each run's timeline); without one the duration is unknown.

The checkpoints RAVE 2.3.1 keeps (scripts/train.py): ``best.ckpt`` (the lowest validation loss,
once a validation happened), one latest ``epoch-epoch=NNNN.ckpt`` (replaced as it goes) and an
``epoch_N.ckpt`` every ``--save_every`` steps (500,000 by default), all of which stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..manager import TrainingManager
from ..status import COMPLETED, STOPPED
from ..system.units import format_bytes, format_duration
from .command import TrainSettings, batches_per_epoch, validation_count

RAVE_SAVE_EVERY = 500_000  # `rave train --save_every` default
# Measured checkpoint sizes (acids-rave 2.3.1, /work/shared/fixtures/rave/README.md), used until
# the store holds checkpoints of the configuration.
KNOWN_CHECKPOINT_BYTES = {"v2_small": 120_000_000, "v2": 487_000_000}
PAST_RUNS = 200  # the newest ended runs looked at


@dataclass(frozen=True)
class RunEstimate:
    duration_s: float | None  # None: unknown
    rate: float | None  # steps per second it is based on
    n_runs: int  # past runs the rate was measured on
    checkpoints: int  # how many checkpoint files the run keeps at its end
    checkpoint_bytes: int | None  # one checkpoint's size (None: unknown)
    duration_text: str
    disk_text: str

    @property
    def disk_bytes(self) -> int | None:
        return None if self.checkpoint_bytes is None else self.checkpoints * self.checkpoint_bytes


def checkpoints_kept(max_steps: int, save_every: int | None, validations: int | None) -> int:
    """Checkpoint files a run of ``max_steps`` keeps: best (when a validation happens; None:
    unknown, counted), the latest, and one every ``save_every`` steps."""
    every = save_every or RAVE_SAVE_EVERY
    best = 0 if validations == 0 else 1
    return best + 1 + max(0, max_steps) // every


def _device(gpu: int) -> str:
    return "the CPU" if gpu < 0 else f"GPU {gpu}"


def measured_rate(
    manager: TrainingManager, configs: Sequence[str], gpu: int, batch: int
) -> tuple[float | None, int, bool]:
    """The mean steps per second of ended runs (completed or stopped) with these configs on
    this device: those at this batch size when there are any, else at any batch. Returns the
    rate, the number of runs and whether they all had this batch size."""
    same: list[float] = []
    other: list[float] = []
    for exp in manager.list_experiments(status=[COMPLETED, STOPPED], limit=PAST_RUNS):
        cfg = exp.config
        if list(cfg.get("configs") or []) != list(configs) or cfg.get("gpu", -1) != gpu:
            continue
        rate = manager.metrics.pace(exp.id)
        if rate is None:
            continue
        (same if cfg.get("batch") == batch else other).append(rate)
    rates = same or other
    if not rates:
        return None, 0, False
    return sum(rates) / len(rates), len(rates), bool(same)


def checkpoint_size(manager: TrainingManager, configs: Sequence[str]) -> tuple[int | None, str]:
    """One checkpoint's size for these configs: the mean of the store's (past runs), else the
    size measured for the base configuration, else None; with where it comes from."""
    sizes: list[int] = []
    for exp in manager.list_experiments(limit=PAST_RUNS):
        if list(exp.config.get("configs") or []) != list(configs):
            continue
        sizes += [c.size for c in manager.artifacts.checkpoints(exp.id) if c.size]
    if sizes:
        return sum(sizes) // len(sizes), f"measured on {len(sizes)} checkpoint(s) of past runs"
    base = configs[0] if configs else ""
    if base in KNOWN_CHECKPOINT_BYTES:
        return KNOWN_CHECKPOINT_BYTES[base], f"as measured for {base}"
    return None, ""


def estimate_run(manager: TrainingManager, s: TrainSettings, n_examples: int | None) -> RunEstimate:
    """The run's duration and the disk its checkpoints take, each with a sentence."""
    name = " + ".join(s.configs) or "this configuration"
    rate, n_runs, same_batch = measured_rate(manager, s.configs, s.gpu, s.batch)
    steps = max(0, s.max_steps)
    if rate:
        duration: float | None = steps / rate
        batch_note = f"at batch {s.batch}" if same_batch else "at other batch sizes"
        duration_text = (
            f"about {format_duration(duration)} for {steps:,} steps at "
            f"{rate:.3g} steps/s (measured on {n_runs} past run(s) of {name} on "
            f"{_device(s.gpu)} {batch_note})"
        )
    else:
        duration = None
        duration_text = (
            f"unknown: no finished run of {name} on {_device(s.gpu)} on this machine to measure "
            "its speed yet (the first run's speed is shown while it trains)"
        )
    validations = None
    if n_examples:
        bpe = batches_per_epoch(n_examples, s.batch)
        validations = validation_count(s.val_every, s.max_steps, bpe)
    count = checkpoints_kept(s.max_steps, s.save_every, validations)
    size, source = checkpoint_size(manager, s.configs)
    every = s.save_every or RAVE_SAVE_EVERY
    extra = s.max_steps // every
    parts = (["best"] if validations != 0 else []) + ["the latest"]
    if extra:
        parts.append(f"{extra:,} saved every {every:,} steps")
    kept = f"{count} checkpoint(s) kept ({', '.join(parts)})"
    if size is None:
        disk_text = f"unknown: {kept}, of a size not measured yet for {name}"
    else:
        each = f"of about {format_bytes(size)} each ({source})"
        disk_text = f"about {format_bytes(count * size)}: {kept} {each}"
    return RunEstimate(duration, rate, n_runs, count, size, duration_text, disk_text)


__all__ = [
    "KNOWN_CHECKPOINT_BYTES",
    "RunEstimate",
    "checkpoint_size",
    "checkpoints_kept",
    "estimate_run",
    "measured_rate",
]
