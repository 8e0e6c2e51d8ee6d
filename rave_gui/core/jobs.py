"""ProcessThreads for the one-off RAVE commands: `rave preprocess` and `rave export`."""

from __future__ import annotations

import os
import threading

from PyQt6.QtCore import QObject

from ..backend import runner
from ..backend.export import EXPORT_LOG, ExportPlan
from ..backend.logparse import LogLine, Progress
from ..backend.preprocess import LOG_NAME, PreprocessMonitor
from .process import ProcessThread

STOP_INTERRUPT_S = 3.0  # SIGINT, then SIGTERM after this, then SIGKILL after as long again
CANCELLED = "Cancelled."


class _StoppableThread(ProcessThread):
    """A ProcessThread whose command can be cancelled: its whole process group is stopped
    (SIGINT, SIGTERM, SIGKILL) from a helper thread, so neither the GUI nor the following
    blocks, and ``finished`` reports ``CANCELLED``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cancelled = False
        self._stopper: threading.Thread | None = None
        self._lock = threading.Lock()

    def _launch(self) -> None:
        super()._launch()
        if self.cancelled:  # cancelled while starting
            self._stop_group()

    def cancel(self) -> None:
        """Stop the command and everything it started; ``finished`` follows."""
        self.cancelled = True
        self.failure = CANCELLED
        self._stop_group()

    def _stop_group(self) -> None:
        with self._lock:
            if self.pid is None or self._stopper is not None:
                return
            self._stopper = threading.Thread(
                target=runner.stop_group,
                args=(self.pid,),
                kwargs={"interrupt_timeout": STOP_INTERRUPT_S, "term_timeout": STOP_INTERRUPT_S},
                daemon=True,
            )
            self._stopper.start()

    def _reason(self) -> str | None:
        return CANCELLED if self.cancelled else None

    def handle_events(self, events: list) -> None:
        super().handle_events(events)
        reason = self._reason()
        if reason is not None:  # the traceback of the interrupted command is not the cause
            self.failure = reason


class PreprocessThread(_StoppableThread):
    """Runs `rave preprocess` detached and follows it: ``progress`` gives the percent of the
    expected chunks and "N chunks of M · dataset length H:MM:SS"; when RAVE reports that it
    stalled (no file found, a file it cannot decode: it would wait forever) the whole process
    group is stopped and ``finished(False, reason)`` says why."""

    def __init__(
        self,
        command: list[str],
        log_folder: str | os.PathLike[str],
        *,
        expected_chunks: int | None = None,
        monitor: PreprocessMonitor | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(command, log_folder, log_name=LOG_NAME, parent=parent)
        self.monitor = monitor or PreprocessMonitor(expected_chunks)
        self.stalled: str | None = None

    def _reason(self) -> str | None:
        return self.stalled or super()._reason()

    def handle_events(self, events: list) -> None:
        bars = [e for e in events if isinstance(e, Progress)]
        super().handle_events([e for e in events if not isinstance(e, Progress)])
        if self.monitor.feed(events) and self.stalled is None:
            self.stalled = self.monitor.stalled
            self.failure = self.stalled
            self._stop_group()
        if bars:
            self.progress.emit(self.monitor.percent(), self.monitor.text())


class ExportThread(_StoppableThread):
    """Runs a planned `rave export` detached (log in its staging folder) and keeps its log
    lines for :func:`rave_gui.backend.export.finish_export`."""

    def __init__(self, plan: ExportPlan, parent: QObject | None = None) -> None:
        super().__init__(plan.argv, plan.staging, log_name=EXPORT_LOG, parent=parent)
        self.plan = plan
        self.log_lines: list[str] = []

    def handle_events(self, events: list) -> None:
        self.log_lines += [e.text for e in events if isinstance(e, LogLine)]
        super().handle_events(events)
