"""The rave-gui command line: the same experiment store as the app, without a window."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..backend.errors import RaveGuiError
from . import datasets, desktop, diagnose, export, projects, reconstruct, runs, targets, train

COMMANDS = (
    "runs", "train", "projects", "datasets", "export", "diagnose", "reconstruct", "targets",
)  # fmt: skip
OPTIONS = ("--version", "-h", "--help", "--install-desktop-entry", "--uninstall-desktop-entry")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rave-gui",
        description="Train, watch and compare RAVE models. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"rave-gui {__version__}")
    desktop.add_options(parser)
    db_help = "experiment database (default: $RAVE_GUI_DB or the user data folder)"
    # --db goes before the command or after it: the command's own --db is set only when given
    # there (SUPPRESS), so it never hides one given before the command.
    parser.add_argument("--db", metavar="PATH", help=db_help)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (runs, train, projects, datasets, export, diagnose, reconstruct, targets):
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


GLOBAL_OPTIONS = ("--db",)  # options taking a value, accepted before the command too


def wants_cli(argv: Sequence[str]) -> bool:
    """True when the arguments ask for a command-line action rather than the window (global
    options such as ``--db PATH`` may come first: ``rave-gui --db X runs list``)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in GLOBAL_OPTIONS:
            i += 2
        elif arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg:
            i += 1
        else:
            return arg in COMMANDS or arg in OPTIONS
    return False
