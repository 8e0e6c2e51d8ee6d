"""A run on a SLURM target in the Training page, followed by the real controller: a job the real
single-node SLURM holds is shown "running · pending: JobHeldUser" in the runs table and the run
panel, and plain "running" once SLURM runs it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from remote_hosts import close_connections, slurm, slurm_sshd, sshd  # noqa: F401  (fixtures)
from replay_helpers import fixtures_available

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.ssh import Connection
from rave_gui.ui.models.experiments_model import COL
from rave_gui.ui.pages.training_page import TrainingPage

SHOTS = os.environ.get("RAVE_GUI_SHOTS")  # a folder: save the page's picture there

pytestmark = pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs")


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


def test_the_system_panel_shows_the_targets_gpus(
    qtbot,
    manager: TrainingManager,
    controller,
    signals,
    tmp_path: Path,
    sshd,  # noqa: F811
) -> None:
    import shutil

    from remote_helpers import add_target, start_remote_replay

    from rave_gui.backend.remote.gpus import TargetGpus, parse_smi

    target = add_target(manager, sshd, "box")
    run = start_remote_replay(manager, target, tmp_path / "runs", duration=30.0)
    page = TrainingPage(manager, controller, signals)
    qtbot.addWidget(page)
    page.show()
    page.set_project(manager.projects.default_id())
    page.select_run(run.experiment_id)
    panel = page.panel.system_panel
    page.panel.tabs.setCurrentWidget(panel)  # shown: it reads
    assert panel.gpu_title.text() == "GPU on box"
    assert panel.host_title.text() == "This computer"
    qtbot.waitUntil(lambda: panel.last_remote is not None, timeout=30_000)
    if shutil.which("nvidia-smi") is None:  # the test machine has none
        assert panel.no_gpu_label.text() == "no NVIDIA GPU on box (nvidia-smi is not there)"
        assert panel.no_gpu_label.isVisible()
    # captured nvidia-smi output of a two-GPU server, as the target would give it
    smi = "0, NVIDIA GeForce RTX 3090, 20117, 24576, 97\n1, NVIDIA GeForce RTX 3090, 3, 24576, 0\n"
    panel.show_remote(TargetGpus("box", parse_smi(smi)))
    assert panel.no_gpu_label.isHidden() and len(panel._gpu_widgets) == 2
    first = panel._gpu_widgets[0]
    assert first["name"].text() == "GPU 0 · NVIDIA GeForce RTX 3090"
    assert first["util"].text() == "97 %"  # type: ignore[attr-defined]
    controller.stop(run.experiment_id)
    qtbot.waitUntil(
        lambda: manager.get_experiment(run.experiment_id).status == "stopped", timeout=90_000
    )
    qtbot.waitUntil(lambda: panel.remote is None, timeout=10_000)  # an ended run: this machine's
    assert panel.gpu_title.text() == "GPU" and panel.host_title.text() == "Machine"
    page.shutdown()
