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
    from PyQt6.QtWidgets import QApplication, QMessageBox

    from .backend.errors import RaveGuiError
    from .backend.manager import TrainingManager
    from .backend.paths import resolve_db_path

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("rave-gui")
    app.setOrganizationName("rave-gui")
    try:
        manager = TrainingManager(resolve_db_path(args.db))
    except RaveGuiError as err:
        QMessageBox.critical(None, "rave-gui cannot start", str(err))
        return 1
    from .ui.main_window import MainWindow

    window = MainWindow(manager)
    window.show()
    return app.exec()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .cli import main as cli_main
    from .cli import wants_cli

    if wants_cli(argv):
        return cli_main(argv)
    if os.environ.get("RAVE_GUI_NO_WINDOW"):
        return 0
    return run_gui(argv)
