"""RunNotifier: the tray icon (its tooltip counts the active runs) and a desktop notification
when a run completes, fails or raises an ``error`` alert. What to say is decided in
rave_gui/backend/runs/notices.py; this shows it. Where the desktop has no tray (offscreen, some
Linux desktops) nothing is shown and nothing breaks; ``shown`` records every notice either way."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject
from PyQt6.QtWidgets import QSystemTrayIcon

from ..backend.errors import RaveGuiError
from ..backend.manager import TrainingManager
from ..backend.runs.notices import Notice, alert_notice, run_ended_notice, tray_tooltip
from ..core.signals import AppSignals
from .icons import app_icon

_ICONS = {
    "info": QSystemTrayIcon.MessageIcon.Information,
    "warning": QSystemTrayIcon.MessageIcon.Warning,
    "error": QSystemTrayIcon.MessageIcon.Critical,
}
MESSAGE_MS = 10_000


class RunNotifier(QObject):
    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals,
        enabled: bool,
        on_activated: Callable[[], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.enabled = False
        self.tray: QSystemTrayIcon | None = None
        self.shown: list[Notice] = []
        self._active = 0
        self._on_activated = on_activated
        signals.run_completed.connect(lambda i, text: self._ended(i, "completed", text))
        signals.run_failed.connect(lambda i, text: self._ended(i, "failed", text))
        signals.run_alerts.connect(self._alerts)
        self.set_enabled(enabled)

    # --- settings and the tray -----------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        """Turn notifications on or off (the settings' ``notifications``): the tray icon comes
        and goes with them."""
        self.enabled = bool(enabled)
        if self.enabled and self.tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.activated.connect(self._tray_activated)
            self.tray.setToolTip(tray_tooltip(self._active))
            self.tray.show()
        elif not self.enabled and self.tray is not None:
            self.tray.hide()
            self.tray.deleteLater()
            self.tray = None

    def set_active(self, active: int) -> None:
        """The number of active runs, for the tray's tooltip."""
        self._active = active
        if self.tray is not None:
            self.tray.setToolTip(tray_tooltip(active))

    def tooltip(self) -> str:
        return tray_tooltip(self._active)

    def shutdown(self) -> None:
        if self.tray is not None:
            self.tray.hide()

    def _tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger and self._on_activated is not None:
            self._on_activated()

    # --- notices -------------------------------------------------------------------------------
    def notify(self, notice: Notice | None) -> None:
        """Show a notice (recorded in ``shown``) unless notifications are off."""
        if notice is None or not self.enabled:
            return
        self.shown.append(notice)
        if self.tray is not None and self.tray.supportsMessages():
            icon = _ICONS.get(notice.level, QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(notice.title, notice.message, icon, MESSAGE_MS)

    def _name(self, experiment_id: int) -> str:
        try:
            return self.manager.get_experiment(experiment_id).name
        except RaveGuiError:
            return f"run {experiment_id}"

    def _ended(self, experiment_id: int, status: str, text: str) -> None:
        if self.enabled:
            self.notify(run_ended_notice(self._name(experiment_id), status, text))

    def _alerts(self, experiment_id: int, alerts: list) -> None:
        if self.enabled:
            self.notify(alert_notice(self._name(experiment_id), alerts))


__all__ = ["RunNotifier"]
