"""Fixtures shared by the backend tests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.process import runner
from rave_gui.backend.remote.ssh import close_all


@pytest.fixture
def tm(tmp_path: Path):
    """A manager on a new database (a test file may have its own); the shared ssh connections
    the test opened are closed after it."""
    manager = TrainingManager(tmp_path / "db.sqlite3")
    yield manager
    manager.close()
    close_all()


@pytest.fixture
def launched():
    """Launch commands under the supervisor; nothing of their groups is left afterwards."""
    started: list[runner.Launched] = []

    def launch(argv: list[str], folder: Path, **kwargs) -> runner.Launched:
        run = runner.launch(argv, folder, **kwargs)
        started.append(run)
        return run

    yield launch
    for run in started:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        runner.wait_group(run.pid, 5)
    runner.reap()
