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
    dialog._accept()
    assert dialog.target is not None
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
