"""The run queue: at most N runs at once; queued runs start when a slot frees."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from replay_helpers import fixtures_available, stop_all, wait_until, write_replay_rave

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.runs import engine as engine_mod
from rave_gui.backend.runs.engine import Engine
from rave_gui.backend.runs.follower import RunFollower
from rave_gui.backend.system.settings import Settings

RAVE = Path(sys.executable).with_name("rave")
pytestmark = pytest.mark.skipif(
    not (RAVE.exists() and fixtures_available()), reason="needs the RAVE command line + fixtures"
)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    db = tmp_path / "db"
    db.mkdir()
    (db / "metadata.yaml").write_text("channels: 1\nlazy: false\nn_seconds: 208.0\nsr: 44100\n")
    (db / "data.mdb").touch()
    return db


@pytest.fixture
def engine(tmp_path: Path):
    # The `rave` double replays a real captured run instead of training (see replay_run.py);
    # the runs' on-exit hooks (other processes) start queued runs with it too.
    rave = write_replay_rave(tmp_path / "bin", duration=1.5)
    tm = TrainingManager(tmp_path / "q.sqlite3")
    eng = Engine(tm, Settings(rave_executable=str(rave), max_concurrent_runs=1, use_launcher=False))
    yield eng
    stop_all(tm)
    tm.close()


def _follow_to_end(tm: TrainingManager, exp_id: int, timeout: float = 60) -> str:
    follower = RunFollower(tm, exp_id)
    deadline = time.monotonic() + timeout
    while not follower.poll().finished and time.monotonic() < deadline:
        time.sleep(0.1)
    return tm.get_experiment(exp_id).status


def test_second_run_waits_in_the_queue_until_the_first_ends(engine: Engine, dataset: Path):
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    first = engine.submit({**cfg, "name": "first"})
    second = engine.submit({**cfg, "name": "second"})
    tm = engine.manager
    assert tm.get_experiment(first).status == "running"
    assert tm.get_experiment(second).status == "queued"
    assert engine.schedule() == []  # no free slot yet
    assert _follow_to_end(tm, first) == "completed"
    # the slot is free: this schedule() or the first run's on-exit hook starts the second
    started = engine.schedule()
    assert wait_until(lambda: tm.get_experiment(second).status != "queued", 20)
    assert started in ([second], [])
    assert tm.get_experiment(second).status == "running"
    assert _follow_to_end(tm, second) == "completed"
    assert engine.schedule() == []  # it was started once


def test_a_larger_limit_runs_queued_runs_together(engine: Engine, dataset: Path):
    engine.settings.max_concurrent_runs = 2
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    ids = [engine.submit({**cfg, "name": f"run{i}"}) for i in range(3)]
    statuses = [engine.manager.get_experiment(i).status for i in ids]
    assert statuses == ["running", "running", "queued"]


def test_cancelling_a_queued_run_never_starts_it(engine: Engine, dataset: Path):
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    first = engine.submit({**cfg, "name": "first"})
    second = engine.submit({**cfg, "name": "second"})
    assert engine.request_stop(second) == "stopped"
    assert _follow_to_end(engine.manager, first) == "completed"
    assert engine.schedule() == []
    assert engine.manager.get_experiment(second).pid is None


def test_a_run_cancelled_while_it_is_being_started_is_not_left_running(
    engine: Engine, dataset: Path, monkeypatch: pytest.MonkeyPatch
):
    """The GUI schedules in the background: the user may cancel a queued run while a pass is
    starting it (the pre-flight and RAVE probe take time). The start is undone."""
    from rave_gui.backend.process.procinfo import is_alive

    tm = engine.manager
    real = engine_mod.preflight

    def cancel_after_preflight(settings, install):
        real(settings, install)
        for exp in tm.list_experiments(status="queued"):  # none yet during submit's check
            tm.stop_training(exp.id)

    monkeypatch.setattr(engine_mod, "preflight", cancel_after_preflight)
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    exp_id = engine.submit({**cfg, "name": "cancelled"}, start=False)
    assert engine.schedule() == []
    exp = tm.get_experiment(exp_id)
    assert exp.status == "stopped" and exp.error is None  # cancelled, not failed
    assert exp.pid is not None and not is_alive(exp.pid)  # started, then stopped


def test_preflight_problems_are_reported_before_anything_is_recorded(
    engine: Engine, tmp_path: Path
):
    from rave_gui.backend.errors import PreflightError

    with pytest.raises(PreflightError) as err:
        engine.submit(
            {"name": "bad", "dataset_path": str(tmp_path / "nope"), "configs": ["v9_unknown"]}
        )
    text = str(err.value)
    assert "does not exist" in text and "v9_unknown" in text
    assert engine.manager.list_experiments() == []


def test_resume_from_checkpoint_is_a_new_linked_run_that_keeps_the_original_files(
    engine: Engine, dataset: Path
):
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    first = engine.submit({**cfg, "name": "first"})
    tm = engine.manager
    assert _follow_to_end(tm, first) == "completed"
    originals = [Path(c.path) for c in tm.artifacts.checkpoints(first)]
    assert originals
    new = engine.resume_from_checkpoint(first)
    exp = tm.get_experiment(new)
    assert exp.name == "first-resume"
    assert exp.parent_id == first
    ckpt_dir = Path(exp.config["ckpt"])
    copied = list(ckpt_dir.rglob("*.ckpt"))
    assert len(copied) == 1 and ckpt_dir.is_relative_to(Path(exp.run_dir))
    assert Path(exp.config["resumed_from"]) in originals
    assert exp.status == "running"
    assert _follow_to_end(tm, new) == "completed"
    assert all(p.exists() for p in originals)  # RAVE deletes what it resumes from: a copy
    # the second resume gets the next free name
    assert tm.get_experiment(engine.resume_from_checkpoint(first, start=False)).name == (
        "first-resume2"
    )


def test_the_logging_interval_reaches_the_run_through_its_environment(
    engine: Engine, dataset: Path
):
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    exp_id = engine.submit({**cfg, "name": "logged", "log_every": 7})
    exp = engine.manager.get_experiment(exp_id)
    assert exp.config["log_every"] == 7
    environ = Path(f"/proc/{exp.pid}/environ").read_bytes().split(b"\0")
    assert b"RAVE_GUI_LOG_EVERY_N_STEPS=7" in environ  # read by the launcher
    assert _follow_to_end(engine.manager, exp_id) == "completed"


def test_resume_from_a_chosen_checkpoint_with_more_steps(engine: Engine, dataset: Path):
    from rave_gui.backend.errors import ValidationError

    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    first = engine.submit({**cfg, "name": "first"})
    tm = engine.manager
    assert _follow_to_end(tm, first) == "completed"
    best = next(c for c in tm.artifacts.checkpoints(first) if c.is_best)
    assert best.step is not None
    with pytest.raises(ValidationError, match=f"checkpoint is at step {best.step}"):
        engine.resume_from_checkpoint(first, checkpoint=best.path, max_steps=best.step)
    assert [e.id for e in tm.list_experiments()] == [first]  # nothing recorded
    new = engine.resume_from_checkpoint(first, checkpoint=best.path, max_steps=80, start=False)
    exp = tm.get_experiment(new)
    assert exp.config["max_steps"] == 80 and exp.config["start_step"] == best.step
    assert exp.config["resumed_from"] == best.path
    assert [p.name for p in Path(exp.config["ckpt"]).rglob("*.ckpt")] == ["best.ckpt"]


def test_resuming_a_live_run_is_refused(engine: Engine, dataset: Path):
    from rave_gui.backend.errors import ValidationError

    first = engine.submit({"dataset_path": str(dataset), "configs": ["v2_small"], "name": "a"})
    with pytest.raises(ValidationError, match="stop it before resuming"):
        engine.resume_from_checkpoint(first)


def test_train_argv_passes_the_checkpoint_and_every_setting():
    from rave_gui.backend.rave.command import RaveInstall, TrainSettings, train_argv

    install = RaveInstall(executable="/x/rave", python="/x/python", version="2.3.1", configs=())
    s = TrainSettings(
        name="n", dataset_path="/d", out_path="/o", configs=["v2", "causal"],
        overrides=["PHASE_1_DURATION = 100"], max_steps=10, val_every=5, save_every=5,
        batch=4, channels=2, gpu=0, workers=3, ema=0.999, ckpt="/runs/old",
    )  # fmt: skip
    argv = train_argv(s, install, use_launcher=False)
    assert argv[:2] == ["/x/rave", "train"]
    joined = " ".join(argv)
    for part in ("--config v2 --config causal", "--db_path /d", "--out_path /o", "--name n",
                 "--max_steps 10", "--val_every 5", "--save_every 5", "--batch 4",
                 "--channels 2", "--gpu 0", "--workers 3", "--ema 0.999",
                 "--override PHASE_1_DURATION = 100", "--ckpt /runs/old"):  # fmt: skip
        assert part in joined
    launcher = train_argv(s, install)
    assert launcher[0] == "/x/python" and launcher[1].endswith("launcher.py")
    assert launcher[2] == "train"


def test_a_config_known_not_to_build_is_refused_before_starting(engine: Engine, dataset: Path):
    from rave_gui.backend.errors import PreflightError

    assert "v2_nopqmf_small" not in [c.name for c in engine.install().base_configs()]
    with pytest.raises(PreflightError, match="does not build"):
        engine.submit({"name": "x", "dataset_path": str(dataset), "configs": ["v2_nopqmf_small"]})


def test_a_run_on_a_target_takes_no_local_slot(engine: Engine, dataset: Path):
    tm = engine.manager
    # a run live on a GPU server (its record as the remote engine keeps it)
    remote = tm.experiments.import_record(
        {"name": "on the cluster", "target": "cluster"}, status="running"
    )
    assert engine.live_count() == 0
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40, "val_every": 10}
    local = engine.submit({**cfg, "name": "here"})
    assert tm.get_experiment(local).status == "running"  # max_concurrent_runs=1 is this machine's
    assert engine.live_count() == 1
    assert _follow_to_end(tm, local) == "completed"
    tm.update_experiment_status(remote, "stopped")
