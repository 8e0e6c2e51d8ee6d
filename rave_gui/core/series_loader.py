"""SeriesLoader: reads a plot's reduced metric series off the GUI thread, newest request first."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, QThreadPool, pyqtSignal

from ..backend.manager import TrainingManager


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    experiment_id: int
    name: str
    start: int | None
    end: int | None
    buckets: int
    ticket: int
    width: float | None = None  # a tail read: buckets this many steps wide from ``start`` on


@dataclass(slots=True)
class SeriesResult:
    request: SeriesRequest
    x: np.ndarray
    y: np.ndarray
    last_step: int | None  # the highest step read (None when the range was empty)
    error: str | None = None


class SeriesLoader(QObject):
    """Holds the pending reads of one plot; a single background thread serves them, newest
    request per series first. ``loaded`` is delivered on the GUI thread."""

    loaded = pyqtSignal(list)  # list[SeriesResult]

    _pool: QThreadPool | None = None  # one thread for every plot: one SQLite connection

    def __init__(self, manager: TrainingManager, parent: QObject) -> None:
        super().__init__(parent)
        self.manager = manager
        self._lock = threading.Lock()
        self._pending: dict[str, SeriesRequest] = {}
        self._scheduled = False

    @classmethod
    def pool(cls) -> QThreadPool:
        if cls._pool is None:
            cls._pool = QThreadPool()
            cls._pool.setMaxThreadCount(1)
            cls._pool.setExpiryTimeout(-1)  # keep the thread (and its connection) alive
        return cls._pool

    def request(self, reqs: Iterable[SeriesRequest]) -> None:
        with self._lock:
            for r in reqs:
                self._pending[r.name] = r
            if self._scheduled or not self._pending:
                return
            self._scheduled = True
        self.pool().start(self._run_job)

    def cancel(self) -> None:
        with self._lock:
            self._pending.clear()

    def _take(self) -> list[SeriesRequest]:
        with self._lock:
            reqs = list(self._pending.values())
            self._pending.clear()
            self._scheduled = False
            return reqs

    def _run_job(self) -> None:
        try:
            self.run_pending()
        except Exception:  # never let an exception out of a pool thread (PyQt would abort)
            pass

    def run_pending(self) -> None:
        """Runs on the loader thread."""
        results = []
        for r in self._take():
            try:
                x, y, last = self.manager.metrics.reduced_xy(
                    r.experiment_id, r.name, r.start, r.end, r.buckets, r.width
                )  # ``last``: the highest step read, NaN points included
                results.append(SeriesResult(r, x, y, last))
            except Exception as err:  # reported on the plot, never kills the thread
                empty = np.empty(0)
                results.append(SeriesResult(r, empty.astype(np.int64), empty, None, str(err)))
        if results:
            try:
                self.loaded.emit(results)
            except RuntimeError:  # the plot was deleted meanwhile
                pass


__all__ = ["SeriesLoader", "SeriesRequest", "SeriesResult"]
