"""The Projects page: create, rename and delete projects through the UI."""

from __future__ import annotations

import pytest

from rave_gui.backend.status import RUNNING
from rave_gui.ui.dialogs.confirm import ConfirmBox
from rave_gui.ui.pages.projects_page import ProjectsPage


@pytest.fixture
def page(qtbot, manager, signals):
    manager.projects.default_id()
    p = ProjectsPage(manager, signals)
    qtbot.addWidget(p)
    p.show()
    return p


def _names(page: ProjectsPage) -> list[str]:
    return [page.proxy.index(r, 0).data() for r in range(page.proxy.rowCount())]


def test_create_a_project(qtbot, page, manager):
    dialog = page.new_project()
    assert not dialog.ok_button.isEnabled()  # empty name
    dialog.name_edit.setText("Strings")
    with qtbot.waitSignal(page.project_activated) as activated:
        dialog.ok_button.click()
    assert "Strings" in _names(page)
    assert manager.projects.find("Strings").id == activated.args[0]
    assert page.selected_project().name == "Strings"


def test_bad_and_duplicate_names_are_shown_in_the_dialog(page, manager):
    manager.projects.create("Drums")
    dialog = page.new_project()
    dialog.name_edit.setText("a:b")
    assert "':'" in dialog.error_label.error()
    assert not dialog.ok_button.isEnabled()
    dialog.name_edit.setText("Drums")
    dialog.ok_button.click()
    assert dialog.isVisible()
    assert "already exists" in dialog.error_label.error()
    assert len(manager.projects.all()) == 2


def test_rename_a_project(page, manager):
    pid = manager.projects.create("Old name")
    page.refresh()
    page.select_project(pid)
    dialog = page.rename_selected()
    assert dialog.name_edit.text() == "Old name"
    dialog.name_edit.setText("New name")
    dialog.ok_button.click()
    assert manager.projects.get(pid).name == "New name"
    assert "New name" in _names(page)
    assert "Old name" not in _names(page)


def test_delete_says_what_goes_with_the_project(page, manager, fake_dataset):
    pid = manager.projects.create("Voice")
    manager.datasets.register(pid, fake_dataset)
    for name in ("a", "b"):
        manager.stop_training(manager.start_training({"name": name, "project_id": pid}))
    page.refresh()
    page.select_project(pid)
    row = page.model.row_of(pid)
    assert page.model.index(row, 1).data() == "2"  # experiments
    assert page.model.index(row, 2).data() == "1"  # datasets
    box = page.delete_selected()
    details = box.informativeText()
    assert "2 experiments and their metrics" in details
    assert "Its 1 dataset registration is removed" in details
    assert "Files on disk are kept" in details
    box.accept_button.click()
    assert "Voice" not in _names(page)
    assert all(p.name != "Voice" for p in manager.projects.all())
    assert fake_dataset.exists()


def test_cancelling_the_delete_keeps_the_project(page, manager):
    pid = manager.projects.create("Keep me")
    page.refresh()
    page.select_project(pid)
    box = page.delete_selected()
    box.button(box.StandardButton.Cancel).click()
    assert manager.projects.get(pid).name == "Keep me"


def test_a_project_with_an_active_run_is_not_deleted(page, manager):
    pid = manager.projects.create("Busy")
    exp = manager.start_training({"name": "live", "project_id": pid})
    manager.update_experiment_status(exp, RUNNING)
    page.refresh()
    page.select_project(pid)
    box = page.delete_selected()
    # Refused before any confirmation: the box says why and offers OK only.
    assert not isinstance(box, ConfirmBox)
    assert box.informativeText() == manager.projects.delete_refusal(pid)
    assert "has an active run: stop it first" in box.informativeText()
    assert [b.text().replace("&", "") for b in box.buttons()] == ["OK"]
    box.button(box.StandardButton.Ok).click()
    assert manager.projects.get(pid).name == "Busy"
    # Once the run has ended, deleting it is asked for again and done.
    manager.update_experiment_status(exp, "stopped")
    page.delete_selected().accept_button.click()
    assert pid not in [p.id for p in manager.projects.all()]


def test_buttons_need_a_selection(page):
    page.table.clearSelection()
    assert page.new_button.isEnabled()
    assert not page.rename_button.isEnabled()
    assert not page.delete_button.isEnabled()
    assert page.rename_selected() is None
