"""A tracker never mixes or drops a run's data.

- Every run gets a folder of its own, never reused, marked with its identity: two databases
  sharing a runs folder, or a new run named like a deleted one, never read each other's files.
- Stopping a run that already ended while nobody followed it records what happened (completed
  stays completed) with every point it wrote.

Real SQLite files, real folders, real processes: the replay double plays captured `rave train`
runs; the command line runs as a separate process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from replay_helpers import (
    fixture_points,
    fixtures_available,
    follow_to_end,
    kill_group,
    replay_argv,
    stored_points,
    wait_until,
)

from rave_gui.backend.errors import ProcessError
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process import runner
from rave_gui.backend.process.procinfo import group_members
from rave_gui.backend.rave.runfolder import IDENTITY_NAME, UID_KEY, create_run_folder, read_identity
from rave_gui.backend.runs import engine as engine_mod
from rave_gui.backend.runs.engine import Engine, import_run
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.runs.reconcile import reconcile
from rave_gui.backend.system.settings import Settings

REPO = Path(__file__).resolve().parents[2]
RAVE = Path(sys.executable).with_name("rave")
FIXTURE_FOR = {40: "run_40steps", 110: "run_110steps"}  # max steps -> the capture replayed
pytestmark = pytest.mark.skipif(
    not fixtures_available(), reason="the captured RAVE runs (shared/fixtures/rave) are not here"
)
needs_rave = pytest.mark.skipif(not RAVE.exists(), reason="pre-flight needs the RAVE command line")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    db = tmp_path / "dataset"
    db.mkdir()
    (db / "metadata.yaml").write_text("channels: 1\nlazy: false\nn_seconds: 208.0\nsr: 44100\n")
    (db / "data.mdb").write_bytes(b"")
    return db


@pytest.fixture
def make_engine(monkeypatch: pytest.MonkeyPatch):
    """Engines on databases of their own, started runs replaying a capture instead of
    training (the one with as many steps as asked); every process is gone afterwards."""

    def fake_argv(settings, _install, use_launcher=True):
        fixture = FIXTURE_FOR[settings.max_steps]
        return replay_argv(fixture, settings.out_path, name=settings.name, duration=1.5)

    monkeypatch.setattr(engine_mod, "train_argv", fake_argv)
    engines: list[Engine] = []

    def make(db: Path, runs_dir: Path) -> Engine:
        eng = Engine(
            TrainingManager(db), Settings(rave_executable=str(RAVE), runs_dir=str(runs_dir))
        )
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        for exp in eng.manager.list_experiments():
            if exp.pid:
                kill_group(exp.pid)
        eng.manager.close()


def _train(eng: Engine, dataset: Path, name: str, max_steps: int) -> tuple[int, list]:
    """`rave-gui train --name NAME --max-steps N --wait`: submit, then follow to the end."""
    exp_id = eng.submit(
        {"name": name, "dataset_path": str(dataset), "configs": ["v2_small"],
         "max_steps": max_steps, "val_every": 10}
    )  # fmt: skip
    return exp_id, follow_to_end(RunFollower(eng.manager, exp_id), 60)


def _steps(updates: list) -> list[int]:
    return [u.step for u in updates if u.step is not None]


# --- 1. a run folder is never shared ---------------------------------------------------------


@needs_rave
def test_two_databases_sharing_the_runs_folder_never_mix_runs_of_the_same_name(
    tmp_path: Path, dataset: Path, make_engine
) -> None:
    runs = tmp_path / "runs"  # the default runs folder both databases use
    x = make_engine(tmp_path / "x.db", runs)
    y = make_engine(tmp_path / "y.db", runs)
    long_id, _ = _train(x, dataset, "demo", 110)
    short_id, updates = _train(y, dataset, "demo", 40)
    assert long_id == short_id == 1  # the same id and name: the same folder before the fix

    long, short = x.manager.get_experiment(long_id), y.manager.get_experiment(short_id)
    assert (long.status, short.status) == ("completed", "completed")
    assert max(_steps(updates)) == 40  # never "step 110/40"
    assert short.summary["step"] == 40
    assert stored_points(y.manager, short_id) == fixture_points("run_40steps")
    assert stored_points(x.manager, long_id) == fixture_points("run_110steps")
    assert long.run_dir != short.run_dir
    for eng, exp in ((x, long), (y, short)):
        ident = read_identity(exp.run_dir)
        assert ident is not None
        assert ident["run_uid"] == exp.config[UID_KEY]
        assert ident["database"] == str(eng.manager.db.path.resolve())
        assert Path(exp.run_dir).parent == runs
        assert Path(exp.run_dir).name.startswith("1-demo-")


@needs_rave
def test_a_new_run_named_like_a_deleted_one_gets_a_new_id_and_folder(
    tmp_path: Path, dataset: Path, make_engine
) -> None:
    eng = make_engine(tmp_path / "x.db", tmp_path / "runs")
    _train(eng, dataset, "first", 40)
    old_id, _ = _train(eng, dataset, "demo", 110)
    old = eng.manager.get_experiment(old_id)
    old_log = Path(old.log_path).read_bytes()
    eng.manager.experiments.delete(old_id)  # the newest: its id was given again before the fix

    new_id, updates = _train(eng, dataset, "demo", 40)
    assert new_id == old_id + 1
    new = eng.manager.get_experiment(new_id)
    assert new.status == "completed"
    assert new.run_dir != old.run_dir
    assert max(_steps(updates)) == 40
    assert stored_points(eng.manager, new_id) == fixture_points("run_40steps")
    assert Path(old.log_path).read_bytes() == old_log  # the deleted run's files untouched


def test_launch_refuses_the_folder_of_another_run_and_keeps_its_status_file(
    tmp_path: Path,
) -> None:
    folder, uid = create_run_folder(tmp_path / "runs", 1, "demo", database=tmp_path / "x.db")
    status = folder / f"train.{runner.STATUS_NAME}"
    status.write_text('{"state": "exited", "exit_code": 0}')
    argv = [sys.executable, "-c", "pass"]
    for other in ("0123456789abcdef", None):  # another run's uid; a run with no identity
        with pytest.raises(ProcessError, match="belongs to experiment 1 of the database"):
            runner.launch(argv, folder, run_uid=other)
    assert status.read_text() == '{"state": "exited", "exit_code": 0}'
    assert not (folder / "train.log").exists()  # nothing started there
    assert read_identity(folder)["run_uid"] == uid


def test_create_run_folder_never_reuses_a_folder(tmp_path: Path) -> None:
    folders = {create_run_folder(tmp_path, 1, "same name", database=None)[0] for _ in range(50)}
    assert len(folders) == 50
    for f in folders:
        assert f.name.startswith("1-same_name-") and len(f.name) == len("1-same_name-") + 6
        assert (f / IDENTITY_NAME).exists()


@pytest.mark.parametrize("how", ["another run's folder", "identity file removed"])
def test_follower_refuses_files_that_are_not_its_run(manager, replay, how: str) -> None:
    """An experiment whose folder holds another run's files is recorded failed, saying so,
    and nothing of those files is stored for it; the other run keeps everything."""
    other = replay(fixture="run_110steps", name="other", duration=1.0)
    follow_to_end(RunFollower(manager, other.exp_id), 30)
    theirs = stored_points(manager, other.exp_id)
    assert theirs == fixture_points("run_110steps")

    exp_id = manager.start_training({"name": "mine", "max_steps": 40, UID_KEY: "f" * 32})
    manager.experiments.update(
        exp_id,
        run_dir=str(other.run_dir),
        log_path=str(other.launched.log_path),
        pid=other.pgid,  # gone, like the run's own process would be
        process_start_time=other.launched.start_time,
    )
    manager.update_experiment_status(exp_id, "running")
    if how == "identity file removed":
        (other.run_dir / IDENTITY_NAME).unlink()

    alive, ended = reconcile(manager)
    assert (alive, ended) == ([], [exp_id])
    exp = manager.get_experiment(exp_id)
    assert exp.status == "failed"
    assert str(other.run_dir) in exp.error
    assert ("belongs to experiment" if how.startswith("another") else IDENTITY_NAME) in exp.error
    assert stored_points(manager, exp_id) == []
    assert manager.follow_state.offsets(exp_id) == {}
    assert stored_points(manager, other.exp_id) == theirs


def test_importing_a_rave_gui_run_folder_adopts_its_identity(tmp_path, manager, replay) -> None:
    run = replay(fixture="run_40steps", duration=1.0)
    follow_to_end(RunFollower(manager, run.exp_id), 30)
    other = TrainingManager(tmp_path / "other.db")
    try:
        exp_id = import_run(other, run.run_dir)
        exp = other.get_experiment(exp_id)
        assert exp.config[UID_KEY] == manager.get_experiment(run.exp_id).config[UID_KEY]
        assert exp.status == "completed"
        follow_to_end(RunFollower(other, exp_id), 5)  # following it refuses nothing
        assert other.get_experiment(exp_id).status == "completed"
        assert stored_points(other, exp_id) == fixture_points("run_40steps")
    finally:
        other.close()


# --- 2. stopping a run that ended unwatched ---------------------------------------------------


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "rave_gui", *args, "--db", str(db)],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=env,
    )  # fmt: skip


def _ended_unwatched(manager, replay):
    run = replay(fixture="run_110steps", duration=1.0)
    assert wait_until(lambda: not group_members(run.pgid), 15)
    assert runner.read_status(run.launched.status_path)["exit_code"] == 0
    assert manager.get_experiment(run.exp_id).status == "running"  # nobody noticed
    assert stored_points(manager, run.exp_id) == []
    return run


@pytest.mark.parametrize("no_wait", [True, False], ids=["--no-wait", "wait"])
def test_stopping_a_run_that_completed_unwatched_records_it_completed_with_every_point(
    db_path, manager, replay, no_wait: bool
) -> None:
    run = _ended_unwatched(manager, replay)
    args = ["runs", "stop", str(run.exp_id)] + (["--no-wait"] if no_wait else [])
    out = _cli(*args, db=db_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"experiment {run.exp_id} completed\n"
    exp = manager.get_experiment(run.exp_id)
    assert (exp.status, exp.exit_code, exp.error) == ("completed", 0, None)
    assert stored_points(manager, run.exp_id) == fixture_points("run_110steps")  # all 46
    assert {Path(c.path).name for c in manager.artifacts.checkpoints(run.exp_id)} == {
        "best.ckpt",
        "epoch-epoch=0001.ckpt",
    }
    assert reconcile(manager) == ([], [])  # nothing left for a later start to do


def test_a_stop_request_leaves_an_ended_run_to_the_follower_that_follows_it(
    manager, replay
) -> None:
    """The GUI's way: a thread follows the run, so the stop request (on the GUI thread) only
    signals a live process; the follower records what happened, from the files."""
    run = _ended_unwatched(manager, replay)
    engine = Engine(manager, Settings())
    assert engine.request_stop(run.exp_id, follow_ended=False) == "running"
    assert manager.get_experiment(run.exp_id).status == "running"
    follow_to_end(RunFollower(manager, run.exp_id), 30)
    assert manager.get_experiment(run.exp_id).status == "completed"
    assert stored_points(manager, run.exp_id) == fixture_points("run_110steps")


def test_request_stop_of_a_live_run_still_interrupts_it(manager, replay) -> None:
    """Only a live process is signalled and marked stopping; the follower records stopped."""
    run = replay(fixture="run_110steps", duration=6.0)
    log = run.launched.log_path
    assert wait_until(lambda: log.exists() and b"Epoch" in log.read_bytes(), 10)
    assert manager.stop_training(run.exp_id) == "stopping"
    follow_to_end(RunFollower(manager, run.exp_id), 30)
    exp = manager.get_experiment(run.exp_id)
    assert (exp.status, exp.exit_code) == ("stopped", 0)


def test_reconcile_recovers_the_points_of_a_run_recorded_ended_before_they_were_read(
    manager, replay
) -> None:
    """What `runs stop --no-wait` recorded before the fix (stopped, no point stored): a later
    start reads the run's files and stores every point; the outcome stays as recorded."""
    run = _ended_unwatched(manager, replay)
    time.sleep(0.05)
    manager.update_experiment_status(
        run.exp_id, "stopped", error="its process was no longer running"
    )
    alive, ended = reconcile(manager)
    assert (alive, ended) == ([], [run.exp_id])
    assert stored_points(manager, run.exp_id) == fixture_points("run_110steps")
    assert manager.get_experiment(run.exp_id).summary["step"] >= 101
    assert manager.get_experiment(run.exp_id).status == "stopped"
    assert reconcile(manager) == ([], [])  # read once and for all


def test_an_old_ended_run_in_a_shared_folder_does_not_read_what_was_written_after_it(
    manager, runs_dir
) -> None:
    """A run recorded before identity files, ended, whose old-style folder was written to
    after its end (another database's run of the same id and name): nothing of it is read."""
    folder = runs_dir / "1-demo"
    folder.mkdir()
    log = folder / "train.log"
    log.write_bytes(b"")
    exp_id = manager.start_training({"name": "demo", "max_steps": 40})
    manager.experiments.update(exp_id, run_dir=str(folder), log_path=str(log))
    manager.update_experiment_status(exp_id, "stopped")
    later = time.time() + 10
    log.write_bytes(b"Epoch 0: 10/10 another run's progress\n" * 10)
    os.utime(log, (later, later))
    assert reconcile(manager) == ([], [])
    assert manager.follow_state.offset(exp_id) is None
    upd = RunFollower(manager, exp_id).poll()
    assert upd.finished and upd.lines == []
