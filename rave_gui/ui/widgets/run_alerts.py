"""A run's health alerts: a dismissible banner with the latest one and its advice, and the
run's alert history (a table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...backend.store.records import Alert
from ..models.columns import Column, key
from ..models.record_table import RecordTableModel

SEVERITY_COLORS = {"info": "#3a7bd5", "warning": "#e0a000", "error": "#d64541"}
SEVERITY_ICONS = {"info": "ℹ", "warning": "⚠", "error": "⛔"}


def _step(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


ALERT_COLUMNS: list[Column[Alert]] = [
    Column("Step", key("step"), _step, numeric=True, name="step"),
    Column("Severity", key("severity"), name="severity"),
    Column("Kind", key("kind"), name="kind"),
    Column("Message", key("message"), tooltip=lambda r: _full_text(r), name="message"),
    Column("What to do", key("advice"), tooltip=lambda r: _full_text(r), name="advice"),
]


def _full_text(alert: Alert) -> str:
    """The whole alert, for a tooltip: its long message pushes "What to do" out of sight."""
    return f"{alert.message}\n\nWhat to do: {alert.advice}" if alert.advice else alert.message


class AlertBanner(QFrame):
    """The latest alert not yet dismissed, with what to do; ``dismissed(alert_id)`` when the
    user closes it."""

    dismissed = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.alert: Alert | None = None
        self.icon = QLabel()
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # What to do: one click away, so that the banner takes two lines, not four, above the
        # plot (the advice is the banner's tooltip too)
        self.advice_button = QToolButton()
        self.advice_button.setText("What to do")
        self.advice_button.setCheckable(True)
        self.advice_button.setAutoRaise(True)
        self.advice_button.toggled.connect(self._show_advice)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss (the alert stays in the run's Alerts tab)")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self._dismiss)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.advice)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 6, 4, 6)
        lay.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        lay.addLayout(text, 1)
        lay.addWidget(self.advice_button, 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_latest(self, alerts: Sequence[Alert]) -> None:
        """Show the newest alert not dismissed (acknowledged); hide when there is none."""
        latest = next((a for a in reversed(alerts) if not a.acknowledged), None)
        self.alert = latest
        if latest is None:
            self.hide()
            return
        color = SEVERITY_COLORS.get(latest.severity, SEVERITY_COLORS["warning"])
        self.setStyleSheet(
            f"#alertBanner {{ border: 1px solid {color}; border-left: 4px solid {color};"
            " border-radius: 4px; }"
        )
        self.icon.setText(SEVERITY_ICONS.get(latest.severity, "⚠"))
        self.icon.setStyleSheet(f"color: {color}; font-size: 16px;")
        step = "" if latest.step is None else f" (step {latest.step:,})"
        self.title.setText(f"<b>{latest.kind}</b>{step}: {_escape(latest.message)}")
        self.advice.setText(latest.advice or "")
        self.setToolTip(latest.advice or "")
        self.advice_button.setVisible(bool(latest.advice))
        self.advice.setVisible(bool(latest.advice) and self.advice_button.isChecked())
        self.show()

    def _show_advice(self, shown: bool) -> None:
        self.advice.setVisible(shown and bool(self.advice.text()))

    def _dismiss(self) -> None:
        if self.alert is not None:
            alert_id = int(self.alert.id)
            self.hide()
            self.alert = None
            self.dismissed.emit(alert_id)


class AlertHistory(QTableView):
    """Every alert of a run, oldest first (the advice in the last column and as a tooltip)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_ = RecordTableModel(ALERT_COLUMNS, parent=self)
        self.setModel(self.model_)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        header = self.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def set_alerts(self, alerts: Sequence[Alert]) -> None:
        self.model_.set_records(alerts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["ALERT_COLUMNS", "AlertBanner", "AlertHistory"]
