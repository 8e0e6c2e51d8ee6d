"""A run on a SLURM target in the Training page, followed by the real controller: a job the real
single-node SLURM holds is shown "running · pending: JobHeldUser" in the runs table and the run
panel, and plain "running" once SLURM runs it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from remote_hosts import slurm, slurm_sshd  # noqa: F401  (fixtures)
from replay_helpers import fixtures_available

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.ssh import Connection, close_all
from rave_gui.ui.models.experiments_model import COL
from rave_gui.ui.pages.training_page import TrainingPage

SHOTS = os.environ.get("RAVE_GUI_SHOTS")  # a folder: save the page's picture there

pytestmark = pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    close_all()


def _status_cell(page: TrainingPage, exp_id: int) -> str:
    model = page.model
    row = model._row_of[exp_id]
    return str(model.index(row, COL["status"]).data())


def test_a_pending_slurm_job_is_shown_with_its_reason(
    qtbot,
    manager: TrainingManager,
    controller,
    signals,
    tmp_path: Path,
    slurm_sshd,  # noqa: F811
) -> None:
    from remote_helpers import add_target, start_remote_replay

    target = add_target(manager, slurm_sshd, "cluster", slurm=True, extra_sbatch=["--hold"],
                        partition="debug")  # fmt: skip
    run = start_remote_replay(manager, target, tmp_path / "runs", name="on the cluster",
                              duration=4.0)  # fmt: skip
    exp_id = run.experiment_id
    page = TrainingPage(manager, controller, signals)
    qtbot.addWidget(page)
    page.resize(1280, 720)
    page.show()
    page.set_project(manager.projects.default_id())
    page.select_run(exp_id)
    controller.schedule()  # follows the live run
    pending = "running · pending: JobHeldUser"
    qtbot.waitUntil(lambda: page.panel.status_badge.text() == pending, timeout=30_000)
    assert _status_cell(page, exp_id) == "pending"  # the status and reason in the tooltip:
    row = page.model._row_of[exp_id]
    tip = page.model.index(row, COL["status"]).data(Qt.ItemDataRole.ToolTipRole)
    assert f"Status: {pending}" in tip
    if SHOTS:
        qtbot.wait(300)
        page.grab().save(str(Path(SHOTS) / "remote-run.png"))
    Connection(target).run(["scontrol", "release", str(run.job_id)])
    qtbot.waitUntil(lambda: _status_cell(page, exp_id) == "completed", timeout=90_000)
    assert page.panel.status_badge.text() == "completed"
    page.shutdown()
