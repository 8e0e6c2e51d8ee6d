"""Application entry: the window (QApplication, settings, main window) or a CLI action."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _gui_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rave-gui", description="rave-gui desktop app")
    parser.add_argument("--db", metavar="PATH", help="experiment database to open")
    args, _qt_args = parser.parse_known_args(argv)
    return args


def run_gui(argv: Sequence[str]) -> int:
    args = _gui_args(argv)
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication, QMessageBox

    from . import __version__
    from .backend.errors import RaveGuiError
    from .backend.manager import TrainingManager
    from .backend.paths import resolve_db_path
    from .backend.settings import load_settings

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("rave-gui")
    app.setOrganizationName("rave-gui")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("rave-gui")
    from .ui.icons import app_icon

    app.setWindowIcon(app_icon())  # every window and dialog shows it
    try:
        manager = TrainingManager(resolve_db_path(args.db))
    except RaveGuiError as err:
        QMessageBox.critical(None, "rave-gui cannot start", str(err))
        return 1
    from .core.controller import RunController
    from .core.signals import AppSignals
    from .ui.main_window import MainWindow

    signals = AppSignals()
    settings = load_settings()
    controller = RunController(manager, signals, settings)
    window = MainWindow(manager, controller, signals, settings)
    window.show()
    # Re-attach to runs that outlived the last session once the window is on screen.
    QTimer.singleShot(0, controller.attach_existing)
    code = app.exec()
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
