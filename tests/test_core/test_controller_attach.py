"""RunController.attach_existing at app start: live runs are followed again, runs that ended
while the app was closed get their real outcome, and the GUI thread never blocks on it."""

from __future__ import annotations

from pathlib import Path

from replay_helpers import wait_until

from rave_gui.backend.process.procinfo import is_alive
from rave_gui.backend.system.settings import Settings
from rave_gui.core.controller import RunController
from rave_gui.core.process import TrainingProcess
from rave_gui.core.signals import AppSignals


def test_attach_existing_follows_live_runs_and_records_ended_ones(
    qtbot, manager, replay, runs_dir: Path
) -> None:
    ended = replay(fixture="run_40steps", name="ended", duration=0.5)
    assert wait_until(lambda: not is_alive(ended.pgid), 30)
    live = replay(fixture="run_110steps", name="live", duration=6.0)
    assert manager.get_experiment(ended.exp_id).status == "running"  # nobody followed it

    signals = AppSignals()
    controller = RunController(manager, signals, Settings(runs_dir=str(runs_dir)))
    started: list[int] = []
    signals.run_started.connect(started.append)
    statuses: list[tuple[int, str]] = []
    signals.run_status_changed.connect(lambda i, st: statuses.append((i, st)))
    try:
        controller.attach_existing()  # returns at once; the work is done in the background
        qtbot.waitUntil(lambda: live.exp_id in started, timeout=30_000)
        assert (ended.exp_id, "completed") in statuses
        assert manager.get_experiment(ended.exp_id).status == "completed"
        assert live.exp_id in controller.threads
        with qtbot.waitSignal(signals.run_completed, timeout=60_000) as done:
            pass
        assert done.args[0] == live.exp_id
        assert manager.get_experiment(live.exp_id).status == "completed"
    finally:
        controller.shutdown(False)


def test_a_run_that_cannot_be_followed_says_why_and_does_not_end(qtbot, manager) -> None:
    thread = TrainingProcess(manager, 9999)  # no such experiment (deleted meanwhile...)
    ended: list[tuple[str, str]] = []
    thread.run_ended.connect(lambda status, msg: ended.append((status, msg)))
    with qtbot.waitSignal(thread.following_failed, timeout=10_000) as failed:
        thread.start()
    assert thread.wait(5000)
    assert failed.args == ["There is no experiment with id 9999."]
    assert ended == []


def test_the_controller_lets_go_of_a_run_it_cannot_follow(qtbot, manager, runs_dir: Path) -> None:
    signals = AppSignals()
    controller = RunController(manager, signals, Settings(runs_dir=str(runs_dir)))
    told: list[tuple] = []
    for sig in (signals.run_completed, signals.run_stopped, signals.run_failed):
        sig.connect(lambda i, msg: told.append((i, msg)))
    signals.run_status_changed.connect(lambda i, st: told.append((i, st)))
    try:
        controller.follow(9999)
        assert 9999 in controller.threads
        qtbot.waitUntil(lambda: 9999 not in controller.threads, timeout=10_000)
        assert told == []  # no status, no end announced for a run that is not there
    finally:
        controller.shutdown(False)
