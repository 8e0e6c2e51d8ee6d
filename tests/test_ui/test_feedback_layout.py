"""Error and help texts under fields: they wrap (long paths too), are never cut, keep their
space so the fields below do not move, and clear when the input is fixed."""

from __future__ import annotations

from PyQt6.QtWidgets import QDialog, QLineEdit, QVBoxLayout

from rave_gui.ui.dialogs.register_dataset import RegisterDatasetDialog
from rave_gui.ui.dialogs.settings_dialog import SettingsDialog
from rave_gui.ui.widgets.feedback import FieldError, wrappable

LONG_PATH = "/home/someone/very/long/folder/names/that/go/on/and/on/datasets/cello/metadata.yaml"


def _form(qtbot):
    dialog = QDialog()
    edit, below = QLineEdit(), QLineEdit()
    error = FieldError(dialog)
    layout = QVBoxLayout(dialog)
    layout.addWidget(edit)
    layout.addWidget(error)
    layout.addWidget(below)
    dialog.resize(300, 120)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog, edit, error, below


def _settle(qtbot):
    qtbot.wait(20)


def test_an_error_line_keeps_its_space_and_fields_do_not_move(qtbot):
    _dialog, _edit, error, below = _form(qtbot)
    _settle(qtbot)
    y = below.y()
    error.set_error("Must be at least 1.")
    _settle(qtbot)
    assert below.y() == y  # a one-line error takes the line kept for it
    error.set_error(None)
    _settle(qtbot)
    assert below.y() == y and error.error() == ""


def test_a_long_error_wraps_and_is_not_cut(qtbot):
    dialog, _edit, error, below = _form(qtbot)
    text = f"No metadata.yaml in this folder: {LONG_PATH} is not a preprocessed dataset."
    error.set_error(text)
    _settle(qtbot)
    assert error.error() == text  # as given, without the wrap points
    lines = error.height() // error.fontMetrics().lineSpacing()
    assert lines >= 3  # wrapped, the path too
    assert error.height() >= error.heightForWidth(error.width())  # all of it shown
    assert error.width() <= dialog.width()
    assert below.geometry().top() >= error.geometry().bottom()  # nothing under it
    assert "\u200b" in wrappable(LONG_PATH) and wrappable("short words") == "short words"


def test_watch_clears_the_error_when_the_input_changes(qtbot):
    _dialog, edit, error, _below = _form(qtbot)
    error.watch(edit)
    error.set_error("Not a number.")
    qtbot.keyClicks(edit, "4")
    assert error.error() == ""


def test_register_dataset_error_clears_when_the_path_is_edited(qtbot, manager, tmp_path):
    pid = manager.projects.create("p")
    dialog = RegisterDatasetDialog(manager, pid, path=str(tmp_path / "nothing" / "here"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.path_error.error() != ""
    height = dialog.path_error.height()
    assert height >= dialog.path_error.heightForWidth(dialog.path_error.width())
    qtbot.keyClicks(dialog.path_edit, "x")
    assert dialog.path_error.error() == ""


def test_settings_check_answer_is_not_cut(qtbot, settings, tmp_path):
    dialog = SettingsDialog(settings, tmp_path / "db.sqlite3", settings_file=tmp_path / "s.json")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    before = dialog.height()
    dialog.check_label.set_error(
        f"✓ acids-rave 2.3.1, torch 2.5.1 (CPU only), 14 configurations ({LONG_PATH}/bin/rave)"
    )
    _settle(qtbot)
    label = dialog.check_label
    assert label.height() >= label.heightForWidth(label.width())
    assert label.geometry().right() <= dialog.width()
    assert dialog.height() >= before
    dialog.grab().save("/tmp/h15l/settings_check.png")
