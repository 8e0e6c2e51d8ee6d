"""Runs brought up to date without a window: followed to their end, caught up before a
command shows them, and reconciled at start (what ended while nobody watched)."""

from __future__ import annotations

import os
import time

from ..manager import TrainingManager
from ..process.procinfo import is_same_process
from ..status import FINAL, LIVE
from ..store.records import Experiment
from .follower import LOG_KEY
from .followers import follower_for, is_remote

CATCH_UP_S = 5.0  # what a CLI command spends at most bringing live runs up to date


def follow_to_end(
    manager: TrainingManager, experiment_id: int, *, timeout: float = 30.0, interval: float = 0.1
) -> str:
    """Follow a run until its end is recorded (read to the end of its files, outcome from them
    and its supervisor's status) and return its status. While its process lives this waits
    up to ``timeout`` seconds; once the process is gone reading goes on while there is more
    to read, however long that takes, and stops only when the run is recorded or nothing
    more comes for ``timeout`` seconds."""
    follower = follower_for(manager, experiment_id)
    deadline = time.monotonic() + timeout
    while True:
        before = follower.position()
        if follower.poll().finished:
            break
        if not follower.alive and follower.position() != before:
            deadline = time.monotonic() + timeout  # more to read: no waiting, no giving up
            continue
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    follower.close()
    return manager.get_experiment(experiment_id).status


def _unread(manager: TrainingManager, exp: Experiment) -> bool:
    """Whether an ended run's log holds more than its followers have read."""
    if not exp.log_path:
        return False
    try:
        size = os.path.getsize(exp.log_path)
    except OSError:
        return False
    return (manager.follow_state.offset(exp.id, LOG_KEY) or 0) < size


def catch_up(
    manager: TrainingManager, experiment_ids: list[int] | None = None, budget: float = CATCH_UP_S
) -> list[int]:
    """Bring live runs (all, or those of ``experiment_ids``) up to date before a command shows
    them: one poll each for a run whose process lives, its whole end for a run whose process
    is gone. Stops after ``budget`` seconds; returns the runs whose end it recorded."""
    deadline = time.monotonic() + budget
    ended = []
    for exp in manager.list_experiments(status=list(LIVE)):
        if experiment_ids is not None and exp.id not in experiment_ids:
            continue
        follower = follower_for(manager, exp.id)
        while time.monotonic() < deadline:
            upd = follower.poll(wait=max(0.0, min(1.0, deadline - time.monotonic())))
            alive = is_same_process(exp.pid, exp.process_start_time) or follower.alive
            if upd.finished:
                ended.append(exp.id)
            if upd.finished or alive:
                break
        follower.close()
    return ended


def reconcile(manager: TrainingManager) -> tuple[list[int], list[int]]:
    """At start: runs whose process still lives (to re-attach) and runs that ended while
    nobody watched, now recorded with their real outcome and every point they wrote (also
    runs recorded as ended before their files were read to the end)."""
    alive, ended = [], []
    for exp in manager.list_experiments(status=list(LIVE)):
        if is_remote(manager, exp.id) or is_same_process(exp.pid, exp.process_start_time):
            alive.append(exp.id)  # a run on a target: its follower asks the target
            continue
        follow_to_end(manager, exp.id, timeout=5.0)
        ended.append(exp.id)
    for exp in manager.list_experiments(status=list(FINAL)):
        if _unread(manager, exp):
            before = manager.follow_state.offset(exp.id, LOG_KEY)
            follow_to_end(manager, exp.id, timeout=5.0)
            if manager.follow_state.offset(exp.id, LOG_KEY) != before:
                ended.append(exp.id)
    return alive, ended


__all__ = ["CATCH_UP_S", "catch_up", "follow_to_end", "reconcile"]
