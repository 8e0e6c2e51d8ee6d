"""Fixtures shared by the backend tests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rave_gui.backend.process import runner


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
