"""The Settings dialog: checking rave off the GUI thread, and saving."""

from __future__ import annotations

import json

from rave_gui.backend.system.settings import load_settings
from rave_gui.ui.dialogs.settings_dialog import SettingsDialog


def _dialog(qtbot, settings, tmp_path, **kwargs):
    dialog = SettingsDialog(
        settings, tmp_path / "rave-gui.sqlite3", settings_file=tmp_path / "s.json", **kwargs
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_check_of_a_missing_rave_shows_why(qtbot, settings, tmp_path):
    dialog = _dialog(qtbot, settings, tmp_path)
    dialog.rave_edit.setText(str(tmp_path / "no" / "rave"))
    task = dialog.check_rave()
    assert not dialog.check_button.isEnabled()
    assert dialog.check_text().startswith("Checking")
    with qtbot.waitSignal(task.done, timeout=30_000):
        pass
    assert "was not found" in dialog.check_text()
    assert "pip install acids-rave" in dialog.check_text()
    assert dialog.check_button.isEnabled()
    assert dialog.isVisible()


def test_check_of_something_that_is_not_rave(qtbot, settings, tmp_path):
    fake = tmp_path / "rave"
    fake.write_text("echo hello\n")
    fake.chmod(0o755)
    dialog = _dialog(qtbot, settings, tmp_path)
    dialog.rave_edit.setText(str(fake))
    with qtbot.waitSignal(dialog.check_rave().done, timeout=30_000):
        pass
    assert "does not look like RAVE" in dialog.check_text()


def test_check_of_the_real_rave_reports_versions(qtbot, settings, tmp_path):
    dialog = _dialog(qtbot, settings, tmp_path)
    with qtbot.waitSignal(dialog.check_rave().done, timeout=60_000):
        pass
    text = dialog.check_text()
    assert "RAVE 2.3.1" in text
    assert "torch " in text
    assert " configs" in text


def test_editing_the_path_clears_an_old_check(qtbot, settings, tmp_path):
    dialog = _dialog(qtbot, settings, tmp_path)
    dialog.rave_edit.setText("/nowhere/rave")
    with qtbot.waitSignal(dialog.check_rave().done, timeout=30_000):
        pass
    assert dialog.check_text()
    dialog.rave_edit.setText("/elsewhere/rave")
    assert dialog.check_text() == ""


def test_save_writes_the_file_and_hands_settings_over(qtbot, settings, tmp_path):
    received = []
    dialog = _dialog(qtbot, settings, tmp_path, on_saved=received.append)
    assert dialog.db_edit.isReadOnly()
    assert dialog.db_edit.text().endswith("rave-gui.sqlite3")
    dialog.runs_edit.setText(str(tmp_path / "elsewhere"))
    dialog.max_runs_spin.setValue(3)
    assert dialog.notify_check.isChecked()  # on by default
    dialog.notify_check.setChecked(False)
    dialog.save()
    assert not dialog.isVisible()
    assert received and received[0].max_concurrent_runs == 3
    saved = load_settings(tmp_path / "s.json")
    assert saved.runs_dir == str(tmp_path / "elsewhere")
    assert saved.max_concurrent_runs == 3
    assert saved.rave_executable == settings.rave_executable
    assert json.loads((tmp_path / "s.json").read_text())["use_launcher"] is True
    assert saved.notifications is False and received[0].notifications is False


def test_an_output_folder_that_is_a_file_is_refused(qtbot, settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    dialog = _dialog(qtbot, settings, tmp_path)
    dialog.runs_edit.setText(str(blocker))
    dialog.save()
    assert dialog.isVisible()
    assert "is a file" in dialog.runs_error.error()
    assert not (tmp_path / "s.json").exists()


def test_window_settings_reach_the_controller(qtbot, window, tmp_path):
    dialog = window.open_settings()
    dialog.max_runs_spin.setValue(2)
    dialog._settings_file = tmp_path / "s.json"
    dialog.save()
    assert window.controller.settings.max_concurrent_runs == 2
    assert window.settings.max_concurrent_runs == 2


def test_a_rave_the_check_rejected_is_not_saved(qtbot, settings, tmp_path):
    received = []
    dialog = _dialog(qtbot, settings, tmp_path, on_saved=received.append)
    missing = str(tmp_path / "no" / "rave")
    dialog.rave_edit.setText(missing)
    with qtbot.waitSignal(dialog.check_rave().done, timeout=30_000):
        pass
    assert "was not found" in dialog.check_text()
    dialog.save()
    assert dialog.isVisible()
    assert not (tmp_path / "s.json").exists() and received == []
    assert f"Not saved: {missing} failed its check" in dialog.save_error.error()
    # Another path (here: the working rave) is saved; the error goes as soon as it is edited.
    dialog.rave_edit.setText(settings.rave_executable)
    assert dialog.save_error.error() == ""
    dialog.save()
    assert not dialog.isVisible()
    assert load_settings(tmp_path / "s.json").rave_executable == settings.rave_executable


def test_a_path_that_was_not_checked_is_saved(qtbot, settings, tmp_path):
    dialog = _dialog(qtbot, settings, tmp_path)
    dialog.rave_edit.setText(str(tmp_path / "later" / "rave"))  # not checked: no verdict
    dialog.save()
    assert load_settings(tmp_path / "s.json").rave_executable == str(tmp_path / "later" / "rave")
