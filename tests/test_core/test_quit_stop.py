"""Quit with "Stop the run": the window's follower lets go mid-run, the run is interrupted and
followed to its end by another follower (the controller's close). The run is recorded at the
step it really reached, stopped, without an alarming exit code."""

from __future__ import annotations

import re
import time
from pathlib import Path

from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.runs.outcome import exit_code_text, exit_line_shown
from rave_gui.backend.status import STOPPED
from rave_gui.backend.system.settings import Settings

TICK = re.compile(r"^rave-gui: step=(\d+)$", re.M)


def test_quit_and_stop_records_the_step_reached(manager, replay):
    run = replay(fixture="run_110steps", duration=8.0, tick_every=0.1)
    window = RunFollower(manager, run.exp_id)  # the window's follower, polling as the app does
    first: float | None = None  # when the first step was read
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (first is None or time.monotonic() - first < 3.0):
        window.poll()
        if first is None and window.step:
            first = time.monotonic()
        time.sleep(0.05)
    seen = window.step or 0  # shown by the window when the user quits (steps go on meanwhile)
    assert seen >= 20
    # what the window's follower read is stored with the step it reached: the next follower
    # starts from those offsets and would never read that step again
    assert manager.get_experiment(run.exp_id).summary.get("step") == seen
    window.close()  # the close: the follower threads let go first (after a poll of their own)
    engine = Engine(manager, Settings())
    engine.request_stop(run.exp_id, follow_ended=False)  # SIGINT to the group
    assert engine.stop(run.exp_id) == STOPPED
    exp = manager.get_experiment(run.exp_id)
    ticks = [int(s) for s in TICK.findall(Path(exp.log_path).read_text(encoding="utf-8"))]
    points = [m["last_step"] for m in exp.summary["metrics"].values()]
    reached = max(ticks + points)  # the last step the run wrote, as a line or as a point
    assert reached >= seen
    assert exp.summary["step"] >= seen  # what the window showed last
    assert exp.summary["step"] == reached  # not the step saved a poll or two before the close
    assert exp.error is None


def test_a_stopped_run_ends_without_an_alarming_code():
    line = "[rave-gui] process exited with code -2"
    assert exit_line_shown(line, "info", stopping=True) == (
        "The run stopped (ended by SIGINT).",
        "info",
    )
    assert exit_line_shown(line, "info", stopping=False)[0] == "The run stopped (ended by SIGINT)."
    assert exit_line_shown("[rave-gui] process exited with code 0", "info", True) == (
        "The run stopped.",
        "info",
    )
    # a crash keeps its code: it is the clue
    assert exit_line_shown("[rave-gui] process exited with code -9", "info", False)[0] == (
        "[rave-gui] process exited with code -9"
    )
    assert exit_code_text(-2, STOPPED) == "-2 (ended by SIGINT: the run was stopped)"
    assert exit_code_text(-9, "failed") == "-9 (killed by SIGKILL)"
    assert exit_code_text(None, STOPPED) == "-"
    assert exit_code_text(1, "failed") == "1"


def test_the_log_read_again_shows_the_stop_as_the_live_view_did(tmp_path):
    from rave_gui.backend.process.logtail import tail_lines

    log = tmp_path / "train.log"
    log.write_text(
        "Detected KeyboardInterrupt, attempting graceful shutdown...\n"
        "[rave-gui] process exited with code -2\n"
    )
    assert tail_lines(log)[-1] == ("The run stopped (ended by SIGINT).", "info")


def test_the_windows_quit_and_stop_records_what_the_window_showed(qtbot, manager, replay):
    """The real close: the controller's follower thread shows the run's progress, then
    shutdown(stop_runs=True) lets the thread go, interrupts the run and follows it to its end."""
    from rave_gui.core.controller import RunController
    from rave_gui.core.signals import AppSignals

    run = replay(fixture="run_110steps", duration=8.0, tick_every=0.1)
    signals = AppSignals()
    controller = RunController(manager, signals, Settings())
    shown: list[int] = []
    signals.run_progress.connect(lambda i, info: shown.append(info.get("step") or 0))
    stopped: list[str] = []
    signals.run_stopped.connect(lambda i, msg: stopped.append(msg))
    try:
        controller.follow(run.exp_id)
        qtbot.waitUntil(lambda: bool(shown) and shown[-1] >= 30, timeout=30_000)
    finally:
        controller.shutdown(True)
    exp = manager.get_experiment(run.exp_id)
    assert exp.status == STOPPED and exp.error is None
    ticks = [int(s) for s in TICK.findall(Path(exp.log_path).read_text(encoding="utf-8"))]
    points = [m["last_step"] for m in exp.summary["metrics"].values()]
    assert exp.summary["step"] == max(ticks + points) >= max(shown)
