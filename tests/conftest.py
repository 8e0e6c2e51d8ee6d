"""Test settings shared by every test: offscreen Qt, a private data folder, no stray threads."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "QtAgg")

import sys
import time
import traceback
import weakref
from pathlib import Path
from typing import Any

import pytest

# tests/helpers (replay and dataset builders) is importable from every test.
HELPERS = Path(__file__).resolve().parent / "helpers"
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))

# How long a thread or a pool task may still run once its test (and its fixtures) has ended:
# only the last moments of a task whose result the test already received.
LEAK_GRACE_S = 2.0


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Nothing a test does touches the user's real database or settings."""
    data = tmp_path_factory.mktemp("rave-gui-data")
    monkeypatch.setenv("RAVE_GUI_DATA", str(data))
    monkeypatch.delenv("RAVE_GUI_DB", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(data / "config"))
    yield


def _started_at() -> str:
    """Where the code that starts a thread is: the innermost frame of rave_gui or the tests."""
    here = Path(__file__).resolve()
    root = here.parents[1]
    ours = (root / "rave_gui", root / "tests")
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = Path(frame.filename).resolve()
        if path != here and any(path.is_relative_to(d) for d in ours):
            return f"{path.relative_to(root)}:{frame.lineno} ({frame.name})"
    return "unknown"


@pytest.fixture(autouse=True)
def _no_leaked_qt_threads(monkeypatch: pytest.MonkeyPatch):
    """A test leaves no QThread of its own running and no task running in any QThreadPool (as
    napari's conftest checks): a thread left behind works on in the next test, and one whose
    QThread object is deleted while it runs aborts the whole test process.

    Tests without Qt loaded (the backend's) are not touched and do not load it."""
    if "PyQt6.QtCore" not in sys.modules:
        yield
        return
    from PyQt6.QtCore import QThread, QThreadPool

    threads: list[tuple[weakref.ref[QThread], str]] = []
    pools: dict[int, tuple[weakref.ref[QThreadPool], str]] = {}
    thread_start = QThread.start
    pool_start = QThreadPool.start

    def start_thread(self: QThread, *args: Any) -> None:
        threads.append((weakref.ref(self), _started_at()))
        thread_start(self, *args)

    def start_in_pool(self: QThreadPool, *args: Any) -> None:
        pools.setdefault(id(self), (weakref.ref(self), _started_at()))
        pool_start(self, *args)

    monkeypatch.setattr(QThread, "start", start_thread)
    monkeypatch.setattr(QThreadPool, "start", start_in_pool)
    yield

    deadline = time.monotonic() + LEAK_GRACE_S

    def left_ms() -> int:
        return max(0, int((deadline - time.monotonic()) * 1000))

    global_pool = QThreadPool.globalInstance()
    assert global_pool is not None
    all_pools = [(ref(), where) for ref, where in pools.values()]
    if id(global_pool) not in pools:
        all_pools.append((global_pool, "Qt's global pool"))
    leaked_threads: list[tuple[QThread, str]] = []
    leaked_pools: list[tuple[QThreadPool, str]] = []
    for ref, where in threads:
        thread = ref()
        try:
            if thread is not None and thread.isRunning() and not thread.wait(left_ms()):
                leaked_threads.append((thread, where))
        except RuntimeError:  # its C++ object is deleted, so it is not running
            pass
    for pool, where in all_pools:
        if pool is not None and not pool.waitForDone(left_ms()):
            leaked_pools.append((pool, where))
    if not (leaked_threads or leaked_pools):
        return
    report = [
        f"{type(t).__name__} started at {where} still runs after the test"
        for t, where in leaked_threads
    ] + [
        f"{p.activeThreadCount()} task(s) of the pool first used at {where} still run after "
        "the test"
        for p, where in leaked_pools
    ]
    # Stop them, so that the next test does not pay for this one, then fail this one.
    for thread, _ in leaked_threads:
        thread.requestInterruption()
        thread.quit()
        thread.wait(30_000)
    for pool, _ in leaked_pools:
        pool.clear()
        pool.waitForDone(30_000)
    pytest.fail("leaked threads:\n" + "\n".join(report), pytrace=False)
