"""Telling the user what went wrong where they acted: a field's error label, a page's bar."""

from __future__ import annotations

from PyQt6.QtCore import QEvent, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QStyle,
    QToolButton,
    QWidget,
)

ERROR, WARNING, INFO = "error", "warning", "info"

# (light palette, dark palette) accent colours: dark enough on white, light enough on near-black.
_ACCENTS = {
    ERROR: ("#b3261e", "#ff8a80"),
    WARNING: ("#8a5300", "#ffcc80"),
    INFO: ("#0b57d0", "#8ab4f8"),
    "ok": ("#1b6e20", "#a5d6a7"),
}


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def accent(palette: QPalette, kind: str) -> QColor:
    """The text colour for ``kind`` (error/warning/info/ok) readable on this palette."""
    light, dark = _ACCENTS[kind]
    return QColor(dark if is_dark(palette) else light)


def tint(palette: QPalette, kind: str, amount: float = 0.16) -> QColor:
    """The window colour mixed with ``kind``'s accent: a background that keeps text readable."""
    base = palette.color(QPalette.ColorRole.Window)
    acc = accent(palette, kind)
    mix = [
        round(b * (1 - amount) + a * amount)
        for b, a in zip(base.getRgb()[:3], acc.getRgb()[:3], strict=True)
    ]
    return QColor(*mix)


class FieldError(QLabel):
    """A red line of text under a field, saying why its value cannot be used; hidden when
    there is nothing to say."""

    def __init__(self, parent: QWidget | None = None, kind: str = ERROR) -> None:
        super().__init__(parent)
        self._kind = kind
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setObjectName("fieldError")
        self._apply_colour()
        self.hide()

    def set_kind(self, kind: str) -> None:
        self._kind = kind
        self._apply_colour()

    def set_error(self, text: str | None) -> None:
        """Show ``text`` (or hide the label when it is empty or None)."""
        self.setText(text or "")
        self.setVisible(bool(text))

    def error(self) -> str:
        """The message shown, "" when there is none."""
        return "" if self.isHidden() else self.text()

    def _apply_colour(self) -> None:
        pal = self.palette()
        pal.setColor(QPalette.ColorRole.WindowText, accent(pal, self._kind))
        self.setPalette(pal)

    def changeEvent(self, event: QEvent | None) -> None:
        super().changeEvent(event)
        if event is not None and event.type() == QEvent.Type.ApplicationPaletteChange:
            self._apply_colour()


class MessageBar(QFrame):
    """A dismissible message across the top of a page (an error, a warning or a notice)."""

    dismissed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kind = INFO
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 4, 6)
        self._icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setAutoRaise(True)
        close.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        close.setToolTip("Dismiss")
        close.clicked.connect(self._dismiss)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, kind: str = ERROR) -> None:
        self._kind = kind
        icon = {
            ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
            WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
        }.get(kind, QStyle.StandardPixmap.SP_MessageBoxInformation)
        self._icon.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))
        self.label.setText(text)
        self._apply_colours()
        self.show()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""

    def clear(self) -> None:
        self.label.clear()
        self.hide()

    def _dismiss(self) -> None:
        self.clear()
        self.dismissed.emit()

    def _apply_colours(self) -> None:
        pal = QPalette(self.parentWidget().palette() if self.parentWidget() else QPalette())
        pal.setColor(QPalette.ColorRole.Window, tint(pal, self._kind))
        self.setPalette(pal)

    def changeEvent(self, event: QEvent | None) -> None:
        super().changeEvent(event)
        if event is not None and event.type() == QEvent.Type.ApplicationPaletteChange:
            self._apply_colours()
