"""Puts rave-gui in the desktop's application launcher for this user, and takes it out again
(``rave-gui --install-desktop-entry`` / ``--uninstall-desktop-entry``). No Qt.

Follows the freedesktop.org specifications: the entry goes to
``$XDG_DATA_HOME/applications/rave-gui.desktop`` and the icon to the hicolor theme,
``$XDG_DATA_HOME/icons/hicolor/<N>x<N>/apps/rave-gui.png`` and ``.../scalable/apps/rave-gui.svg``
(``$XDG_DATA_HOME`` defaults to ``~/.local/share``). Desktops watch these folders, so the
launcher shows rave-gui without logging out.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import DesktopEntryError
from .resources import (
    APP_ICON_SIZES,
    APP_ID,
    app_icon_png,
    app_icon_svg,
    checkout_root,
    desktop_entry_template,
)

DESKTOP_FILE = f"{APP_ID}.desktop"
FREEDESKTOP_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos")

# Characters that make an Exec argument need quoting (the Desktop Entry Specification's list).
_RESERVED = re.compile(r"[\s\"'\\><~|&;$*?#()`]")


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset or not absolute (the XDG Base
    Directory Specification says to ignore a relative one)."""
    env = os.environ.get("XDG_DATA_HOME", "")
    return Path(env) if env and os.path.isabs(env) else Path.home() / ".local" / "share"


def entry_path(data_home: Path | None = None) -> Path:
    """Where the desktop entry goes."""
    return (data_home or xdg_data_home()) / "applications" / DESKTOP_FILE


def icon_paths(data_home: Path | None = None) -> list[Path]:
    """Where the icon goes in the hicolor theme: one PNG per size of APP_ICON_SIZES, then the
    SVG (the order of ``_bundled_icons``)."""
    icons = (data_home or xdg_data_home()) / "icons" / "hicolor"
    paths = [icons / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in APP_ICON_SIZES]
    paths.append(icons / "scalable" / "apps" / f"{APP_ID}.svg")
    return paths


def _bundled_icons() -> list[Path]:
    return [*(app_icon_png(s) for s in APP_ICON_SIZES), app_icon_svg()]


def launch_command() -> list[str]:
    """The command that starts this copy of rave-gui from anywhere: ``python main.py`` in a
    source checkout, else the ``rave-gui`` script installed beside this Python, else
    ``python -m rave_gui``. Absolute paths, so the desktop's PATH does not matter."""
    root = checkout_root()
    if root is not None:
        return [sys.executable, str(root / "main.py")]
    script = Path(sys.executable).with_name(APP_ID)
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "rave_gui"]


def exec_value(argv: Sequence[str]) -> str:
    """``argv`` as the value of an Exec key: arguments with reserved characters in double
    quotes (with ``"``, `````, ``$`` and ``\\`` escaped), ``%`` doubled, then the string-level
    escaping of backslashes that every desktop-entry value gets."""
    words = []
    for arg in argv:
        if not arg or _RESERVED.search(arg):
            arg = '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'
        words.append(arg.replace("%", "%%"))
    return " ".join(words).replace("\\", "\\\\")


def desktop_entry(command: Sequence[str] | None = None) -> str:
    """The bundled entry with its Exec key set to ``command`` (default: ``launch_command()``)."""
    text = desktop_entry_template().read_text(encoding="utf-8")
    exec_line = "Exec=" + exec_value(command or launch_command())
    text, n = re.subn(r"(?m)^Exec=.*$", lambda _m: exec_line, text, count=1)
    if n != 1:
        raise DesktopEntryError(f"The bundled {DESKTOP_FILE} has no Exec key. Reinstall rave-gui.")
    return text


def install_desktop_entry(
    data_home: Path | None = None, command: Sequence[str] | None = None
) -> list[Path]:
    """Copy the icons and write the entry (replacing older copies); returns the files written.
    NotFoundError if this installation lacks a resource, DesktopEntryError if a file cannot be
    written."""
    if not sys.platform.startswith(FREEDESKTOP_PLATFORMS):
        raise DesktopEntryError(
            "Desktop entries are for Linux and BSD desktops (freedesktop.org); on this system "
            "start rave-gui with the rave-gui command."
        )
    text = desktop_entry(command)
    pairs = list(zip(_bundled_icons(), icon_paths(data_home), strict=True))
    entry = entry_path(data_home)
    written = []
    try:
        for source, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.append(target)
        # The entry last, through a temporary file: a launcher never sees an entry whose icon
        # is not there yet, nor half an entry.
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_name(f".{entry.name}.part")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, entry)
        written.append(entry)
    except OSError as err:
        where = err.filename or entry.parent
        raise DesktopEntryError(f"Cannot write {where}: {err.strerror or err}.") from err
    return written


def uninstall_desktop_entry(data_home: Path | None = None) -> list[Path]:
    """Remove the entry and the icons that ``install_desktop_entry`` wrote; returns the files
    removed (none when nothing was installed). Folders and other apps' files stay."""
    removed = []
    for target in [entry_path(data_home), *icon_paths(data_home)]:
        try:
            target.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise DesktopEntryError(f"Cannot remove {target}: {err.strerror or err}.") from err
        removed.append(target)
    return removed


__all__ = [
    "DESKTOP_FILE",
    "desktop_entry",
    "entry_path",
    "exec_value",
    "icon_paths",
    "install_desktop_entry",
    "launch_command",
    "uninstall_desktop_entry",
    "xdg_data_home",
]
