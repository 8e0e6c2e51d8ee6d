"""Fixtures for the engine tests that replay real captured `rave train` runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_helpers import (
    ReplayRun,
    fixtures_available,
    kill_group,
    start_replay_experiment,
)

from rave_gui.backend.manager import TrainingManager


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "rave-gui.db"


@pytest.fixture
def manager(db_path: Path):
    m = TrainingManager(db_path)
    yield m
    m.close()


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "runs"
    d.mkdir()
    return d


@pytest.fixture
def replay(manager: TrainingManager, runs_dir: Path):
    """Start replayed runs as experiments; every process group started is gone afterwards."""
    if not fixtures_available():
        pytest.skip("the captured RAVE runs (shared/fixtures/rave) are not here")
    started: list[ReplayRun] = []

    def start(**kwargs) -> ReplayRun:
        run = start_replay_experiment(kwargs.pop("manager", manager), runs_dir, **kwargs)
        started.append(run)
        return run

    yield start
    for run in started:
        kill_group(run.pgid)
