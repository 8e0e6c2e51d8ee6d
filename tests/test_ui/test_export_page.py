"""The Export page: a run's checkpoints (best marked, sizes, delete with the space freed), an
export followed to its model or to its cause, the list of exported models, and the way in from
the Training page (a stand-in `rave` for speed; the real export is in tests/e2e)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PyQt6.QtCore import QUrl
from PyQt6.QtGui import QDesktopServices, QGuiApplication

from rave_gui.backend.status import COMPLETED, RUNNING, STOPPED
from rave_gui.backend.system.settings import Settings
from rave_gui.ui.pages.export_page import ExportPage

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

from fake_rave import make_run, write_fake_rave  # noqa: E402


@pytest.fixture
def project_id(manager) -> int:
    return manager.projects.default_id()


def _run(manager, project_id, root: Path, name: str, status: str = COMPLETED) -> int:
    run_dir = root / f"{name}-dir"
    make_run(run_dir, name=name)
    exp = manager.start_training({"name": name, "project_id": project_id})
    manager.experiments.update(exp, run_dir=str(run_dir))
    manager.update_experiment_status(exp, RUNNING)
    if status != RUNNING:
        manager.update_experiment_status(exp, status)
    return exp


@pytest.fixture
def page(qtbot, manager, signals, project_id, tmp_path):
    p = ExportPage(
        manager, signals, settings=Settings(rave_executable=str(write_fake_rave(tmp_path / "bin")))
    )
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    yield p
    p.shutdown()


def _cells(view, row: int) -> list[str]:
    model = view.model()
    return [model.index(row, c).data() for c in range(model.columnCount())]


def test_checkpoints_of_the_chosen_run_with_best_marked(page, manager, project_id, tmp_path):
    _run(manager, project_id, tmp_path / "runs", "first")
    second = _run(manager, project_id, tmp_path / "runs", "second", STOPPED)
    page.set_project(project_id)
    assert page.run_combo.count() == 2
    assert page.select_run(second)
    names = sorted(_cells(page.ckpt_table, r)[0] for r in range(page.ckpt_proxy.rowCount()))
    assert names == ["epoch-epoch=0000.ckpt", "epoch-epoch=0001.ckpt", "★ best.ckpt"]
    assert page.ckpt_summary.text() == "3 checkpoints · 3.0 kB"
    assert page.ckpt_combo.currentText().startswith("best")
    assert page.output_edit.text() == str(tmp_path / "runs" / "second-dir" / "exports")
    assert page.name_edit.text() == "second"
    assert page.target_label.text() == str(
        tmp_path / "runs" / "second-dir" / "exports" / "second_streaming.ts"
    )
    page.streaming_check.setChecked(False)
    assert page.target_label.text().endswith("second.ts")
    assert page.models_box.empty.isVisible()


def test_export_runs_and_lists_the_model(qtbot, page, manager, project_id, tmp_path):
    exp = _run(manager, project_id, tmp_path / "runs", "cello")
    page.set_project(project_id)
    page.select_run(exp)
    other = next(c.path for c in page.checkpoints if c.path.endswith("0001.ckpt"))
    page.set_checkpoint(other)
    assert page.name_edit.text().startswith("cello-")  # not the best: named after it
    page.name_edit.setText("cello-late")
    with qtbot.waitSignal(page.export_finished, timeout=60_000) as blocker:
        page.export_button.click()
        assert not page.export_button.isEnabled() or page.export_button.text() == "Cancel export"
    ok, text = blocker.args
    assert ok, text
    assert text == "Exported cello-late_streaming.ts (10.0 kB)."
    (model,) = manager.artifacts.exported_models(exp)
    assert model.checkpoint == other and model.streaming is True
    cells = _cells(page.models_box.table, 0)
    assert cells[:3] == ["cello-late_streaming.ts", "10.0 kB", "yes"]
    assert "Load it in nn~" in page.message.text()
    assert not page.models_box.empty.isVisible()
    assert page.export_button.text() == "Export" and page.export_button.isEnabled()
    assert "all good ! model exported to" in page.log_view.toPlainText()


def test_an_export_failure_shows_its_cause(qtbot, page, manager, project_id, tmp_path):
    exp = _run(manager, project_id, tmp_path / "runs", "cello")
    page.settings = Settings(rave_executable=str(write_fake_rave(tmp_path / "b2", "nn_tilde")))
    page.set_project(project_id)
    page.select_run(exp)
    with qtbot.waitSignal(page.export_finished, timeout=60_000) as blocker:
        page.start_export()
    ok, text = blocker.args
    assert not ok
    assert "needs the nn-tilde package" in text
    assert page.error_label.error() == text
    assert "Traceback" not in text
    assert manager.artifacts.exported_models(exp) == []


def test_a_refused_export_says_what_to_fix(qtbot, page, manager, project_id, tmp_path):
    exp = _run(manager, project_id, tmp_path / "runs", "cello")
    page.set_project(project_id)
    page.select_run(exp)
    page.name_edit.setText("bad name!")
    with qtbot.waitSignal(page.export_finished, timeout=30_000) as blocker:
        page.start_export()
    assert not blocker.args[0]
    assert "may hold only letters" in page.error_label.error()


def test_deleting_old_checkpoints_says_how_much_is_freed(
    qtbot, page, manager, project_id, tmp_path
):
    exp = _run(manager, project_id, tmp_path / "runs", "cello")
    page.set_project(project_id)
    page.select_run(exp)
    old = [c.path for c in page.checkpoints if not c.is_best]
    page.select_checkpoints(old)
    assert page.delete_button.isEnabled()
    box = page.delete_selected_checkpoints()
    assert box.text() == "Delete 2 checkpoints of 'cello'?"
    assert "Frees 2.0 kB of disk" in box.informativeText()
    assert box.accept_button.text() == "Delete 2.0 kB"
    box.accept_button.click()
    assert all(not Path(p).exists() for p in old)
    assert [Path(c.path).name for c in manager.artifacts.checkpoints(exp)] == ["best.ckpt"]
    assert "Deleted 2 checkpoints: 2.0 kB freed." in page.message.text()
    assert page.ckpt_proxy.rowCount() == 1


def test_checkpoints_of_a_live_run_cannot_be_deleted(page, manager, project_id, tmp_path):
    exp = _run(manager, project_id, tmp_path / "runs", "live", RUNNING)
    page.set_project(project_id)
    page.select_run(exp)
    page.select_checkpoints([c.path for c in page.checkpoints])
    assert not page.delete_button.isEnabled()
    assert "Stop the run" in page.delete_button.toolTip()


def test_export_is_a_page_and_a_training_page_action(qtbot, window, manager, tmp_path):
    pid = window.project_id
    exp = _run(manager, pid, tmp_path / "runs", "done")
    assert "export" in window.page_keys
    assert window.nav.item(window.page_keys.index("export")).text() == "Export"
    training = window.training_page
    manager.artifacts.sync_checkpoints(exp, [{"path": "/x/best.ckpt", "is_best": True}])
    window.show_page("training")
    training.refresh()
    assert training.select_run(exp)
    qtbot.waitUntil(training.export_action.isEnabled, timeout=5000)
    training.export_action.trigger()
    assert window.current_page_key() == "export"
    assert window.export_page.current_run_id() == exp


@pytest.fixture
def opened_urls(monkeypatch) -> list[str]:
    """QDesktopServices.openUrl records the URLs instead of starting a file manager."""
    urls: list[str] = []

    def record(url):
        urls.append(url.toString())
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", record)
    return urls


def test_an_exported_model_can_be_revealed_or_its_path_copied(
    page, manager, project_id, tmp_path, opened_urls
):
    exp = _run(manager, project_id, tmp_path, "cello")
    out = tmp_path / "models"
    out.mkdir()
    model = out / "cello.ts"
    model.write_bytes(b"x" * 10)
    manager.artifacts.add_exported_model(exp, model, size=10)
    page.set_project(project_id)
    page.select_run(exp)
    box = page.models_box
    assert box.selected_model().path == str(model)  # the newest is selected
    assert box.reveal_button.isEnabled() and box.copy_button.isEnabled()
    box.reveal_button.click()
    assert opened_urls == [QUrl.fromLocalFile(str(out)).toString()]
    QGuiApplication.clipboard().clear()
    box.copy_button.click()
    assert QGuiApplication.clipboard().text() == str(model)
    # A model whose file is gone can still have its path copied, not be shown.
    model.unlink()
    page.refresh()
    page.select_run(exp)
    assert not box.reveal_button.isEnabled() and box.copy_button.isEnabled()
    box.table.clearSelection()
    assert not box.copy_button.isEnabled()
    assert box.copy_selected() is None and box.reveal_selected() is False
