"""Following real captured `rave train` runs, replayed live by a child process.

Each run is started the way the Engine starts `rave train` (supervisor, own process group, log
file in the run folder), only the command is ``replay_run.py``: it writes a real capture's
stdout and stderr with realistic timing and appends the real TensorBoard event file in chunks
that cut records anywhere.
"""

from __future__ import annotations

import itertools
import time

import psutil
from replay_helpers import (
    FAIL_REASON,
    FIXTURES,
    MAX_STEPS,
    fixture_points,
    follow_to_end,
    stored_points,
    wait_until,
)

from rave_gui.backend.process import runner
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.system.settings import Settings
from rave_gui.core.process import TrainingProcess

FOLLOW_TIMEOUT_S = 30.0


def _emitted(updates) -> list[tuple[str, int]]:
    return [(name, step) for u in updates for name, pts in u.points.items() for step, _v in pts]


def _checkpoint_names(manager, exp_id) -> dict[str, dict]:
    return {c.path.rsplit("/", 1)[-1]: c for c in manager.artifacts.checkpoints(exp_id)}


def _status_file(run) -> dict:
    return runner.read_status(run.launched.status_path) or {}


def test_follower_stores_exactly_the_runs_scalars(manager, replay):
    run = replay(fixture="run_110steps", duration=3.0)
    follower = RunFollower(manager, run.exp_id)
    updates = follow_to_end(follower, FOLLOW_TIMEOUT_S)

    expected = fixture_points("run_110steps")
    assert {t for t, _s, _v in expected} >= {"validation", "fullband_spectral_distance"}
    assert stored_points(manager, run.exp_id) == expected
    emitted = _emitted(updates)  # what the polls reported: each point once, none missing
    assert len(emitted) == len(set(emitted)) == len(expected)
    assert sum(1 for u in updates if u.points) >= 2, "points should arrive while the run goes on"
    # scalars stop a little before the end; the completion line gives the step reached
    assert max(s for _t, s, _v in expected) < MAX_STEPS[run.fixture]
    assert max(u.step or 0 for u in updates) == MAX_STEPS[run.fixture]

    assert "`Trainer.fit` stopped" in (FIXTURES / "run_110steps" / "train.stderr").read_text()
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == "completed"
    assert exp.exit_code == 0
    assert not exp.error
    lines = [text for u in updates for text, _level in u.lines]
    assert "`Trainer.fit` stopped: `max_steps=110` reached." in lines

    ckpts = _checkpoint_names(manager, run.exp_id)
    assert set(ckpts) == {"best.ckpt", "epoch-epoch=0001.ckpt"}
    assert ckpts["best.ckpt"].is_best and not ckpts["epoch-epoch=0001.ckpt"].is_best
    assert all(c.size > 0 for c in ckpts.values())
    assert _status_file(run)["exit_code"] == 0
    assert wait_until(lambda: not group_members(run.pgid), 5)


def test_training_process_thread_emits_live_signals(qtbot, manager, replay):
    run = replay(fixture="run_110steps", duration=3.0)
    thread = TrainingProcess(manager, run.exp_id)
    metrics: list[dict] = []
    progress: list[dict] = []
    thread.metrics_received.connect(metrics.append)
    thread.progress_changed.connect(progress.append)
    try:
        with qtbot.waitSignal(thread.run_ended, timeout=int(FOLLOW_TIMEOUT_S * 1000)) as blocker:
            thread.start()
    finally:
        thread.stop_following()
        assert thread.wait(10_000)
    assert blocker.args == ["completed", "completed"]

    expected = fixture_points("run_110steps")
    got = [(name, step) for batch in metrics for name, pts in batch.items() for step, _ in pts]
    assert len(got) == len(set(got)) == len(expected)
    assert sorted(got) == [(t, s) for t, s, _v in expected]
    assert len(metrics) >= 2
    steps = [(p["step"], p["max_steps"]) for p in progress if p["step"] is not None]
    assert steps and steps[-1] == (110, 110)  # the completion line's max_steps reached
    assert [s for s, _t in steps] == sorted(s for s, _t in steps)
    assert progress and all(-1 <= p["percent"] <= 100 for p in progress)
    assert any(p["percent"] > 0 for p in progress)
    assert progress[-1]["percent"] == 100 and progress[-1]["eta"] in (None, 0)
    assert all(a != b for a, b in itertools.pairwise(progress))  # changes only
    assert manager.get_experiment(run.exp_id).status == "completed"
    assert stored_points(manager, run.exp_id) == expected


def test_failed_run_records_the_exception(manager, replay):
    run = replay(fixture="run_40steps", duration=2.0, fail=True)
    updates = follow_to_end(RunFollower(manager, run.exp_id), FOLLOW_TIMEOUT_S)
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == "failed"
    assert exp.error == FAIL_REASON
    assert exp.exit_code == 1
    assert updates[-1].message == FAIL_REASON
    assert (FAIL_REASON, "error") in [line for u in updates for line in u.lines]
    assert set(stored_points(manager, run.exp_id)) <= set(fixture_points("run_40steps"))


def test_stop_is_recorded_as_stopped_and_leaves_no_process(manager, replay):
    run = replay(fixture="run_110steps", duration=4.0, workers=2)
    # supervisor + replay + its 2 workers, all in the run's process group
    assert wait_until(lambda: len(group_members(run.pgid)) == 4, 5), group_members(run.pgid)
    follower = RunFollower(manager, run.exp_id)
    assert wait_until(lambda: follower.poll().step is not None, 5), "no progress before the stop"

    t0 = time.monotonic()
    status = Engine(manager, Settings()).stop(run.exp_id, interrupt_timeout=10, term_timeout=5)
    assert time.monotonic() - t0 < 8, "the graceful interrupt should have been enough"

    assert status == "stopped"
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == "stopped"  # not completed, although RAVE exits 0 on SIGINT
    assert exp.exit_code == 0
    assert group_members(run.pgid) == []
    st = _status_file(run)
    assert st["exit_code"] == 0 and "SIGINT" in st["signals"]
    log = run.launched.log_path.read_text(errors="replace")
    assert "Detected KeyboardInterrupt, attempting graceful shutdown..." in log
    assert "`Trainer.fit` stopped" not in log
    assert set(stored_points(manager, run.exp_id)) <= set(fixture_points("run_110steps"))


def test_stop_requested_while_a_thread_follows(qtbot, manager, replay):
    """The GUI's way: the run's TrainingProcess follows it, the user asks to stop, the thread
    records the outcome."""
    run = replay(fixture="run_110steps", duration=4.0, workers=2)
    thread = TrainingProcess(manager, run.exp_id)
    steps: list[int] = []
    thread.progress_changed.connect(
        lambda info: steps.append(info["step"]) if info["step"] is not None else None
    )
    try:
        with qtbot.waitSignal(thread.run_ended, timeout=int(FOLLOW_TIMEOUT_S * 1000)) as blocker:
            thread.start()
            qtbot.waitUntil(lambda: bool(steps), timeout=5000)  # a validation was followed
            assert Engine(manager, Settings()).request_stop(run.exp_id) == "stopping"
    finally:
        thread.stop_following()
        assert thread.wait(10_000)
    assert blocker.args == ["stopped", "stopped"]
    exp = manager.get_experiment(run.exp_id)
    assert (exp.status, exp.exit_code) == ("stopped", 0)
    assert wait_until(lambda: not group_members(run.pgid), 5), group_members(run.pgid)


def _states(pgid: int) -> set[str]:
    out = set()
    for pid in group_members(pgid):
        try:
            out.add(psutil.Process(pid).status())
        except psutil.NoSuchProcess:
            pass
    return out


def test_pause_and_resume(manager, replay):
    run = replay(fixture="run_40steps", duration=3.0, workers=1)
    engine = Engine(manager, Settings())
    follower = RunFollower(manager, run.exp_id)
    assert wait_until(lambda: follower.poll().progress is not None, 5)

    engine.pause(run.exp_id)
    assert manager.get_experiment(run.exp_id).status == "paused"
    assert wait_until(lambda: _states(run.pgid) == {psutil.STATUS_STOPPED}, 3), _states(run.pgid)
    assert len(group_members(run.pgid)) == 3  # supervisor, replay, worker
    size = run.launched.log_path.stat().st_size
    time.sleep(0.6)
    assert run.launched.log_path.stat().st_size == size, "a paused run writes nothing"
    upd = follower.poll()  # a paused run is alive: not finished
    assert not upd.finished
    assert manager.get_experiment(run.exp_id).status == "paused"

    engine.resume(run.exp_id)
    assert manager.get_experiment(run.exp_id).status == "running"
    assert wait_until(lambda: psutil.STATUS_STOPPED not in _states(run.pgid), 3)
    follow_to_end(follower, FOLLOW_TIMEOUT_S)
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == "completed"
    assert stored_points(manager, run.exp_id) == fixture_points("run_40steps")


def test_paused_run_can_be_stopped(manager, replay):
    run = replay(fixture="run_40steps", duration=3.0, workers=1)
    engine = Engine(manager, Settings())
    assert wait_until(lambda: len(group_members(run.pgid)) == 3, 5)
    engine.pause(run.exp_id)
    assert wait_until(lambda: _states(run.pgid) == {psutil.STATUS_STOPPED}, 3)
    assert engine.stop(run.exp_id, interrupt_timeout=10, term_timeout=5) == "stopped"
    assert group_members(run.pgid) == []
