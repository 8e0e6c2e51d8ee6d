"""A run on the real single-node SLURM (behind the real sshd on 127.0.0.1) that hit its time
limit offers "Continue": one click starts a new job on the same target from its last
checkpoint, copied on the target (RAVE deletes the checkpoint it resumes from), with the same
max steps. The ended run is the replay double's; the new job is submitted as every run is (the
target's real RAVE probed, the dataset checked there)."""

from __future__ import annotations

import posixpath
import sys
import time
from pathlib import Path

import pytest
from remote_hosts import close_connections, slurm, slurm_sshd  # noqa: F401  (fixtures)
from replay_helpers import fixtures_available

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.follow import RemoteRunFollower
from rave_gui.backend.remote.resume import RESUME_KEY, timed_out
from rave_gui.backend.remote.ssh import Connection
from rave_gui.backend.runs.resume import resume_checkpoints
from rave_gui.backend.status import FINAL
from rave_gui.backend.store.targets import TargetStore
from rave_gui.ui.pages.training_page import TrainingPage

RAVE = Path(sys.executable).with_name("rave")

pytestmark = [
    pytest.mark.skipif(not fixtures_available(), reason="no captured RAVE runs"),
    pytest.mark.skipif(not RAVE.exists(), reason="the RAVE command line is not installed"),
]


def test_a_timed_out_slurm_run_continues_with_one_click(
    qtbot,
    manager: TrainingManager,
    controller,
    signals,
    tmp_path: Path,
    dataset_factory,
    slurm_sshd,  # noqa: F811
) -> None:
    from remote_helpers import add_target, start_remote_replay

    target = add_target(manager, slurm_sshd, "cluster", slurm=True, rave=str(RAVE))
    run = start_remote_replay(manager, target, tmp_path / "runs", name="long", duration=2.0)
    exp_id = run.experiment_id
    dataset = dataset_factory(tmp_path / "on the target" / "strings")  # checked there
    manager.experiments.update(exp_id, config={
        **manager.get_experiment(exp_id).config, "dataset_path": str(dataset)})  # fmt: skip
    follower = RemoteRunFollower(manager, exp_id)
    deadline = time.monotonic() + 90
    while not follower.poll().finished:
        assert time.monotonic() < deadline
        time.sleep(0.25)
    follower.close()
    assert resume_checkpoints(manager, exp_id)  # copied back at its end
    assert not timed_out(manager, exp_id)  # it completed: nothing to continue
    page = TrainingPage(manager, controller, signals)
    qtbot.addWidget(page)
    page.show()
    page.set_project(manager.projects.default_id())
    page.select_run(exp_id)
    assert page.panel.continue_button.isHidden()
    # what the follower records when SLURM ends a job at its time limit
    rec = TargetStore(manager.db).run(exp_id)
    assert rec is not None
    rec.state = "TIMEOUT"
    TargetStore(manager.db).set_run(rec)
    manager.experiments.update(exp_id, error=f"SLURM job {run.job_id} TIMEOUT")
    signals.run_status_changed.emit(exp_id, "completed")  # as the follower's end announces
    assert timed_out(manager, exp_id) and page.panel.continue_button.isVisible()
    with qtbot.waitSignal(signals.run_started, timeout=120_000) as started:
        page.panel.continue_button.click()
    new_id = started.args[0]
    qtbot.waitUntil(lambda: page.current_id == new_id, timeout=10_000)  # selected
    old, new = manager.get_experiment(exp_id), manager.get_experiment(new_id)
    assert new.parent_id == exp_id and new.name == "long-resume"
    assert new.config["target"] == "cluster"
    assert new.config["max_steps"] == old.config["max_steps"]  # the same max steps
    spec = new.config[RESUME_KEY]
    new_run = TargetStore(manager.db).run(new_id)
    assert new_run is not None and new_run.job_id and new_run.job_id != run.job_id
    into = spec["into"]
    assert new.config["ckpt"] == into and into.startswith("resume-from/")
    assert f"--ckpt {into}" in new.config["remote_script"]
    assert spec["checkpoint"].startswith(run.remote_dir + "/")  # the original, on the target
    name = posixpath.basename(spec["checkpoint"])
    conn = Connection(target)
    copied = posixpath.join(new_run.remote_dir, into, "version_0", "checkpoints", name)
    gin = posixpath.join(new_run.remote_dir, into, "config.gin")
    for path in (copied, gin, spec["checkpoint"]):  # the original run keeps its checkpoint
        assert conn.run(["test", "-f", path], check=False).returncode == 0, path
    controller.stop(new_id)
    qtbot.waitUntil(lambda: manager.get_experiment(new_id).status in FINAL, timeout=120_000)

    # the resume dialog on the same run: the new job is submitted in the background too
    page.select_run(exp_id)
    dialog = page.resume_selected_from_checkpoint()
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.is_loaded, timeout=10_000)
    dialog.select_checkpoint(
        next(c.path for c in dialog.checkpoints() if Path(c.path).name == "best.ckpt")
    )
    dialog.name_edit.setText("from best")
    dialog.accept()
    assert dialog.isVisible() and dialog.resume_button.text() == "Starting…"  # not blocked
    assert not dialog.resume_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.new_id is not None, timeout=120_000)
    third = manager.get_experiment(dialog.new_id)
    assert third.name == "from best" and third.config["target"] == "cluster"
    assert third.config["resumed_from"].endswith("/best.ckpt")
    qtbot.waitUntil(lambda: page.current_id == third.id, timeout=10_000)
    controller.stop(third.id)
    qtbot.waitUntil(lambda: manager.get_experiment(third.id).status in FINAL, timeout=120_000)
    page.shutdown()
