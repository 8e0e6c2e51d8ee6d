"""TensorBoardLauncher: "Open in TensorBoard" from the app, off the GUI thread; a real
TensorBoard from the configured rave's Python when it has one, a clear message when not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from compare_helpers import have_captures, import_captures
from fake_rave import rave_script

from rave_gui.backend.system import tensorboard as tb
from rave_gui.backend.system.settings import Settings
from rave_gui.core.tensorboard import TensorBoardLauncher
from rave_gui.core.worker import wait_for_background

HAS_TB = (
    subprocess.run([sys.executable, "-c", "import tensorboard"], capture_output=True).returncode
    == 0
)


@pytest.mark.skipif(not HAS_TB or not have_captures(), reason="no TensorBoard or captures")
def test_opens_a_real_tensorboard_and_stops_it_at_shutdown(qtbot, manager, tmp_path: Path):
    ids = import_captures(manager, tmp_path / "runs")
    settings = Settings(rave_executable=str(rave_script(tmp_path, sys.executable)))
    launcher = TensorBoardLauncher(manager, settings, open_browser=False)
    try:
        with qtbot.waitSignal(launcher.opened, timeout=90_000) as opened:
            launcher.open_runs(ids)
        url = opened.args[0]
        (server,) = launcher.servers
        assert url == server.url and tb.port_answers(server.plan.port)
        assert server.plan.argv[3] == "--logdir_spec"
    finally:
        launcher.shutdown()
        wait_for_background()
    assert launcher.servers == []
    assert server.process.poll() is not None and not tb.port_answers(server.plan.port)


def test_reports_a_missing_tensorboard_or_run_folder(qtbot, manager, tmp_path: Path):
    python = "/usr/bin/python3"
    if (
        not Path(python).exists()
        or subprocess.run([python, "-c", "import tensorboard"], capture_output=True).returncode == 0
    ):
        pytest.skip("no Python without TensorBoard here")
    run = tmp_path / "run"
    run.mkdir()
    rid = manager.start_training({"name": "r", "dataset_path": "/d"})
    manager.experiments.update(rid, run_dir=str(run))
    queued = manager.start_training({"name": "q", "dataset_path": "/d"})
    settings = Settings(rave_executable=str(rave_script(tmp_path, python)))
    launcher = TensorBoardLauncher(manager, lambda: settings, open_browser=False)
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        launcher.open_runs([rid])
    assert "TensorBoard is not installed" in failed.args[0] and "pip install" in failed.args[0]
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        launcher.open_runs([queued])
    assert "no run folder" in failed.args[0]
    with qtbot.waitSignal(launcher.failed, timeout=1000) as failed:
        launcher.open_runs([])
    assert "at least one run" in failed.args[0]
    assert launcher.servers == []
    wait_for_background()
