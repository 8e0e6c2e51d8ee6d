"""The follower of a run: a RunFollower, or for a run on a target (SSH host, SLURM cluster) the
RemoteRunFollower that copies its files from there first (same reading code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..manager import TrainingManager
from .follower import RunFollower

if TYPE_CHECKING:
    from .health import HealthThresholds

TARGET_KEY = "target"  # the experiment config's key naming its target (remote runs only)


def is_remote(manager: TrainingManager, experiment_id: int) -> bool:
    return bool(manager.get_experiment(experiment_id).config.get(TARGET_KEY))


def follower_for(
    manager: TrainingManager, experiment_id: int, thresholds: HealthThresholds | None = None
) -> RunFollower:
    if is_remote(manager, experiment_id):
        from ..remote.follow import RemoteRunFollower

        return RemoteRunFollower(manager, experiment_id, thresholds)
    return RunFollower(manager, experiment_id, thresholds)


__all__ = ["TARGET_KEY", "follower_for", "is_remote"]
