"""The Export page exports a run that trained on a target (a real sshd on 127.0.0.1): the
export runs there off the GUI thread, its output shown, the model downloaded and listed."""

from __future__ import annotations

from pathlib import Path

from fake_rave import write_fake_rave
from remote_helpers import add_target, completed_remote_run
from remote_hosts import sshd  # noqa: F401  (a fixture)

from rave_gui.backend.remote.ssh import close_all
from rave_gui.backend.system.settings import Settings
from rave_gui.ui.pages.export_page import ExportPage


def test_export_page_exports_a_remote_run_there(
    qtbot,
    manager,
    signals,
    tmp_path: Path,
    sshd,  # noqa: F811
) -> None:
    target = add_target(manager, sshd, rave=str(write_fake_rave(tmp_path / "there")))
    exp_id = completed_remote_run(manager, target, tmp_path / "runs")
    # the local rave setting does not matter: the target's RAVE exports
    page = ExportPage(manager, signals, settings=Settings(rave_executable="/no/local/rave"))
    qtbot.addWidget(page)
    page.show()
    page.set_project(manager.projects.default_id())
    assert page.select_run(exp_id)
    assert page.ckpt_combo.currentText().startswith("best")
    with qtbot.waitSignal(page.export_finished, timeout=60_000) as blocker:
        page.export_button.click()
        assert page.export_button.text() == "Cancel export"  # the GUI thread is free meanwhile
    ok, text = blocker.args
    assert ok, text
    assert text == "Exported replay_streaming.ts (10.0 kB)."
    (model,) = manager.artifacts.exported_models(exp_id)
    assert Path(model.path).read_bytes() == b"PK" * 5000
    assert model.settings["target"] == "box"
    log = page.log_view.toPlainText()
    assert "$ " in log and " export --run " in log and "all good ! model exported" in log
    assert page.models_box.table.model().index(0, 0).data() == "replay_streaming.ts"
    page.shutdown()
    close_all()
