"""The rave-gui command line: the same experiment store as the app, without a window."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..backend.errors import RaveGuiError
from . import datasets, desktop, diagnose, export, projects, reconstruct, runs, train

COMMANDS = ("runs", "train", "projects", "datasets", "export", "diagnose", "reconstruct")
OPTIONS = ("--version", "-h", "--help", "--install-desktop-entry", "--uninstall-desktop-entry")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rave-gui",
        description="Train, watch and compare RAVE models. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"rave-gui {__version__}")
    desktop.add_options(parser)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        metavar="PATH",
        help="experiment database (default: $RAVE_GUI_DB or the user data folder)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (runs, train, projects, datasets, export, diagnose, reconstruct):
        command.add_parser(sub, [db])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args, sys.stdout) or 0)
    except RaveGuiError as err:
        sys.stderr.write(f"rave-gui: error: {err}\n")
        return 1
    except sqlite3.Error as err:  # the backend reports these itself; the last line of defence
        sys.stderr.write(f"rave-gui: error: {_sqlite_message(args, err)}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _sqlite_message(args: argparse.Namespace, err: sqlite3.Error) -> str:
    from ..backend.store.db import database_error
    from ..backend.system.paths import resolve_db_path

    try:
        path = resolve_db_path(getattr(args, "db", None))
    except RaveGuiError:
        path = Path(str(getattr(args, "db", "")))
    return str(database_error(path, err))


def wants_cli(argv: Sequence[str]) -> bool:
    """True when the arguments ask for a command-line action rather than the window."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in OPTIONS)
