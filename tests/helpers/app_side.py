"""The app side of a run, in its own process, so a test can SIGKILL it (a crash of the app).

    python app_side.py DB RUNS_DIR FIXTURE NAME DURATION
    python app_side.py DB --follow EXP_ID

Starts a replayed run exactly as the Engine starts `rave train` (see replay_helpers), prints
``started EXP_ID PGID``, then follows it with a RunFollower like the app does, printing
``points N step S`` after every poll (N: points stored so far by this follower) and
``finished STATUS`` at the end. With ``--follow`` it follows a run started before, polling
without a pause (so that a kill lands inside a poll as often as possible).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_helpers import start_replay_experiment

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs.follower import RunFollower


def main() -> int:
    if sys.argv[2] == "--follow":
        manager = TrainingManager(sys.argv[1])
        exp_id, interval = int(sys.argv[3]), 0.0
    else:
        db, runs_dir, fixture, name, duration = sys.argv[1:6]
        manager = TrainingManager(db)
        run = start_replay_experiment(
            manager, runs_dir, fixture=fixture, name=name, duration=float(duration)
        )
        print(f"started {run.exp_id} {run.pgid}", flush=True)
        exp_id, interval = run.exp_id, 0.05
    follower = RunFollower(manager, exp_id)
    n = 0
    while True:
        upd = follower.poll()
        n += sum(len(pts) for pts in upd.points.values())
        print(f"points {n} step {upd.step}", flush=True)
        if upd.finished:
            print(f"finished {upd.status}", flush=True)
            return 0
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
