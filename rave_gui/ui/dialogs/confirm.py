"""Asking the user to confirm something that cannot be undone (non-blocking)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox, QPushButton, QWidget


class ConfirmBox(QMessageBox):
    """A warning box with one action button and Cancel (the default)."""

    accept_button: QPushButton


def ask_confirmation(
    parent: QWidget,
    title: str,
    text: str,
    details: str,
    action: str,
    on_accept: Callable[[], None],
) -> ConfirmBox:
    """Open a window-modal confirmation; ``on_accept`` runs when ``action`` is clicked."""
    box = ConfirmBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    box.setInformativeText(details)
    box.accept_button = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished(_result: int) -> None:
        if box.clickedButton() is box.accept_button:
            on_accept()

    box.finished.connect(finished)
    box.open()
    return box


def tell_refused(parent: QWidget, title: str, text: str, reason: str) -> QMessageBox:
    """Say why something cannot be done (the backend's reason), with OK only: shown instead of
    a confirmation the user could only answer in vain (non-blocking)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    box.setInformativeText(reason)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
