"""Starting the app (rave_gui.app.run_gui) on a damaged database or with unusable settings:
a message box and a clean exit or a running window, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QMessageBox

from rave_gui.app import error_hook, run_gui
from rave_gui.backend.errors import DatabaseError
from rave_gui.ui.main_window import MainWindow

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))
from damaged_db import damaged_store  # noqa: E402


class BoxCloser:
    """Answers each message box the app opens (it is modal: the test cannot call in while it
    is open), recording its title and text; then runs ``then``, once, if given."""

    def __init__(self, then: Callable[[], None] | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self.then = then
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            self.seen.append((box.windowTitle(), box.text()))
            box.done(0)
        elif self.then is not None and self.seen:
            then, self.then = self.then, None
            then()

    def stop(self) -> None:
        self.timer.stop()


def _main_windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]


def test_a_damaged_database_at_start_is_a_message_and_a_clean_exit(
    qapp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = damaged_store(tmp_path / "damaged.sqlite3", "experiments")
    closer = BoxCloser()
    try:
        code = run_gui(["--db", str(db)])
    finally:
        closer.stop()
    assert code == 1
    expected = (
        f"The database {db} is damaged (database disk image is malformed): restore a backup "
        "of it, or start a new database with --db."
    )
    assert closer.seen == [("rave-gui cannot start", expected)]
    err = capsys.readouterr().err
    assert f"rave-gui: error: {expected}\n" in err and "Traceback" not in err
    assert not any(w.isVisible() for w in _main_windows())


def test_an_empty_db_flag_is_a_message(qapp, capsys: pytest.CaptureFixture[str]) -> None:
    closer = BoxCloser()
    try:
        assert run_gui(["--db", ""]) == 1
    finally:
        closer.stop()
    assert closer.seen == [
        ("rave-gui cannot start", "--db needs a path (the database file to open).")
    ]
    assert "Traceback" not in capsys.readouterr().err


def test_unusable_settings_are_shown_and_a_database_error_later_is_a_message(
    qapp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Path(os.environ["RAVE_GUI_DATA"]) / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"rave_executable": 5, "max_concurrent_runs": 2}))

    def fail_in_a_slot() -> None:  # what a timer reading a damaged database meets
        raise DatabaseError("The database x is damaged (test): restore a backup of it.")

    def after_warning() -> None:
        closer.then = close_window  # the next box answered: close the window
        QTimer.singleShot(0, fail_in_a_slot)

    def close_window() -> None:
        for w in _main_windows():
            w.close()

    closer = BoxCloser(then=after_warning)
    hook_before = sys.excepthook
    try:
        code = run_gui(["--db", str(tmp_path / "ok.sqlite3")])
    finally:
        closer.stop()
    assert code == 0
    warning = (
        f"In {settings}: rave_executable must be the path of the rave executable (text), "
        'not 5. Using the default ("").'
    )
    assert closer.seen == [
        ("rave-gui settings", warning),
        ("rave-gui", "The database x is damaged (test): restore a backup of it."),
    ]
    err = capsys.readouterr().err
    assert f"rave-gui: warning: {warning}\n" in err
    assert "rave-gui: error: The database x is damaged (test)" in err
    assert "Traceback" not in err
    assert sys.excepthook is hook_before  # the app's hook lives only while it runs


def test_the_error_hook_passes_other_exceptions_on(qapp) -> None:
    passed: list[BaseException] = []
    hook = error_hook("db.sqlite3", lambda kind, err, tb: passed.append(err))
    err = ValueError("a bug")
    hook(ValueError, err, None)
    assert passed == [err]
