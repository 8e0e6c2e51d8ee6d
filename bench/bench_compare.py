"""Benchmark: the Compare view's curves. Prints figures; asserts nothing about time.

10 runs of 1M points each (one series per run, with wall times) are stored in a fresh database;
the ComparePlot (1000×500 canvas, offscreen) then reads each run's min/max reduction off the GUI
thread, and we time a redraw: TensorBoard's smoothing of every curve, the raw curves behind and
one canvas.draw. Goal: a redraw under 150 ms.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_compare.py [--runs 10] [--points N]
Wall times are noisy on a shared machine: CPU times of this process are printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _wait(app, cond: Callable[[], bool], timeout: float = 600.0) -> None:
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("gave up waiting")


def timed(fn: Callable[[], object], repeat: int = 15) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``fn()``."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--points", type=int, default=1_000_000)
    args = ap.parse_args()

    import numpy as np
    from PyQt6.QtWidgets import QApplication

    from rave_gui.backend.manager import TrainingManager
    from rave_gui.backend.runs.compare import load_curve
    from rave_gui.core.worker import wait_for_background
    from rave_gui.ui.widgets.compare_plot import X_RELATIVE, X_STEP, X_WALL, ComparePlot

    app = QApplication.instance() or QApplication([sys.argv[0]])
    n = args.points
    with tempfile.TemporaryDirectory() as tmp:
        tm = TrainingManager(Path(tmp) / "bench.sqlite3")
        ids = []
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        steps = np.arange(n, dtype=np.int64)
        for r in range(args.runs):
            exp = tm.experiments.import_record({"name": f"run{r}"}, status="completed")
            speed = 8.0 + r  # steps per second
            walls = 1.7e9 + r * 3600 + steps / speed
            values = (4 + r * 0.2) * np.exp(-steps / (2e5 + r * 3e4)) + 2
            values = values + rng.normal(0, 0.15, n)
            tm.metrics.add_series(exp, {"loss": (steps, values, walls)})
            tm.metrics.build_tiles(exp)
            ids.append(exp)
        print(f"stored {args.runs} runs × {n:,} points in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        curves = [load_curve(tm, i, "loss", 1000) for i in ids]
        print(
            f"reduced reads with wall times (the background load), {args.runs} runs: "
            f"{(time.perf_counter() - t0) * 1000:.0f} ms; points per run: "
            f"{curves[0].steps.size:,}"
        )

        plot = ComparePlot(tm)
        plot.canvas.setFixedSize(1000, 500)
        plot.show()
        app.processEvents()
        t0 = time.perf_counter()
        plot.set_runs([(i, f"run{k}") for k, i in enumerate(ids)])
        _wait(app, lambda: not plot.loading and all(plot.curve(i) is not None for i in ids))
        print(f"set_runs to all curves drawn: {(time.perf_counter() - t0) * 1000:.0f} ms")
        drawn = plot.line_data(ids[0])[0].size
        print(f"canvas {plot.canvas.width()}×{plot.canvas.height()} px; points per line {drawn:,}")

        results, results_cpu = [], []
        for label, setup in (
            (
                "step axis, smoothing 0.6",
                lambda: (plot.set_x_mode(X_STEP), plot.set_smoothing(0.6)),
            ),
            ("relative time axis", lambda: plot.set_x_mode(X_RELATIVE)),
            ("wall time axis", lambda: plot.set_x_mode(X_WALL)),
            ("log y, smoothing 0.95", lambda: (plot.set_log_scale(True), plot.set_smoothing(0.95))),
            ("no smoothing (raw only)", lambda: (plot.set_log_scale(False), plot.set_smoothing(0))),
        ):
            setup()
            wall, cpu = timed(plot.redraw_now)
            results.append(wall)
            results_cpu.append(cpu)
            print(f"redraw ({label}), median of 15: {wall:.1f} ms wall, {cpu:.1f} ms CPU")
        worst, worst_cpu = max(results), max(results_cpu)
        load = os.getloadavg()[0]
        print(
            f"slowest redraw {worst:.1f} ms wall, {worst_cpu:.1f} ms CPU (goal: 150 ms for "
            f"{args.runs} runs; load average {load:.1f} on {os.cpu_count()} CPUs)"
        )
        plot.close()
        wait_for_background()
        tm.close()


if __name__ == "__main__":
    main()
