"""End to end: real `rave train` runs on CPU through the Engine and a TrainingProcess thread."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.system.settings import Settings
from rave_gui.core.process import TrainingProcess

pytestmark = pytest.mark.e2e

LOSS_TERMS = ("fullband_spectral_distance", "multiband_spectral_distance", "regularization")


def _config(name: str, dataset: Path, out: Path, max_steps: int, val_every: int) -> dict:
    return {
        "name": name,
        "dataset_path": str(dataset),
        "configs": ["v2_small"],
        "max_steps": max_steps,
        "val_every": val_every,
        "batch": 2,
        "workers": 0,
        "gpu": -1,
        "out_path": str(out),
    }


@pytest.fixture
def engine(tmp_path: Path, rave_executable: str, monkeypatch: pytest.MonkeyPatch):
    # RAVE logs its loss terms every 50 steps (Lightning's default); a short run needs more.
    monkeypatch.setenv("RAVE_GUI_LOG_EVERY_N_STEPS", "10")
    tm = TrainingManager(tmp_path / "runs.sqlite3")
    eng = Engine(tm, Settings(rave_executable=rave_executable))
    yield eng
    for exp in tm.list_experiments(status=["running", "paused", "stopping"]):
        eng.stop(exp.id, interrupt_timeout=10, term_timeout=5)
    tm.close()


def test_real_training_run_stores_validation_losses_lr_and_checkpoints(
    engine: Engine, rave_dataset: Path, tmp_path: Path, qtbot
) -> None:
    tm = engine.manager
    exp_id = engine.submit(_config("e2e", rave_dataset, tmp_path / "runs", 60, 20))
    assert tm.get_experiment(exp_id).status == "running"
    thread = TrainingProcess(tm, exp_id)
    steps: list[int] = []
    thread.progress_changed.connect(
        lambda info: steps.append(info["step"]) if info["step"] is not None else None
    )
    with qtbot.waitSignal(thread.run_ended, timeout=900_000) as blocker:
        thread.start()
    thread.wait(10_000)
    status, message = blocker.args
    exp = tm.get_experiment(exp_id)
    assert (status, exp.status) == ("completed", "completed"), (message, exp.error)
    names = set(tm.metrics.names(exp_id))
    assert "validation" in names
    assert "lr_generator" in names
    assert set(LOSS_TERMS) <= names
    validation = [s for n, s, _v, _w in tm.metrics.iter_points(exp_id, "validation")]
    assert len(validation) >= 2 and all(s > 0 for s in validation)  # real global steps
    lr = [v for _n, _s, v, _w in tm.metrics.iter_points(exp_id, "lr_generator")]
    assert lr and all(0.99e-4 <= v <= 1.01e-3 for v in lr)  # float32 in the event file
    assert tm.artifacts.checkpoints(exp_id), "no checkpoint recorded"
    assert steps and max(steps) >= 40
    assert exp.exit_code == 0


def test_real_run_stopped_midway_is_stopped_and_leaves_no_process(
    engine: Engine, rave_dataset: Path, tmp_path: Path
) -> None:
    tm = engine.manager
    exp_id = engine.submit(_config("e2e-stop", rave_dataset, tmp_path / "runs", 100_000, 5000))
    exp = tm.get_experiment(exp_id)
    log = Path(exp.log_path)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until training really runs
        if log.exists() and b"Epoch 0:" in log.read_bytes():
            break
        time.sleep(1)
    else:
        pytest.fail("training did not start within 5 minutes")
    status = engine.stop(exp_id, interrupt_timeout=60, term_timeout=10)
    exp = tm.get_experiment(exp_id)
    assert status == "stopped", exp.error
    assert exp.status == "stopped"
    assert group_members(exp.pid) == []
    assert b"Detected KeyboardInterrupt" in log.read_bytes()
