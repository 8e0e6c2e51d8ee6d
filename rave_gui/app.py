"""Application entry: the window (QApplication, settings, main window) or a CLI action."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any


def _gui_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rave-gui", description="rave-gui desktop app")
    parser.add_argument("--db", metavar="PATH", help="experiment database to open")
    args, _qt_args = parser.parse_known_args(argv)
    return args


def _message(err: BaseException, db_path: Any) -> str:
    """What to tell the user about a RaveGuiError, or an SQLite error the backend let through."""
    if isinstance(err, sqlite3.Error):
        from pathlib import Path

        from .backend.store.db import database_error

        return str(database_error(Path(str(db_path)), err))
    return str(err)


def error_hook(db_path: Any, previous: Callable[..., Any]) -> Callable[..., None]:
    """A sys.excepthook for the running app: a database or other rave-gui error raised in a
    timer or slot is shown in a message box (one at a time; the same error raised again by a
    timer while it is open goes to stderr) instead of ending the app. Any other exception
    goes to ``previous``."""
    from PyQt6.QtWidgets import QApplication, QMessageBox

    from .backend.errors import RaveGuiError

    showing = [False]

    def hook(kind: type[BaseException], err: BaseException, tb: TracebackType | None) -> None:
        if not isinstance(err, RaveGuiError | sqlite3.Error):
            previous(kind, err, tb)
            return
        text = _message(err, db_path)
        sys.stderr.write(f"rave-gui: error: {text}\n")
        if showing[0]:
            return
        showing[0] = True
        try:
            QMessageBox.critical(QApplication.activeWindow(), "rave-gui", text)
        finally:
            showing[0] = False

    return hook


def _cannot_start(text: str) -> int:
    from PyQt6.QtWidgets import QMessageBox

    sys.stderr.write(f"rave-gui: error: {text}\n")
    QMessageBox.critical(None, "rave-gui cannot start", text)
    return 1


def run_gui(argv: Sequence[str]) -> int:
    args = _gui_args(argv)
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication, QMessageBox

    from . import __version__
    from .backend.errors import RaveGuiError
    from .backend.manager import TrainingManager
    from .backend.system.paths import resolve_db_path
    from .backend.system.settings import read_settings

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("rave-gui")
    app.setOrganizationName("rave-gui")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("rave-gui")
    from .ui.icons import app_icon

    app.setWindowIcon(app_icon())  # every window and dialog shows it
    db_path = args.db
    try:
        db_path = resolve_db_path(args.db)
        manager = TrainingManager(db_path)
    except RaveGuiError as err:
        return _cannot_start(str(err))
    from .core.controller import RunController
    from .core.signals import AppSignals
    from .ui.main_window import MainWindow

    signals = AppSignals()
    settings, warnings = read_settings()
    controller = RunController(manager, signals, settings)
    try:
        window = MainWindow(manager, controller, signals, settings)
    except (RaveGuiError, sqlite3.Error) as err:
        # The file opened but its contents cannot be read (a damaged database).
        controller.shutdown(False)
        manager.close()
        return _cannot_start(_message(err, db_path))
    window.show()
    # Re-attach to runs that outlived the last session once the window is on screen.
    QTimer.singleShot(0, controller.attach_existing)
    if warnings:
        text = "\n\n".join(warnings)
        sys.stderr.write("".join(f"rave-gui: warning: {w}\n" for w in warnings))
        QTimer.singleShot(0, lambda w=window: QMessageBox.warning(w, "rave-gui settings", text))
    previous_hook = sys.excepthook
    sys.excepthook = error_hook(db_path, previous_hook)
    try:
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
    # Delete the widgets before the interpreter's exit cleanup (PyQt may crash otherwise).
    window.deleteLater()
    del window
    app.processEvents()
    manager.close()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .cli import main as cli_main
    from .cli import wants_cli

    if wants_cli(argv):
        return cli_main(argv)
    if os.environ.get("RAVE_GUI_NO_WINDOW"):
        return 0
    return run_gui(argv)
