"""The suite's own strictness works: a test that leaks a QThread or a pool task, lets Qt warn
or raises a Python warning fails (tests/conftest.py and the pytest settings in pyproject.toml,
run on a small test file in a child pytest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import time
import warnings

from PyQt6.QtCore import QThread, QThreadPool, qWarning

from rave_gui.core.worker import run_in_background


class Sleeper(QThread):
    def run(self):
        time.sleep(3)


KEEP = []


def test_leaks_a_qthread(qtbot):
    thread = Sleeper()
    KEEP.append(thread)
    thread.start()


def test_leaks_a_background_task(qtbot):
    run_in_background(lambda: time.sleep(3))


def test_leaks_a_task_of_the_global_pool(qtbot):
    QThreadPool.globalInstance().start(lambda: time.sleep(3))


def test_waits_for_its_thread(qtbot):
    thread = QThread()
    thread.start()
    thread.quit()
    assert thread.wait(5000)


def test_qt_warns(qtbot):
    qWarning(b"something is wrong")


def test_python_warns():
    warnings.warn("deprecated", DeprecationWarning)
"""


def test_leaks_and_warnings_fail_their_tests(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tests / "conftest.py")
    (tests / "test_probe.py").write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    summary = {
        (line.split(" ")[0], line.split(" ")[1].split("::")[-1])
        for line in out.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    }
    # Each leak is an error at teardown of the test that leaked, not of a later one.
    assert summary == {
        ("ERROR", "test_leaks_a_qthread"),
        ("ERROR", "test_leaks_a_background_task"),
        ("ERROR", "test_leaks_a_task_of_the_global_pool"),
        ("FAILED", "test_qt_warns"),
        ("FAILED", "test_python_warns"),
    }, out
    assert "2 failed, 4 passed, 3 errors" in out
    assert "Sleeper started at tests/test_probe.py:" in out
    assert "1 task(s) of the pool first used at" in out
    assert "Qt messages with level WARNING or above emitted" in out
    assert "DeprecationWarning: deprecated" in out
