"""A run's step, epoch and pace come from what the run itself wrote: other trainers' step lines, and
the wall times of its points rather than the moment a follower read them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import process_start_time
from rave_gui.backend.rave.eventproto import ScalarPoint
from rave_gui.backend.rave.tfevents import EVENT_FILE_PREFIX, write_scalar_events
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.core.process import TrainingProcess


def _ended_run(manager: TrainingManager, runs_dir: Path, log_text: bytes, max_steps: int) -> int:
    folder = runs_dir / "1-demo"
    folder.mkdir()
    log = folder / "train.log"
    log.write_bytes(log_text)
    exp_id = manager.start_training({"name": "demo", "max_steps": max_steps})
    manager.experiments.update(exp_id, run_dir=str(folder), log_path=str(log))
    manager.update_experiment_status(exp_id, "stopped")
    return exp_id


def test_another_trainers_step_line_sets_the_step_and_the_progress(
    manager: TrainingManager, runs_dir: Path
) -> None:
    text = b"Training step: 5000\nEpoch: 10 completed\n"
    exp_id = _ended_run(manager, runs_dir, text, max_steps=10_000)
    upd = RunFollower(manager, exp_id).poll()
    assert (upd.step, upd.max_steps) == (5000, 10_000)  # 50 % of the run
    assert upd.epoch == 10
    assert upd.lines == [("Training step: 5000", "info"), ("Epoch: 10 completed", "info")]


def _points(start: float, steps: range) -> list[ScalarPoint]:
    return [ScalarPoint("loss", s, 1.0 / s, start + s) for s in steps]  # one step a second


def test_a_run_caught_up_after_a_restart_has_the_pace_it_ran_at(
    manager: TrainingManager, runs_dir: Path
) -> None:
    """The run wrote 100 steps over 100 s before this follower existed: read in one burst,
    its pace is still about a step a second, not hundreds."""
    ticks = b"".join(b"rave-gui: step=%d\n" % s for s in range(1, 101))
    exp_id = _ended_run(manager, runs_dir, ticks, max_steps=1000)
    version = runs_dir / "1-demo" / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    start = time.time() - 101
    write_scalar_events(version / (EVENT_FILE_PREFIX + "demo"), _points(start, range(1, 101)))
    follower = RunFollower(manager, exp_id)
    upd = follower.poll()
    assert upd.step == 100
    rate = follower.rate()
    assert rate is not None and 0.9 < rate < 1.1


def test_steps_read_in_one_burst_without_times_give_no_pace_rather_than_a_wrong_one(
    manager: TrainingManager, runs_dir: Path
) -> None:
    ticks = b"".join(b"rave-gui: step=%d\n" % s for s in range(1, 101))
    exp_id = _ended_run(manager, runs_dir, ticks, max_steps=1000)
    follower = RunFollower(manager, exp_id)
    upd = follower.poll()
    assert upd.step == 100
    assert follower.rate() is None  # all 100 steps were known at one moment: no pace yet


def test_after_a_caught_up_burst_the_live_pace_is_measured_from_the_poll_that_read_it(
    manager: TrainingManager, runs_dir: Path
) -> None:
    """The reported case: reopened on a live run, 100 steps read at once; the next step comes
    0.5 s later. The pace is about 2 steps/s, not the 200 the burst would make it."""
    folder = runs_dir / "1-demo"
    folder.mkdir()
    log = folder / "train.log"
    log.write_bytes(b"".join(b"rave-gui: step=%d\n" % s for s in range(1, 101)))
    exp_id = manager.start_training({"name": "demo", "max_steps": 1000})
    pid = os.getpid()  # a live process stands for the run's
    manager.experiments.update(
        exp_id,
        run_dir=str(folder),
        log_path=str(log),
        pid=pid,
        process_start_time=process_start_time(pid),
    )
    manager.update_experiment_status(exp_id, "running")
    follower = RunFollower(manager, exp_id)
    assert follower.poll().step == 100
    time.sleep(0.5)
    with open(log, "ab") as f:
        f.write(b"rave-gui: step=101\n")
    upd = follower.poll()
    assert upd.step == 101 and not upd.finished
    assert upd.rate is not None and 1.0 < upd.rate < 2.2


def test_the_apps_progress_carries_the_step_percent_and_epoch_of_such_lines(
    qapp, manager: TrainingManager, runs_dir: Path
) -> None:
    text = b"Training step: 5000\nEpoch: 10 completed\n"
    exp_id = _ended_run(manager, runs_dir, text, max_steps=10_000)
    upd = RunFollower(manager, exp_id).poll()
    thread = TrainingProcess(manager, exp_id)
    infos: list[dict] = []
    thread.progress_changed.connect(infos.append)
    thread._emit(upd)  # what the thread does with each poll's update
    assert [(i["step"], i["percent"], i["epoch"]) for i in infos] == [(5000, 50, 10)]
