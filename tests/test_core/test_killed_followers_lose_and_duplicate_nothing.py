"""Kill -9 campaign: followers of a live run are SIGKILLed at random moments, one after the
other, while the run goes on; what they stored, once the run is followed to its end, is exactly
what a fresh import of the same run folder holds: no point lost, none twice.

The followers are real processes: `rave-gui runs follow ID` (polls every 0.25 s, like the app)
and ``app_side.py --follow`` (polls without a pause, so kills land inside polls and their
transactions). The run is a replayed real capture that nobody else follows.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from replay_helpers import FIXTURES, fixture_points, follow_to_end, stored_points

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import is_same_process
from rave_gui.backend.runs.engine import import_run
from rave_gui.backend.runs.follower import RunFollower

REPO = Path(__file__).resolve().parents[2]
APP_SIDE = REPO / "tests" / "helpers" / "app_side.py"
SEED = 20240611
MIN_KILLS = 8


def _follower(kind: str, db_path: Path, exp_id: int) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["RAVE_GUI_FIXTURES"] = str(FIXTURES)
    if kind == "cli":
        argv = [sys.executable, "-m", "rave_gui", "runs", "follow", str(exp_id)]
        argv += ["--db", str(db_path)]
    else:
        argv = [sys.executable, str(APP_SIDE), str(db_path), "--follow", str(exp_id)]
    return subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _series(manager: TrainingManager, exp_id: int) -> dict[str, list[tuple[int, object]]]:
    out: dict[str, list[tuple[int, object]]] = {}
    for name, step, value in stored_points(manager, exp_id):
        out.setdefault(name, []).append((step, value))
    return out


def test_followers_killed_at_random_moments_lose_and_duplicate_nothing(
    tmp_path, db_path, manager, replay
):
    rng = random.Random(SEED)
    run = replay(fixture="run_110steps", duration=10.0, tick_every=0.25)
    kills = 0
    stored_during = []  # points in the store after each kill: the campaign spans the run
    for _ in range(40):
        alive = is_same_process(run.pgid, run.launched.start_time)
        if not alive:
            break
        follower = _follower(rng.choice(["cli", "tight"]), db_path, run.exp_id)
        time.sleep(rng.uniform(0.3, 1.4))  # start-up, then some polls, then killed anywhere
        follower.send_signal(signal.SIGKILL)
        if follower.wait(5) != -signal.SIGKILL:  # it recorded the end before the kill came
            assert not is_same_process(run.pgid, run.launched.start_time), "it ended alone"
            continue
        kills += 1
        stored_during.append(len(stored_points(manager, run.exp_id)))
    assert not alive, "the run did not end"
    assert kills >= MIN_KILLS, f"only {kills} kills while the run was live"
    expected = fixture_points("run_110steps")
    assert any(0 < n < len(expected) for n in stored_during), stored_during

    # the run is over; one more follower (the app opening, `runs list`) finishes the record
    follow_to_end(RunFollower(manager, run.exp_id), 30)
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == "completed"
    assert exp.summary["step"] == 110

    fresh = TrainingManager(tmp_path / "fresh.sqlite3")
    try:
        imported = import_run(fresh, run.run_dir / "replay_d744cc98b7")
        followed, reference = _series(manager, run.exp_id), _series(fresh, imported)
        assert followed.keys() == reference.keys()
        for name, points in reference.items():
            assert len(followed[name]) == len(points), name  # none lost, none twice
            assert followed[name] == points, name  # the same (step, value) pairs
        assert stored_points(manager, run.exp_id) == expected
        assert {s.name: s.count for s in manager.metrics.stats(run.exp_id)} == {
            s.name: s.count for s in fresh.metrics.stats(imported)
        }
        got = {Path(c.path).name for c in manager.artifacts.checkpoints(run.exp_id)}
        assert got == {Path(c.path).name for c in fresh.artifacts.checkpoints(imported)}
    finally:
        fresh.close()
