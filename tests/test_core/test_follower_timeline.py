"""A run's step and pace come from what the run itself wrote: other trainers' step lines, and
the wall times of its points rather than the moment a follower read them."""

from __future__ import annotations

from pathlib import Path

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs.follower import RunFollower


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
    assert upd.lines == [("Training step: 5000", "info"), ("Epoch: 10 completed", "info")]
