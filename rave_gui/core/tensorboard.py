"""TensorBoardLauncher: "Open in TensorBoard" for chosen runs, from the app.

Plans and starts `tensorboard` (backend/system/tensorboard.py) off the GUI thread, waits until its
port answers, then opens the browser. Every server it started is stopped at ``shutdown`` (the
page calls it when the window closes) and when the application quits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtCore import QCoreApplication, QObject, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices

from ..backend.manager import TrainingManager
from ..backend.system import tensorboard as tb
from ..backend.system.settings import Settings
from .worker import run_in_background


class TensorBoardLauncher(QObject):
    """``opened(url)`` once a TensorBoard serves the runs (the browser is opened then, unless
    ``open_browser`` is False); ``failed(message)`` with what went wrong, for a person."""

    opened = pyqtSignal(str)
    failed = pyqtSignal(str)
    starting = pyqtSignal(str)  # what is being started, for a status line

    def __init__(
        self,
        manager: TrainingManager,
        settings: Settings | Callable[[], Settings],
        parent: QObject | None = None,
        *,
        open_browser: bool = True,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self._settings = settings
        self.open_browser = open_browser
        self.servers: list[tb.TensorBoardServer] = []
        self._shut_down = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def settings(self) -> Settings:
        return self._settings() if callable(self._settings) else self._settings

    def open_runs(self, ids: Sequence[int]) -> None:
        """Serve the runs ``ids`` in a new TensorBoard and open it in the browser."""
        ids = list(ids)
        if not ids:
            self.failed.emit("Choose at least one run to open in TensorBoard.")
            return
        settings = self.settings()
        manager = self.manager
        self.starting.emit(f"Starting TensorBoard for {len(ids)} run(s)…")

        def work() -> tb.TensorBoardServer:
            plan = tb.plan_for(tb.run_folders(manager, ids), settings)
            server = tb.start(plan)
            try:
                server.wait_until_serving()
            except BaseException:
                server.stop()
                raise
            return server

        run_in_background(work, self._started, self._failed)

    def _started(self, server: tb.TensorBoardServer) -> None:
        if self._shut_down:  # the app closed meanwhile
            server.stop()
            return
        self.servers.append(server)
        if self.open_browser:
            QDesktopServices.openUrl(QUrl(server.url))
        self.opened.emit(server.url)

    def _failed(self, err: Exception) -> None:
        self.failed.emit(str(err) or err.__class__.__name__)

    def shutdown(self) -> None:
        """Stop every TensorBoard started here."""
        self._shut_down = True
        servers, self.servers = self.servers, []
        for server in servers:
            server.stop()


__all__ = ["TensorBoardLauncher"]
