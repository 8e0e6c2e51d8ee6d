"""Reporting runs from the command line: the line for a new run, then following it to its end."""

from __future__ import annotations

import math
import sys
from typing import IO, TYPE_CHECKING

from ..backend.status import RunStatus
from ..backend.system.units import format_duration

if TYPE_CHECKING:
    from ..backend.manager import TrainingManager
    from ..backend.runs.engine import Engine
    from ..backend.runs.follower import FollowUpdate
    from ..backend.store.records import Experiment

FOLLOW_INTERVAL_S = 0.25  # between two polls of a followed run (the app's interval)
PROGRESS_EVERY_S = 2.0  # a followed run's progress line at most this often


def progress_line(upd: FollowUpdate) -> str:
    text = f"step {upd.step}/{upd.max_steps or '?'}"
    if upd.rate:
        text += f"  {upd.rate:.3g} steps/s"
        if upd.max_steps and upd.step is not None and upd.max_steps > upd.step:
            text += f"  ETA {format_duration((upd.max_steps - upd.step) / upd.rate)}"
    return text


def print_started(exp: Experiment, note: str, out: IO[str]) -> None:
    """Print a run just submitted: ``experiment N 'NAME' STATUS (NOTE)``."""
    out.write(f"experiment {exp.id} {exp.name!r} {exp.status} ({note})\n")
    out.flush()


def print_outcome(tm: TrainingManager, exp_id: int, out: IO[str]) -> bool:
    """Print how a run ended (``experiment N STATUS[: error]``); True if it failed."""
    exp = tm.get_experiment(exp_id)
    out.write(f"experiment {exp_id} {exp.status}")
    out.write(f": {exp.error}\n" if exp.error else "\n")
    out.flush()
    return exp.status == RunStatus.FAILED


def wait_for(
    engine: Engine, exp_ids: list[int] | None, out: IO[str], *, stop_on_interrupt: bool = True
) -> int:
    """Follow runs in this process until they end, like the app does: progress (step, rate,
    ETA), warnings and errors (on stderr), then each outcome. ``exp_ids`` None: every live run
    and those that start meanwhile. A queued run is followed once it started. Ctrl-C stops the
    runs when ``stop_on_interrupt`` (`train --wait`), else it only stops following them.
    Exit code 0 if every run completed (or was stopped), 1 if one failed."""
    import time

    from ..backend.runs.follower import RunFollower
    from ..backend.runs.followers import follower_for
    from ..backend.status import LIVE, QUEUED
    from ..backend.system.filewatch import QUIET_POLL_S, FileWatch

    tm = engine.manager
    every = exp_ids is None
    pending = list(exp_ids or [])  # not followed yet
    followers: dict[int, RunFollower] = {}
    last_print: dict[int, float] = {}
    failed = False
    last_scan = -math.inf
    watch = FileWatch()  # the followed runs' folders: sleep until they change
    try:
        while True:
            now = time.monotonic()
            if every and now - last_scan >= PROGRESS_EVERY_S:
                last_scan = now
                for e in tm.list_experiments(status=list(LIVE)):
                    if e.id not in followers and e.id not in last_print:
                        pending.append(e.id)
            for exp_id in list(pending):
                if tm.get_experiment(exp_id).status != QUEUED:
                    pending.remove(exp_id)
                    followers[exp_id] = follower_for(tm, exp_id)
                    for folder in followers[exp_id].watch_folders():
                        watch.add(folder)
                    last_print[exp_id] = -math.inf
            prefix = "[{}] " if every or len(followers) + len(pending) > 1 else ""
            for exp_id, follower in list(followers.items()):
                upd = follower.poll()
                tag = prefix.format(exp_id)
                for text, level in upd.lines:
                    if level != "info":
                        sys.stderr.write(f"{tag}[{level}] {text}\n")
                now = time.monotonic()
                due = now - last_print[exp_id] >= PROGRESS_EVERY_S or upd.finished
                if upd.step is not None and due:
                    out.write(f"{tag}{progress_line(upd)}\n")
                    out.flush()
                    last_print[exp_id] = now
                if upd.finished:
                    del followers[exp_id]
                    failed |= print_outcome(tm, exp_id, out)
                    engine.schedule()  # its on-exit hook does it too; whoever comes first
                    last_scan = -math.inf
            nothing_left = not every or not tm.experiments.count(list(LIVE))
            if not followers and not pending and nothing_left:
                break
            time.sleep(FOLLOW_INTERVAL_S)
            local = all(f.watch_folders() for f in followers.values())  # remote ones: polled
            if watch.native and local and not pending:
                watch.wait(QUIET_POLL_S - FOLLOW_INTERVAL_S)
    except KeyboardInterrupt:
        ids = list(followers) + pending
        if not stop_on_interrupt:
            sys.stderr.write("Stopped following; the run goes on.\n")
            return 0
        sys.stderr.write("Stopping the run (Ctrl-C again to leave it running)...\n")
        for exp_id in ids:
            engine.stop(exp_id)
            failed |= print_outcome(tm, exp_id, out)
        engine.schedule()
    finally:
        watch.close()
    return 1 if failed else 0
