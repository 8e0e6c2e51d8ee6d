"""The main window: pages, the current project, shortcuts, status bar and remembered state."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QApplication

from rave_gui import __version__
from rave_gui.ui.dialogs.guide_dialog import GuideDialog
from rave_gui.ui.main_window import MainWindow, ui_state
from rave_gui.ui.pages.training_page import TrainingPage
from rave_gui.ui.wizard.new_training import NewTrainingWizard


def _new_window(qtbot, manager, controller, signals, settings) -> MainWindow:
    win = MainWindow(manager, controller, signals, settings)
    qtbot.addWidget(win)
    win.show()
    return win


def test_pages_are_listed_in_the_sidebar_and_view_menu(window):
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles[:2] == ["Projects", "Datasets"]
    assert all(not window.nav.item(i).icon().isNull() for i in range(window.nav.count()))
    assert list(window.page_actions) == window.page_keys
    window.page_actions["datasets"].trigger()
    assert window.stack.currentWidget() is window.datasets_page
    assert window.current_page_key() == "datasets"
    window.nav.setCurrentRow(0)
    assert window.page_actions["projects"].isChecked()


def test_a_started_run_is_shown_on_the_training_page(window, manager, signals):
    assert window.page_keys == ["projects", "datasets", "training", "compare", "export", "targets"]
    assert isinstance(window.pages["training"], TrainingPage)
    other = manager.start_training({"name": "other", "project_id": window.project_id})
    exp = manager.start_training({"name": "fresh", "project_id": window.project_id})
    signals.runs_changed.emit()  # as the controller does when it has queued a run
    wizard = window.new_training()
    assert wizard is not None
    assert window.training_page.select_run(other)
    wizard.training_started.emit(exp)  # what the wizard says once it has started the run
    assert window.current_page_key() == "training"
    assert window.stack.currentWidget() is window.training_page
    assert window.training_page.current_id == exp == window.training_page.selected_id()
    wizard.reject()


def test_last_page_project_and_geometry_are_restored(qtbot, manager, controller, signals, settings):
    pid = manager.projects.create("Second")
    first = _new_window(qtbot, manager, controller, signals, settings)
    first.resize(1200, 760)
    first.set_project(pid)
    first.show_page("datasets")
    size = first.size()
    first.close()
    assert ui_state().value("window/page") == "datasets"
    second = _new_window(qtbot, manager, controller, signals, settings)
    assert second.current_page_key() == "datasets"
    assert second.project_id == pid
    assert second.project_combo.currentText() == "Second"
    # The offscreen screen is 800x600, so Qt clamps a restored width to the window's minimum;
    # the height (760, not the default 820) shows the geometry came back.
    assert second.size().height() == size.height() == 760


def test_qsettings_are_not_the_users(_private_qsettings):
    assert ui_state().fileName().startswith(str(_private_qsettings))


def test_project_selector_scopes_the_pages(qtbot, window, manager, tmp_path, dataset_factory):
    a = manager.projects.default_id()
    b = manager.projects.create("Brass")
    manager.datasets.register(a, dataset_factory(tmp_path / "a_set"))
    manager.datasets.register(b, dataset_factory(tmp_path / "b_set"))
    window.refresh_current_page()
    window.show_page("datasets")
    page = window.datasets_page
    assert page.model.records()[0].name == "a_set"
    with qtbot.waitSignal(window.project_changed) as changed:
        window.project_combo.setCurrentIndex(window.project_combo.findData(b))
    assert changed.args == [b]
    assert [r.name for r in page.model.records()] == ["b_set"]
    assert page.heading.text() == "Datasets of Brass"
    assert window.windowTitle().startswith("Brass")
    assert window.projects_page.current_project_id == b


def test_projects_page_chooses_renames_and_deletes_the_current_project(window, manager):
    pid = manager.projects.create("Piano")
    window.show_page("projects")  # a first start with no dataset opens on Datasets
    window.refresh_current_page()
    window.projects_page.select_project(pid)
    window.projects_page.open_button.click()
    assert window.project_id == pid
    assert window.project_combo.currentText() == "Piano"
    dialog = window.projects_page.rename_selected()
    dialog.name_edit.setText("Grand piano")
    dialog.ok_button.click()
    assert window.project_combo.currentText() == "Grand piano"
    window.projects_page.select_project(pid)
    window.projects_page.delete_selected().accept_button.click()
    assert window.project_id != pid
    assert window.project_combo.findData(pid) == -1


def test_creating_a_project_makes_it_current(window, manager):
    dialog = window.projects_page.new_project()
    dialog.name_edit.setText("Field recordings")
    dialog.ok_button.click()
    assert window.project_combo.currentText() == "Field recordings"
    assert window.project_id == manager.projects.find("Field recordings").id


def test_f5_refreshes_the_current_page(qtbot, window, manager, fake_dataset):
    window.show_page("datasets")
    assert window.datasets_page.is_empty_state()
    manager.datasets.register(window.project_id, fake_dataset)  # behind the page's back
    window.activateWindow()
    qtbot.keyClick(window.datasets_page, Qt.Key.Key_F5)
    assert not window.datasets_page.is_empty_state()


def test_ctrl_n_opens_the_new_training_wizard(qtbot, window):
    window.activateWindow()
    qtbot.keyClick(window.projects_page.table, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    wizards = [w for w in window.findChildren(NewTrainingWizard) if w.isVisible()]
    assert len(wizards) == 1
    assert wizards[0].project_id == window.project_id
    wizards[0].reject()


def test_the_training_pages_new_training_button_opens_the_wizard(qtbot, window):
    window.show_page("training")
    button = window.training_page.toolbar.widgetForAction(window.training_page.new_training_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wizards = [w for w in window.findChildren(NewTrainingWizard) if w.isVisible()]
    assert len(wizards) == 1
    assert wizards[0].project_id == window.project_id
    wizards[0].reject()


def test_ctrl_q_closes_the_window(qtbot, window):
    window.activateWindow()
    qtbot.keyClick(window.projects_page.table, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()


def test_status_bar_counts_runs_and_shows_the_gpu(qtbot, window, manager, signals):
    assert window.runs_label.text() == "No active runs"
    manager.start_training({"name": "waiting", "project_id": window.project_id})
    window.controller.active_ids = lambda: [1, 2]
    signals.runs_changed.emit()
    qtbot.waitUntil(lambda: window.runs_label.text() == "2 active runs, 1 queued")
    window.controller.active_ids = lambda: []
    qtbot.waitUntil(lambda: not window.gpu_label.text().endswith("checking…"), timeout=10_000)
    assert window.gpu_label.text().startswith("GPU: ")


def test_about_shows_the_version(window):
    box = window.show_about()
    assert __version__ in box.text()
    box.close()


def test_menus_hold_the_documented_actions(window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["File", "View", "Help"]
    file_items = [a.text().replace("&", "") for a in menus["File"].actions() if a.text()]
    assert file_items == ["New training…", "Settings…", "Quit"]
    assert window.new_training_action.shortcut().toString() == "Ctrl+N"
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    assert window.refresh_action.shortcut().toString() == "F5"
    assert QApplication.instance() is not None


def test_runs_that_end_or_raise_errors_notify_unless_turned_off(
    qtbot, window, manager, signals, tmp_path
):
    from PyQt6.QtWidgets import QSystemTrayIcon

    from rave_gui.backend.runs.notices import Notice

    notifier = window.notifier
    assert notifier.enabled
    # offscreen has no system tray: no icon, nothing breaks, the notices are still decided
    assert not QSystemTrayIcon.isSystemTrayAvailable() and notifier.tray is None
    exp = manager.start_training({"name": "drums", "project_id": window.project_id})
    signals.run_completed.emit(exp, "`max_steps=110` reached")
    signals.run_failed.emit(exp, "CUDA out of memory")
    signals.run_stopped.emit(exp, "stopped by the user")  # no notice
    signals.run_alerts.emit(exp, [{"kind": "plateau", "severity": "warning", "step": 5}])
    signals.run_alerts.emit(
        exp, [{"kind": "nan", "severity": "error", "step": 50, "message": "loss is NaN"}]
    )
    assert notifier.shown == [
        Notice("Training complete: drums", "`max_steps=110` reached"),
        Notice("Training failed: drums", "CUDA out of memory", "error"),
        Notice("Problem in drums", "nan at step 50: loss is NaN", "error"),
    ]
    window.controller.active_ids = lambda: [exp]
    window.update_status()
    assert notifier.tooltip() == "rave-gui: 1 active run"
    window.controller.active_ids = lambda: []
    # turned off in the settings: nothing more is shown
    dialog = window.open_settings()
    dialog.notify_check.setChecked(False)
    dialog._settings_file = tmp_path / "s.json"
    dialog.save()
    assert not notifier.enabled
    signals.run_failed.emit(exp, "again")
    assert len(notifier.shown) == 3


def test_help_shows_the_user_guide(qtbot, window):
    help_menu = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}["Help"]
    items = [a.text().replace("&", "") for a in help_menu.actions() if a.text()]
    assert items == ["User guide", "About rave-gui"]
    window.guide_action.trigger()
    (dialog,) = [d for d in window.findChildren(GuideDialog) if d.isVisible()]
    text = dialog.browser.toPlainText()
    assert text.startswith("rave-gui user guide")  # the Markdown was rendered, not shown raw
    for section in ("Your first project", "demo", "Your first run", "Watching a run"):
        assert section in text
    for section in ("Stopping, pausing, resuming", "Exporting for nn~", "The command line"):
        assert section in text
    assert "# " not in text.splitlines()[0]
    dialog.close()
