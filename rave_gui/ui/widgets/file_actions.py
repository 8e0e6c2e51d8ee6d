"""Showing a folder or a file in the desktop's file manager, and copying a path."""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QUrl
from PyQt6.QtGui import QDesktopServices, QGuiApplication


def open_folder(path: str | os.PathLike[str]) -> bool:
    """Open a folder in the file manager; False when it is not there (or nothing opens it)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return False
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def reveal(path: str | os.PathLike[str]) -> bool:
    """Show a file in the file manager: its folder opens (selecting the file itself is not
    something every file manager can be asked for)."""
    return open_folder(Path(path).expanduser().parent)


def copy_path(path: str | os.PathLike[str]) -> None:
    """Put a path on the clipboard."""
    clipboard = QGuiApplication.clipboard()
    if clipboard is not None:
        clipboard.setText(str(path))


__all__ = ["copy_path", "open_folder", "reveal"]
