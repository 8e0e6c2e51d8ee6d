"""StatusDelegate: draws an experiment's status as a coloured badge in a table cell."""

from __future__ import annotations

from PyQt6.QtCore import QModelIndex, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFontMetrics, QPainter
from PyQt6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ...backend.status import RunStatus
from ..models.roles import Role

# One colour per status, readable on light and dark palettes alike (text colour is chosen by
# the badge's lightness).
STATUS_COLORS: dict[str, str] = {
    RunStatus.QUEUED: "#7f8c8d",
    RunStatus.RUNNING: "#1f7ae0",
    RunStatus.PAUSED: "#e0a800",
    RunStatus.STOPPING: "#e67e22",
    RunStatus.COMPLETED: "#23a55a",
    RunStatus.STOPPED: "#8a7fb8",
    RunStatus.FAILED: "#d64541",
}

_PAD_X = 8
_PAD_Y = 2
_MARGIN = 4


def status_color(status: str) -> QColor:
    return QColor(STATUS_COLORS.get(status, "#95a5a6"))


def badge_text_color(background: QColor) -> QColor:
    """Black or white, whichever reads better on ``background``."""
    r, g, b = background.redF(), background.greenF(), background.blueF()
    luminance = 0.299 * r + 0.587 * g + 0.114 * b
    return QColor("#1b1b1b") if luminance > 0.62 else QColor("#ffffff")


class StatusDelegate(QStyledItemDelegate):
    """Paints the status text of Role.STATUS inside a rounded, coloured badge."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        status = index.data(Role.STATUS)  # the model gives the raw status string here
        if not status:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)

        text = str(index.data(Qt.ItemDataRole.DisplayRole) or status)
        fm = QFontMetrics(opt.font)
        w = fm.horizontalAdvance(text) + 2 * _PAD_X
        h = fm.height() + 2 * _PAD_Y
        r = opt.rect
        badge = QRectF(
            r.left() + _MARGIN, r.top() + (r.height() - h) / 2, min(w, r.width() - 2 * _MARGIN), h
        )
        if w > badge.width():  # a narrow column: the text ends in "…" inside its badge
            room = max(0, int(badge.width()) - 2 * _PAD_X)
            text = fm.elidedText(text, Qt.TextElideMode.ElideRight, room)
        color = status_color(status)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(badge, h / 2, h / 2)
        painter.setPen(badge_text_color(color))
        painter.setFont(opt.font)
        painter.drawText(badge, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        base = super().sizeHint(option, index)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        fm = QFontMetrics(option.font)
        return QSize(
            max(base.width(), fm.horizontalAdvance(text) + 2 * (_PAD_X + _MARGIN)),
            max(base.height(), fm.height() + 2 * _PAD_Y + 4),
        )
