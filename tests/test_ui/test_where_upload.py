"""The wizard's Where page uploads the chosen local dataset to a target (a real sshd on
127.0.0.1), off the GUI thread with a progress bar; the run then uses the copy there."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from remote_helpers import add_target
from remote_hosts import sshd  # noqa: F401  (a fixture)

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.ssh import close_all
from rave_gui.core.worker import wait_for_background
from rave_gui.ui.wizard.new_training import NewTrainingWizard


def test_where_page_uploads_the_dataset_and_the_run_uses_the_copy(
    qtbot,
    manager: TrainingManager,
    controller,
    fake_dataset: Path,
    sshd,  # noqa: F811
) -> None:
    rave = str(Path(sys.executable).with_name("rave"))
    if not Path(rave).exists():
        pytest.skip("the RAVE command line is not installed (the target's RAVE is inspected)")
    target = add_target(manager, sshd, "box", rave=rave)
    project_id = manager.projects.default_id()
    manager.datasets.register(project_id, fake_dataset)
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.dataset_page.reload()
    wiz.next()
    qtbot.waitUntil(lambda: wiz.install is not None, timeout=60_000)
    wiz.next()
    wiz.params_page.name_edit.setText("up")
    wiz.next()
    page = wiz.where_page
    assert not page.upload_button.isEnabled()  # this computer: nothing to upload
    page.combo.setCurrentIndex(1)
    qtbot.waitUntil(lambda: page.remote is not None, timeout=60_000)
    assert page.upload_button.isEnabled()
    page.upload_button.click()
    assert page.uploading() and not page.isComplete() and page.upload_bar.isVisible()
    qtbot.waitUntil(lambda: not page.uploading(), timeout=60_000)
    remote = str(Path(target.workdir) / "datasets" / "strings")
    assert page.dataset_edit.text() == remote, page.error.text()
    assert "Uploaded" in page.status.text() and page.upload_bar.value() == 1000
    for f in fake_dataset.iterdir():  # the sshd is this machine: the copy is readable here
        assert (Path(remote) / f.name).read_bytes() == f.read_bytes()
    assert page.isComplete()
    if os.environ.get("RAVE_GUI_SHOTS"):  # a folder: save the page's picture there
        wiz.grab().save(str(Path(os.environ["RAVE_GUI_SHOTS"]) / "wizard-where-upload.png"))
    wiz.next()
    assert wiz.config()["dataset_path"] == remote and wiz.config()["target"] == "box"
    assert f"--db_path {remote}" in wiz.confirm_page.command_box.toPlainText()
    wait_for_background()
    close_all()
