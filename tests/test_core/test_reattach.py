"""Runs outlive the app: crash-and-reattach, and runs that ended while nobody followed.

The app side is a separate Python process (``tests/helpers/app_side.py``) that starts a replayed
real `rave train` run the Engine's way and follows it; the test kills it with SIGKILL mid-way,
as a crash would, and then plays the restarted app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from replay_helpers import (
    FAIL_REASON,
    FIXTURES,
    fixture_points,
    fixtures_available,
    follow_to_end,
    kill_group,
    stored_points,
    wait_until,
)

from rave_gui.backend.errors import ProcessError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import group_members, is_same_process, process_start_time
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.runs.reconcile import reconcile
from rave_gui.backend.system.settings import Settings

REPO = Path(__file__).resolve().parents[2]
APP_SIDE = REPO / "tests" / "helpers" / "app_side.py"


def _start_app_side(db_path: Path, runs_dir: Path, fixture: str, duration: float):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, str(APP_SIDE), str(db_path), str(runs_dir), fixture, "crashy",
         str(duration)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


@pytest.fixture
def pgids():
    """Process groups to kill at teardown, whoever started them."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        kill_group(pgid)


def test_app_killed_mid_run_then_reattached(db_path, runs_dir, manager, pgids):
    if not fixtures_available():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    fixture = "run_110steps"
    expected = fixture_points(fixture)
    app = _start_app_side(db_path, runs_dir, fixture, duration=4.0)
    try:
        assert app.stdout is not None
        first = app.stdout.readline().split()
        assert first[:1] == ["started"], (first, app.stderr.read() if app.poll() else "")
        exp_id, pgid = int(first[1]), int(first[2])
        pgids.append(pgid)
        stored_by_app = 0
        for line in app.stdout:  # until the app has stored part (not all) of the points
            stored_by_app = int(line.split()[1])
            if stored_by_app >= 5:
                break
        assert 0 < stored_by_app < len(expected)
        app.send_signal(signal.SIGKILL)  # the app crashes
        assert app.wait(5) == -signal.SIGKILL
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        app.stdout.close()
        app.stderr.close()

    exp = manager.get_experiment(exp_id)
    assert exp.status == "running"
    assert is_same_process(exp.pid, exp.process_start_time), "the run died with the app"
    assert len(group_members(pgid)) >= 2  # supervisor and the training process

    before = stored_points(manager, exp_id)
    assert 0 < len(before) < len(expected)

    # the restarted app: re-attach to what still runs
    alive, ended = reconcile(manager)
    assert (alive, ended) == ([exp_id], [])
    follower = RunFollower(manager, exp_id)
    updates = follow_to_end(follower, 30)

    emitted = [(n, s) for u in updates for n, pts in u.points.items() for s, _v in pts]
    assert len(emitted) == len(set(emitted)), "a point was read twice after re-attaching"
    assert set(emitted).isdisjoint((n, s) for n, s, _v in before), "re-read what was stored"
    assert stored_points(manager, exp_id) == expected  # none missing, none twice
    exp = manager.get_experiment(exp_id)
    assert exp.status == "completed"
    assert exp.exit_code == 0
    assert wait_until(lambda: not group_members(pgid), 5)


def test_crash_between_points_and_offsets_reads_nothing_twice(manager, replay, monkeypatch):
    """Points and the offsets they were read up to are saved together: a crash between the
    two must not make the next follower report (and store) the same points again."""
    run = replay(fixture="run_40steps", duration=1.0)
    assert wait_until(lambda: not group_members(run.pgid), 10)
    follower = RunFollower(manager, run.exp_id)

    def crash(*_args, **_kwargs):
        raise RuntimeError("the app died here")

    monkeypatch.setattr(manager.follow_state, "set_offsets", crash)
    with pytest.raises(RuntimeError):
        follower.poll()
    monkeypatch.undo()

    before = stored_points(manager, run.exp_id)
    updates = follow_to_end(RunFollower(manager, run.exp_id), 10)
    emitted = [(n, s) for u in updates for n, pts in u.points.items() for s, _v in pts]
    assert set(emitted).isdisjoint((n, s) for n, s, _v in before), "points were read twice"
    assert stored_points(manager, run.exp_id) == fixture_points("run_40steps")
    assert len(emitted) + len(before) == len(fixture_points("run_40steps"))


def test_reconcile_records_runs_that_ended_unwatched(manager, replay):
    done = replay(fixture="run_40steps", name="done", duration=1.5)
    crashed = replay(fixture="run_40steps", name="crashed", duration=1.5, fail=True)
    interrupted = replay(fixture="run_110steps", name="interrupted", duration=6.0, workers=1)
    assert wait_until(lambda: len(group_members(interrupted.pgid)) == 3, 5)
    assert wait_until(lambda: b"Epoch" in interrupted.launched.log_path.read_bytes(), 5)
    os.killpg(interrupted.pgid, signal.SIGINT)  # stopped from a terminal while nobody follows

    for run in (done, crashed, interrupted):
        assert wait_until(lambda run=run: not group_members(run.pgid), 10)
        assert manager.get_experiment(run.exp_id).status == "running"  # nobody noticed

    alive, ended = reconcile(manager)
    assert alive == []
    assert sorted(ended) == sorted(r.exp_id for r in (done, crashed, interrupted))

    exp = manager.get_experiment(done.exp_id)
    assert (exp.status, exp.exit_code, exp.error) == ("completed", 0, None)
    assert stored_points(manager, done.exp_id) == fixture_points("run_40steps")
    assert {c.path.rsplit("/", 1)[-1] for c in manager.artifacts.checkpoints(done.exp_id)} == {
        "best.ckpt",
        "epoch-epoch=0001.ckpt",
    }

    exp = manager.get_experiment(crashed.exp_id)
    assert (exp.status, exp.exit_code, exp.error) == ("failed", 1, FAIL_REASON)

    exp = manager.get_experiment(interrupted.exp_id)
    assert exp.status == "stopped"
    assert exp.exit_code == 0  # RAVE exits 0 on SIGINT: stopped, not completed
    assert set(stored_points(manager, interrupted.exp_id)) <= set(fixture_points("run_110steps"))

    assert reconcile(manager) == ([], [])  # recorded once and for all


def test_reused_pid_is_not_taken_for_the_run(manager, runs_dir, tmp_path):
    """A run whose pid now belongs to another process (its start time differs) has ended:
    it is finalized from its log, and the other process is left alone."""
    if not fixtures_available():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        assert wait_until(lambda: process_start_time(other.pid) is not None, 5)
        run_dir = runs_dir / "1-old"
        run_dir.mkdir()
        log = run_dir / "train.log"  # an old run that completed while the app was closed
        log.write_bytes(
            (FIXTURES / "run_40steps" / "train.stdout").read_bytes()
            + (FIXTURES / "run_40steps" / "train.stderr").read_bytes()
        )
        exp_id = manager.start_training({"name": "old", "max_steps": 40})
        manager.experiments.update(
            exp_id,
            run_dir=str(run_dir),
            log_path=str(log),
            pid=other.pid,  # reused by an unrelated process group leader
            process_start_time=process_start_time(other.pid) - 3600.0,
        )
        manager.update_experiment_status(exp_id, "running")

        engine = Engine(manager, Settings())
        with pytest.raises(ProcessError):
            engine.pause(exp_id)
        alive, ended = reconcile(manager)
        assert (alive, ended) == ([], [exp_id])
        exp = manager.get_experiment(exp_id)
        assert exp.status == "completed"  # from its log's `Trainer.fit` stopped
        time.sleep(0.2)
        assert other.poll() is None, "the unrelated process that reused the pid was signalled"
    finally:
        other.kill()
        other.wait()


def test_ended_run_whose_log_stops_mid_line_is_finalized(manager, runs_dir):
    """A log cut inside a line (the supervisor killed while writing, a full disk): once the
    process is gone nothing more will come, so the tail is read and the outcome recorded."""
    if not fixtures_available():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run_dir = runs_dir / "1-cut"
    run_dir.mkdir()
    stdout = (FIXTURES / "run_40steps" / "train.stdout").read_bytes()
    cut = stdout.rfind(b"\r", 0, len(stdout) // 2) + 40  # inside a progress bar
    log = run_dir / "train.log"
    log.write_bytes(stdout[:cut])
    exp_id = manager.start_training({"name": "cut", "max_steps": 40})
    manager.experiments.update(
        exp_id, run_dir=str(run_dir), log_path=str(log), pid=gone.pid, process_start_time=1.0
    )
    manager.update_experiment_status(exp_id, "running")

    assert reconcile(manager) == ([], [exp_id])
    exp = manager.get_experiment(exp_id)
    assert exp.status == "failed"  # killed: no exit code, no end marker
    assert "without reporting an exit code" in exp.error


def test_manager_database_is_shared_with_other_processes(db_path, manager):
    """The crash test relies on two processes using one database: a second manager sees
    what the first wrote."""
    exp_id = manager.start_training({"name": "shared", "max_steps": 1})
    other = TrainingManager(db_path)
    try:
        assert other.get_experiment(exp_id).name == "shared"
    finally:
        other.close()
