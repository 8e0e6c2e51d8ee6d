"""`rave-gui --install-desktop-entry` / `--uninstall-desktop-entry`: the application launcher."""

from __future__ import annotations

import argparse
from typing import IO


def cmd_install_desktop_entry(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.system.desktop import install_desktop_entry

    written = install_desktop_entry()
    out.write(f"rave-gui is in the application launcher: {written[-1]}\n")
    for path in written[:-1]:
        out.write(f"  icon: {path}\n")
    return 0


def cmd_uninstall_desktop_entry(args: argparse.Namespace, out: IO[str]) -> int:
    from ..backend.system.desktop import entry_path, uninstall_desktop_entry

    removed = uninstall_desktop_entry()
    if not removed:
        out.write(f"No rave-gui desktop entry to remove ({entry_path()} does not exist).\n")
    for path in removed:
        out.write(f"removed {path}\n")
    return 0


def add_options(parser: argparse.ArgumentParser) -> None:
    """The two options, of which one at most is given."""
    desktop = parser.add_mutually_exclusive_group()
    desktop.add_argument(
        "--install-desktop-entry",
        dest="func",
        action="store_const",
        const=cmd_install_desktop_entry,
        help="add rave-gui to this user's application launcher ($XDG_DATA_HOME) and exit",
    )
    desktop.add_argument(
        "--uninstall-desktop-entry",
        dest="func",
        action="store_const",
        const=cmd_uninstall_desktop_entry,
        help="remove what --install-desktop-entry added and exit",
    )
