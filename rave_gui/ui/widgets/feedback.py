"""Telling the user what went wrong where they acted: a field's error label, a page's bar."""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QRect, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPalette, QResizeEvent
from PyQt6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
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


# Where a long word (a path, a gin key) may wrap: after these, a zero-width space.
_BREAK_AFTER = str.maketrans({c: c + "\u200b" for c in "/\\_.,=:"})
_ZWSP = "\u200b"


def wrappable(text: str) -> str:
    """``text`` with wrap points inside its long words (paths...): a word-wrapped label
    otherwise cuts a word wider than itself."""
    return " ".join(w.translate(_BREAK_AFTER) if len(w) > 24 else w for w in text.split(" "))


class WrappedLabel(QLabel):
    """A word-wrapped plain-text label that is never cut: long words (paths) wrap too, and
    its height follows its text at its width, a minimum the layouts pass up to the window,
    which grows rather than cut it (a window's layout does not do that for wrapped text).
    ``text()`` is the text as given (what is shown holds zero-width wrap points)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._reserve = False
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.setText(text)

    def setText(self, text: str | None) -> None:
        self._text = text or ""
        super().setText(wrappable(self._text))
        self._fit()

    set_text = setText

    def text(self) -> str:
        return self._text

    def _fit(self) -> None:
        """The height the text needs at the label's width (a line when empty and reserved)."""
        metrics = self.fontMetrics()
        line = metrics.lineSpacing()
        laid_out = self.isVisible() or self.testAttribute(Qt.WidgetAttribute.WA_Resized)
        width = self.width() if laid_out else self.sizeHint().width()
        if width < 4 * line:  # not laid out yet (squeezed to nothing): no absurd height
            width = self.sizeHint().width()
        m = self.contentsMargins()
        box = QRect(0, 0, max(1, width - m.left() - m.right()), 1 << 20)
        flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
        need = metrics.boundingRect(box, flags, QLabel.text(self)).height() + m.top() + m.bottom()
        self.setMinimumHeight(max(line, need) if self._text or self._reserve else 0)

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        if event is not None and event.oldSize().width() != event.size().width():
            self._fit()


class FieldError(WrappedLabel):
    """A line of text under a field, saying why its value cannot be used (or, with another
    kind, a note or a check's answer); wrapped and never cut (see WrappedLabel). With
    ``reserve`` (the default) an empty one keeps a line's height, so the fields below do not
    move when a message appears; ``watch(field)`` clears it when the user edits that field."""

    def __init__(
        self, parent: QWidget | None = None, kind: str = ERROR, *, reserve: bool = True
    ) -> None:
        super().__init__("", parent)
        self._kind = kind
        self._reserve = reserve
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setObjectName("fieldError")
        self._apply_colour()
        self.setVisible(reserve)
        self._fit()

    def set_kind(self, kind: str) -> None:
        self._kind = kind
        self._apply_colour()

    def set_error(self, text: str | None) -> None:
        """Show ``text`` (or clear the label when it is empty or None)."""
        self.setText(text or "")
        self.setToolTip(self._text if len(self._text) > 80 else "")
        self.setVisible(bool(text) or self._reserve)
        self._fit()

    def error(self) -> str:
        """The message shown, "" when there is none."""
        return "" if self.isHidden() else self._text

    def watch(self, *fields: QWidget) -> None:
        """Clear the message as soon as the user edits one of ``fields`` (what it said was
        about the value being changed)."""
        for field in fields:
            for name in ("textEdited", "valueChanged", "currentIndexChanged", "textChanged"):
                signal = getattr(field, name, None)
                if signal is not None:
                    signal.connect(lambda *_a: self.set_error(None))
                    break

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
