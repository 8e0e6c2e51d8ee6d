"""Where dialogs open: centred on the window they belong to, and never out of the screen (a
dialog taller than the screen, or one that grows when its work starts, keeps its title bar
on the screen)."""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, QRect
from PyQt6.QtWidgets import QApplication, QDialog, QWidget


def fit_rect(rect: QRect, area: QRect) -> QRect:
    """``rect`` moved (and shrunk if it must) to lie inside ``area``; its top-left corner,
    where the title bar is, is the part kept on screen first."""
    w, h = min(rect.width(), area.width()), min(rect.height(), area.height())
    x = max(area.left(), min(rect.left(), area.right() + 1 - w))
    y = max(area.top(), min(rect.top(), area.bottom() + 1 - h))
    return QRect(x, y, w, h)


def place_dialog(dialog: QWidget, anchor: QWidget | None = None) -> None:
    """Centre ``dialog`` on ``anchor`` (its parent's window by default), inside the screen."""
    if anchor is None:
        parent = dialog.parentWidget()
        anchor = parent.window() if parent is not None else None
    screen = (anchor or dialog).screen() or QApplication.primaryScreen()
    if screen is None:
        return
    area = screen.availableGeometry()
    frame = dialog.frameGeometry()
    extra_w = frame.width() - dialog.width()  # the window manager's frame, when known
    extra_h = frame.height() - dialog.height()
    if dialog.width() + extra_w > area.width() or dialog.height() + extra_h > area.height():
        dialog.resize(
            min(dialog.width(), area.width() - extra_w),
            min(dialog.height(), area.height() - extra_h),
        )
        frame = dialog.frameGeometry()
    if anchor is not None and anchor.isVisible():
        frame.moveCenter(anchor.frameGeometry().center())
    dialog.move(fit_rect(frame, area).topLeft())


def keep_on_screen(dialog: QWidget) -> None:
    """Move ``dialog`` back inside its screen if it grew out of it (title bar first)."""
    screen = dialog.screen() or QApplication.primaryScreen()
    if screen is None:
        return
    area = screen.availableGeometry()
    frame = dialog.frameGeometry()
    fitted = fit_rect(frame, area)
    if fitted.topLeft() != frame.topLeft():
        dialog.move(fitted.topLeft())


class DialogPlacer(QObject):
    """Installed on the application by the main window: every dialog is centred on its
    window when it opens, and kept on the screen when it grows."""

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        if event is not None and isinstance(obj, QDialog) and obj.isWindow():
            if event.type() == QEvent.Type.Show:
                place_dialog(obj)
            elif event.type() == QEvent.Type.Resize and obj.isVisible():
                keep_on_screen(obj)
        return False


def install_dialog_placer(owner: QObject) -> DialogPlacer:
    """Centre every dialog of the application from now on (for as long as ``owner`` lives)."""
    placer = DialogPlacer(owner)
    app = QApplication.instance()
    if app is not None:
        app.installEventFilter(placer)
    return placer
