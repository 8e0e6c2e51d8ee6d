"""The run queue: at most N runs at once; queued runs start when a slot frees."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from replay_helpers import fixtures_available, kill_group, replay_argv

from rave_gui.backend import engine as engine_mod
from rave_gui.backend.engine import Engine
from rave_gui.backend.follower import RunFollower
from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.settings import Settings

RAVE = Path(sys.executable).with_name("rave")
pytestmark = pytest.mark.skipif(
    not (RAVE.exists() and fixtures_available()), reason="needs the RAVE command line + fixtures"
)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    db = tmp_path / "db"
    db.mkdir()
    (db / "metadata.yaml").write_text("channels: 1\nlazy: false\nn_seconds: 208.0\nsr: 44100\n")
    return db


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The process double replays a real captured run instead of training (see replay_run.py).
    def fake_argv(settings, _install, use_launcher=True):
        return replay_argv("run_40steps", settings.out_path, name=settings.name, duration=1.5)

    monkeypatch.setattr(engine_mod, "train_argv", fake_argv)
    tm = TrainingManager(tmp_path / "q.sqlite3")
    eng = Engine(tm, Settings(rave_executable=str(RAVE), max_concurrent_runs=1))
    yield eng
    for exp in tm.list_experiments():
        if exp["pid"]:
            kill_group(exp["pid"])
    tm.close()


def _follow_to_end(tm: TrainingManager, exp_id: int, timeout: float = 60) -> str:
    follower = RunFollower(tm, exp_id)
    deadline = time.monotonic() + timeout
    while not follower.poll().finished and time.monotonic() < deadline:
        time.sleep(0.1)
    return tm.get_experiment(exp_id)["status"]


def test_second_run_waits_in_the_queue_until_the_first_ends(engine: Engine, dataset: Path):
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40}
    first = engine.submit({**cfg, "name": "first"})
    second = engine.submit({**cfg, "name": "second"})
    tm = engine.manager
    assert tm.get_experiment(first)["status"] == "running"
    assert tm.get_experiment(second)["status"] == "queued"
    assert engine.schedule() == []  # no free slot yet
    assert _follow_to_end(tm, first) == "completed"
    assert engine.schedule() == [second]
    assert tm.get_experiment(second)["status"] == "running"
    assert _follow_to_end(tm, second) == "completed"


def test_a_larger_limit_runs_queued_runs_together(engine: Engine, dataset: Path):
    engine.settings.max_concurrent_runs = 2
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40}
    ids = [engine.submit({**cfg, "name": f"run{i}"}) for i in range(3)]
    statuses = [engine.manager.get_experiment(i)["status"] for i in ids]
    assert statuses == ["running", "running", "queued"]


def test_cancelling_a_queued_run_never_starts_it(engine: Engine, dataset: Path):
    cfg = {"dataset_path": str(dataset), "configs": ["v2_small"], "max_steps": 40}
    first = engine.submit({**cfg, "name": "first"})
    second = engine.submit({**cfg, "name": "second"})
    assert engine.request_stop(second) == "stopped"
    assert _follow_to_end(engine.manager, first) == "completed"
    assert engine.schedule() == []
    assert engine.manager.get_experiment(second)["pid"] is None


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
