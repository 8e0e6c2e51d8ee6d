"""Run a callable off the GUI thread and hand its result or error back on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

_POOL: QThreadPool | None = None
_PENDING: set[BackgroundTask] = set()


def pool() -> QThreadPool:
    """The thread pool background tasks run in (small, separate from Qt's global pool)."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(4)
    return _POOL


class BackgroundTask(QObject):
    """One call of ``fn`` in the pool. ``succeeded(result)`` or ``failed(exception)`` is
    emitted on the thread the task was created on (the GUI thread), then ``done()``.

    Connect to bound methods of widgets: Qt drops the connection if the widget is deleted
    before the work ends, so a closed dialog is never called back.
    """

    succeeded = pyqtSignal(object)
    failed = pyqtSignal(object)
    done = pyqtSignal()
    _finished_in_thread = pyqtSignal(bool, object)

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._fn = fn
        # Queued across threads: the slot runs in this object's (the GUI) thread.
        self._finished_in_thread.connect(self._deliver)

    def _deliver(self, ok: bool, value: object) -> None:
        _PENDING.discard(self)
        (self.succeeded if ok else self.failed).emit(value)
        self.done.emit()

    def _run(self) -> None:
        try:
            result = self._fn()
        except Exception as err:  # handed to the GUI thread, shown there
            self._finished_in_thread.emit(False, err)
        else:
            self._finished_in_thread.emit(True, result)


class _Runnable(QRunnable):
    def __init__(self, task: BackgroundTask) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task._run()


def run_in_background(
    fn: Callable[[], Any],
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> BackgroundTask:
    """Start ``fn()`` in the pool; ``on_result``/``on_error`` are called on the GUI thread."""
    task = BackgroundTask(fn)
    if on_result is not None:
        task.succeeded.connect(on_result)
    if on_error is not None:
        task.failed.connect(on_error)
    _PENDING.add(task)  # kept alive until delivered
    pool().start(_Runnable(task))
    return task


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Wait until no background task is running (for shutdown and tests); results are still
    delivered through the event loop. True if everything finished in time."""
    return pool().waitForDone(timeout_ms)
