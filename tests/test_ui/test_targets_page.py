"""The Targets page against a real sshd on 127.0.0.1: a target added, checked, its unknown host
key shown with its fingerprint and trusted once, then checked through."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QApplication, QMessageBox
from remote_hosts import HOST, sshd  # noqa: F401  (a fixture)

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.remote.ssh import close_all
from rave_gui.backend.store.targets import Target, TargetStore
from rave_gui.core.worker import wait_for_background
from rave_gui.ui.pages.targets_page import TargetDialog, TargetsPage

SHOTS = os.environ.get("RAVE_GUI_SHOTS")  # a folder: save the page's picture there


@pytest.fixture
def tm(tmp_path: Path):
    manager = TrainingManager(tmp_path / "db.sqlite3")
    yield manager
    manager.close()
    close_all()


def test_dialog_refuses_a_bad_target_and_gives_a_good_one(qtbot) -> None:
    dialog = TargetDialog()
    qtbot.addWidget(dialog)
    dialog.name.setText("lab")
    dialog.host.setText("-oProxyCommand=x")
    dialog._accept()
    assert dialog.target is None and "not a host name" in dialog.error.text()
    dialog.host.setText("gpu.example.org")
    dialog.slurm.setChecked(True)
    dialog.partition.setText("gpu")
    dialog.time.setText("12:00:00")
    assert dialog.value().copy_checkpoints == "last"  # the default: the newest and the best
    dialog.copy_checkpoints.setCurrentIndex(dialog.copy_checkpoints.findData("none"))
    dialog._accept()
    assert dialog.target is not None and dialog.target.copy_checkpoints == "none"
    assert (dialog.target.kind, dialog.target.partition, dialog.target.time_limit) == (
        "slurm", "gpu", "12:00:00",
    )  # fmt: skip


def test_check_shows_the_fingerprint_and_trusts_the_host_once(
    qtbot,
    tm: TrainingManager,
    sshd,  # noqa: F811
) -> None:
    store = TargetStore(tm.db)
    store.add(Target("lab box", "ssh", HOST, port=sshd.port, user=sshd.user,
                     key_file=str(sshd.key), rave=str(Path(sys.executable).with_name("rave")),
                     workdir=str(sshd.folder / "work")))  # fmt: skip
    store.add(Target("cluster", "slurm", "login.example.org", partition="gpu", gres="gpu:1",
                     time_limit="24:00:00"))  # fmt: skip
    page = TargetsPage(tm)
    qtbot.addWidget(page)
    page.resize(900, 560)
    assert page.table.rowCount() == 2
    assert page.table.item(1, 0).text() == "lab box"
    assert page.table.item(0, 5).text() == "gpu gpu:1 24:00:00"
    page.table.selectRow(1)
    page.check_button.click()
    boxes: list[QMessageBox] = []

    def asked() -> bool:
        boxes[:] = [w for w in QApplication.topLevelWidgets()
                    if isinstance(w, QMessageBox) and w.isVisible()]  # fmt: skip
        return bool(boxes)

    qtbot.waitUntil(asked, timeout=30_000)
    assert "SHA256:" in boxes[0].informativeText()
    assert "not a known host" in page.report.toPlainText()
    trust = next(b for b in boxes[0].buttons() if b.text() == "Trust this key")
    trust.click()
    qtbot.waitUntil(lambda: "reachable" in page.report.toPlainText()
                    and "NOT" not in page.report.toPlainText(), timeout=60_000)  # fmt: skip
    assert "GPUs: none found" in page.report.toPlainText()
    wait_for_background()
    if SHOTS:
        page.grab().save(str(Path(SHOTS) / "targets-page.png"))


def test_wizard_where_page_shows_the_remote_command_and_sbatch_script(
    qtbot,
    manager: TrainingManager,
    controller,
    fake_dataset: Path,
    sshd,  # noqa: F811
) -> None:
    from PyQt6.QtWidgets import QWizard

    from rave_gui.ui.wizard.new_training import NewTrainingWizard

    rave = str(Path(sys.executable).with_name("rave"))
    if not Path(rave).exists():
        pytest.skip("the RAVE command line is not installed (the target's RAVE is inspected)")
    from remote_helpers import add_target

    add_target(manager, sshd, "box", rave=rave)
    add_target(manager, sshd, "cluster", slurm=True, rave=rave, partition="debug")
    project_id = manager.projects.default_id()
    manager.datasets.register(project_id, fake_dataset)
    wiz = NewTrainingWizard(manager, controller, project_id)
    qtbot.addWidget(wiz)
    wiz.show()
    wiz.dataset_page.reload()
    wiz.next()
    qtbot.waitUntil(lambda: wiz.install is not None, timeout=60_000)
    wiz.next()
    wiz.params_page.name_edit.setText("my run")
    wiz.next()
    page = wiz.where_page
    assert wiz.currentPage() is page and page.isComplete()  # this computer, by default
    page.combo.setCurrentIndex(1)  # box
    assert not page.isComplete()  # until RAVE is found there
    qtbot.waitUntil(lambda: page.remote is not None, timeout=60_000)
    assert "RAVE 2." in page.status.text()
    page.dataset_edit.setText("/data/on target/strings")
    wiz.next()
    assert wiz.currentPage() is wiz.confirm_page
    text = wiz.confirm_page.command_box.toPlainText()
    assert "setsid sh -c" in text and "--name 'my run'" in text
    assert "--db_path '/data/on target/strings'" in text
    assert wiz.confirm_page.plain_box.isHidden()
    assert wiz.config()["target"] == "box"
    wiz.back()
    page.combo.setCurrentIndex(2)  # cluster
    qtbot.waitUntil(lambda: page.remote is not None, timeout=60_000)
    wiz.next()
    script = wiz.confirm_page.command_box.toPlainText()
    assert script.startswith("#!/bin/sh\n#SBATCH --job-name='rave-my run'")
    assert "#SBATCH --signal=B:USR2@120" in script and "#SBATCH --partition=debug" in script
    assert wiz.button(QWizard.WizardButton.FinishButton).isEnabled()
    if SHOTS:
        wiz.grab().save(str(Path(SHOTS) / "wizard-where-confirm.png"))
    wait_for_background()
