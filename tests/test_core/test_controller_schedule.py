"""RunController.schedule: passes (RAVE probe, pre-flight, launch) run off the GUI thread, one
at a time, and their results come back by signal."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

from PyQt6.QtCore import QTimer

from rave_gui.backend.system.settings import Settings
from rave_gui.core.controller import RunController
from rave_gui.core.signals import AppSignals

PROBE_S = 1.0


def slow_broken_rave(folder: Path) -> tuple[Path, Path]:
    """A `rave` console script whose interpreter takes PROBE_S to answer the probe, then says
    acids-rave is missing; each probe appends "start end" (monotonic) to the returned file."""
    folder.mkdir(parents=True)
    calls = folder / "probes.txt"
    python = folder / "python"
    python.write_text(
        f"#!{sys.executable}\n"
        "import json, time\n"
        "t = time.monotonic()\n"
        f"time.sleep({PROBE_S})\n"
        f"open({str(calls)!r}, 'a').write(f'{{t}} {{time.monotonic()}}\\n')\n"
        'print(json.dumps({"ok": False, "errors": ["acids-rave is not installed"]}))\n'
    )
    python.chmod(0o755)
    rave = folder / "rave"
    rave.write_text(f"#!{python}\nraise SystemExit('not run in these tests')\n")
    rave.chmod(0o755)
    return rave, calls


def _gaps(ticks: list[float]) -> float:
    return max(b - a for a, b in itertools.pairwise(ticks))


def test_a_schedule_pass_probes_rave_without_blocking_the_gui_thread(
    qtbot, manager, tmp_path: Path
) -> None:
    rave, calls = slow_broken_rave(tmp_path / "bin")
    signals = AppSignals()
    settings = Settings(rave_executable=str(rave), runs_dir=str(tmp_path / "runs"))
    controller = RunController(manager, signals, settings)
    exp = manager.start_training({"name": "r", "dataset_path": str(tmp_path)})
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    try:
        with qtbot.waitSignal(signals.run_failed, timeout=30_000) as failed:
            t0 = time.monotonic()
            ticks.append(t0)
            controller.schedule()
            returned = time.monotonic() - t0
        took = time.monotonic() - t0
    finally:
        timer.stop()
        controller.shutdown(False)
    assert returned < 0.1  # the pass runs in the background
    assert took >= PROBE_S
    assert failed.args[0] == exp and "acids-rave is not installed" in failed.args[1]
    assert manager.get_experiment(exp).status == "failed"
    assert _gaps(ticks) < 0.25, "the GUI thread waited for the probe"
    assert len(calls.read_text().splitlines()) == 1


def test_schedule_passes_never_overlap(qtbot, manager, tmp_path: Path) -> None:
    """Three queued runs, one slot, schedule asked again and again: each pass probes RAVE
    once; the probes happen one after the other, and every run gets its outcome."""
    rave, calls = slow_broken_rave(tmp_path / "bin")
    signals = AppSignals()
    settings = Settings(
        rave_executable=str(rave), runs_dir=str(tmp_path / "runs"), max_concurrent_runs=1
    )
    controller = RunController(manager, signals, settings)
    ids = [manager.start_training({"name": f"r{i}", "dataset_path": str(tmp_path)}) for i in "abc"]
    failed: list[int] = []
    signals.run_failed.connect(lambda i, _m: failed.append(i))
    try:
        for _ in range(5):
            controller.schedule()  # asked while a pass runs: one more pass after it
        qtbot.waitUntil(lambda: len(failed) == 3, timeout=30_000)
    finally:
        controller.shutdown(False)
    assert sorted(failed) == sorted(ids)
    spans = sorted(tuple(map(float, line.split())) for line in calls.read_text().splitlines())
    assert len(spans) == 3
    for (_s1, end), (start, _e2) in itertools.pairwise(spans):
        assert start >= end, "two schedule passes ran at once"
