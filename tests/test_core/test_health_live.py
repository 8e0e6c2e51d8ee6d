"""The health rules evaluated live by the RunFollower, on a replayed real `rave train` run."""

from __future__ import annotations

from replay_helpers import follow_to_end

from rave_gui.backend.runs.follower import HEALTH_KEY, RunFollower
from rave_gui.backend.runs.health import ADVICE, HealthThresholds

FOLLOW_TIMEOUT_S = 30.0


def test_a_healthy_replayed_run_raises_no_alert_and_keeps_the_rules_state(manager, replay):
    run = replay(fixture="run_110steps", duration=3.0)
    follower = RunFollower(manager, run.exp_id)
    updates = follow_to_end(follower, FOLLOW_TIMEOUT_S)
    assert updates[-1].status == "completed"
    assert manager.alerts.for_run(run.exp_id) == []
    assert [a for u in updates for a in u.alerts] == []
    state = manager.get_experiment(run.exp_id).summary[HEALTH_KEY]
    assert state["val_first"] is not None and state["last_step"] >= 100  # every point was seen


def test_a_live_run_without_new_steps_is_reported_stalled_once(manager, replay):
    """With a stalled threshold of 0.6 s, the real capture's pauses between scalars (every 50
    steps) count as stalled: the alert is stored with its advice and reported by the poll."""
    run = replay(fixture="run_110steps", duration=4.0)
    follower = RunFollower(manager, run.exp_id, HealthThresholds(stalled_minutes=0.01))
    updates = follow_to_end(follower, FOLLOW_TIMEOUT_S)
    stored = manager.alerts.for_run(run.exp_id)
    stalled = [a for a in stored if a.kind == "stalled"]
    assert stalled, stored
    assert stalled[0].severity == "warning" and stalled[0].advice == ADVICE["stalled"]
    reported = [a.kind for u in updates for a in u.alerts]
    assert reported.count("stalled") == len(stalled)
    # one per episode: a new stalled alert only after a new step (never twice at one step)
    steps = [a.step for a in stalled]
    assert len(steps) == len(set(steps))


def test_training_process_emits_the_alerts_with_the_saved_thresholds(qtbot, manager, replay):
    """The app's way: the thresholds come from the saved settings; the thread emits each
    alert it stored (what AppSignals.run_alerts carries to the run panel)."""
    from rave_gui.backend.system.settings import Settings, save_settings
    from rave_gui.core.process import TrainingProcess

    save_settings(Settings(health_stalled_minutes=0.01))  # the test's private data folder
    run = replay(fixture="run_110steps", duration=4.0)
    thread = TrainingProcess(manager, run.exp_id)
    raised: list[list] = []
    thread.alerts_raised.connect(raised.append)
    try:
        with qtbot.waitSignal(thread.run_ended, timeout=int(FOLLOW_TIMEOUT_S * 1000)):
            thread.start()
    finally:
        thread.stop_following()
        assert thread.wait(10_000)
    emitted = [a for batch in raised for a in batch]
    assert emitted and {a["kind"] for a in emitted} == {"stalled"}
    assert set(emitted[0]) == {"kind", "severity", "step", "message", "advice"}
    stored = manager.alerts.for_run(run.exp_id)
    assert [a.message for a in stored] == [a["message"] for a in emitted]
