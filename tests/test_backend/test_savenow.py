"""Save a checkpoint now: SIGUSR1 goes to the launcher process under a run's supervisor (never
to the supervisor, which it would kill), only for a running run, and `rave-gui runs
checkpoint ID` says clearly when it cannot."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from rave_gui.backend.errors import ProcessError, ValidationError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process.procinfo import is_alive
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.runs.savenow import launcher_process
from rave_gui.backend.status import Action, allowed_actions

HELPERS = Path(__file__).resolve().parent
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from test_cli import fails, rave_gui_cli  # noqa: E402

# A stand-in for the launcher's train command: it handles SIGUSR1 as trainwatch.py does (a
# file instead of a checkpoint) and trains "forever".
STAND_IN = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    out = pathlib.Path(sys.argv[2])
    signal.signal(signal.SIGUSR1, lambda *a: out.write_text("saved"))
    print("ready", flush=True)
    while True:
        time.sleep(0.05)
    """
)


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def tm(tmp_path: Path):
    m = TrainingManager(tmp_path / "store.sqlite3")
    yield m
    m.close()


def _running(tm: TrainingManager, launched, tmp_path: Path, script_name: str) -> tuple[int, Path]:
    script = tmp_path / "bin" / script_name
    script.parent.mkdir()
    script.write_text(STAND_IN)
    marker = tmp_path / "saved.txt"
    run = launched([sys.executable, str(script), "train", str(marker)], tmp_path / "run")
    assert _wait(lambda: run.log_path.exists() and b"ready" in run.log_path.read_bytes())
    exp = tm.start_training({"name": "live"})
    tm.update_experiment_status(exp, "running")
    tm.register_process(exp, run.pid)
    return exp, marker


def test_the_signal_reaches_the_launcher_not_its_supervisor(tm, launched, tmp_path) -> None:
    exp, marker = _running(tm, launched, tmp_path, "launcher.py")
    supervisor = tm.get_experiment(exp).pid
    assert Action.SAVE_CHECKPOINT in allowed_actions("running", has_checkpoint=False)
    target = Engine(tm).save_checkpoint_now(exp)
    assert target != supervisor and target == launcher_process(supervisor)
    assert _wait(lambda: marker.exists()), "the launcher did not get SIGUSR1"
    assert is_alive(supervisor) and is_alive(target)  # neither died of the signal


def test_a_run_not_started_through_the_launcher_is_refused(tm, launched, tmp_path) -> None:
    exp, marker = _running(tm, launched, tmp_path, "plain_rave.py")
    with pytest.raises(ProcessError, match="not started through rave-gui's launcher"):
        Engine(tm).save_checkpoint_now(exp)
    time.sleep(0.3)
    assert not marker.exists()


def test_only_a_running_run_saves_a_checkpoint(tm) -> None:
    exp = tm.start_training({"name": "queued"})
    with pytest.raises(ValidationError, match="only a running run can save a checkpoint now"):
        Engine(tm).save_checkpoint_now(exp)
    assert Action.SAVE_CHECKPOINT not in allowed_actions("paused", has_checkpoint=True)


def test_cli_runs_checkpoint_of_a_run_that_is_not_running(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    tm = TrainingManager(db)
    try:
        exp = tm.start_training({"name": "done"})
        tm.update_experiment_status(exp, "running")
        tm.update_experiment_status(exp, "completed")
    finally:
        tm.close()
    proc = rave_gui_cli("runs", "checkpoint", str(exp), "--db", str(db))
    fails(proc, "'done' is completed; only a running run can save a checkpoint now")
    proc = rave_gui_cli("runs", "checkpoint", "999", "--db", str(db))
    assert proc.returncode == 1 and "rave-gui: error:" in proc.stderr


def test_cli_runs_checkpoint_signals_a_running_run(launched, tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    tm = TrainingManager(db)
    try:
        exp, marker = _running(tm, launched, tmp_path, "launcher.py")
    finally:
        tm.close()
    proc = rave_gui_cli("runs", "checkpoint", str(exp), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert f"experiment {exp}: a checkpoint will be saved at the next training step" in proc.stdout
    assert _wait(lambda: marker.exists()), "the launcher did not get SIGUSR1"
