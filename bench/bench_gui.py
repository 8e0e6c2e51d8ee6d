"""Benchmark: the GUI's costs. Prints figures; asserts nothing about time.

1. MetricsPlot redraw for a run of 1M-point series (900×500, offscreen): the full draw, the
   store's reduced re-read plus draw, and for scale one draw of the raw points.
2. The GUI thread's longest stall while a child process writes 20,000 lines/s for 10 s, the
   lines arriving through the real output path (runner/supervisor → log file → ProcessThread →
   LogView), measured with a 5 ms QTimer heartbeat.
3. Time from process start to the main window shown (``rave_gui.app.run_gui``, offscreen), and
   that the GUI process never imports torch.

Goals on the reference machine: window < 1.5 s, redraw < 50 ms, stall < 50 ms.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_gui.py [plot|stall|startup ...]
Wall times are noisy on a shared machine: CPU times of this process are printed beside them.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _app():
    from PyQt6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([sys.argv[0]])


def _wait(app, cond, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("gave up waiting")


# --- 1. redraw ---------------------------------------------------------------------------------
def bench_plot() -> None:
    import numpy as np

    from rave_gui.backend.manager import TrainingManager
    from rave_gui.core.signals import AppSignals
    from rave_gui.ui.widgets.metrics_plot import MetricsPlot

    app = _app()
    n = 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        tm = TrainingManager(Path(tmp) / "bench.sqlite3")
        exp = tm.experiments.import_record({"name": "1M"}, status="completed")
        steps = np.arange(n, dtype=np.int64)
        rng = np.random.default_rng(0)
        series = {
            name: (steps, a * np.exp(-steps / 3e5) + c + rng.normal(0, 0.05 * (a + c), n), None)
            for name, a, c in (
                ("fullband_spectral_distance", 6.0, 2.0),
                ("multiband_spectral_distance", 7.0, 2.5),
                ("regularization", -0.3, 0.5),
            )
        }
        series["fullband_spectral_distance"][1][333_333] = math.nan
        series["multiband_spectral_distance"][1][777_777] = 1e6
        vs = np.arange(0, n, 5000)
        series["validation"] = (vs, 4 * np.exp(-vs / 3e5) + 3, None)
        series["lr_generator"] = (steps, np.maximum(1e-4, 1e-3 - 9e-4 * steps / n), None)
        t0 = time.perf_counter()
        tm.metrics.add_series(exp, series)
        total = sum(s[0].size for s in series.values())
        print(f"stored {total:,} points in {time.perf_counter() - t0:.1f} s")

        plot = MetricsPlot(tm, AppSignals())
        plot.canvas.setFixedSize(900, 500)  # the canvas itself, beside the series list
        plot.show()
        app.processEvents()
        t0 = time.perf_counter()
        plot.set_experiment(exp)
        _wait(app, lambda: not plot.loading() and plot.draw_count > 0 and not plot._dirty)
        print(
            f"first view (builds the store's tiles, off the GUI thread): "
            f"{time.perf_counter() - t0:.2f} s"
        )
        canvas = plot.canvas
        points = {n: plot.line_data(n)[0].size for n in plot.visible_series()}
        print(
            f"canvas {canvas.width()}×{canvas.height()} px, axes {plot.ax.bbox.width:.0f} px "
            f"wide; points drawn per line: {points}"
        )

        def timed(fn, repeat: int = 15) -> tuple[float, float]:
            walls, cpus = [], []
            for _ in range(repeat):
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            return statistics.median(walls) * 1000, statistics.median(cpus) * 1000

        wall, cpu = timed(plot.redraw_now)
        print(f"full redraw (one canvas.draw), median of 15: {wall:.1f} ms wall, {cpu:.1f} ms CPU")

        def reread_and_draw() -> None:
            plot.follow_whole_run()
            _wait(app, lambda: not plot.loading())
            plot.redraw_now()

        wall, cpu = timed(reread_and_draw, 7)
        print(
            f"re-read of all {len(points)} series from the store + redraw, median of 7: "
            f"{wall:.1f} ms wall, {cpu:.1f} ms CPU (reads run off the GUI thread)"
        )

        # for scale: the same figure with the raw 1M points of one series
        line = plot._series["fullband_spectral_distance"].line
        xs, ys = line.get_data()
        line.set_data(steps, series["fullband_spectral_distance"][1])
        w0, c0 = time.perf_counter(), time.process_time()
        canvas.draw()
        print(
            f"for scale, one draw with that series' raw 1M points: "
            f"{(time.perf_counter() - w0) * 1000:.0f} ms wall, "
            f"{(time.process_time() - c0) * 1000:.0f} ms CPU"
        )
        line.set_data(xs, ys)
        plot.shutdown()
        plot.deleteLater()
        app.processEvents()
        tm.close()


# --- 2. stall under a flood of output ----------------------------------------------------------
FLOOD = textwrap.dedent(
    """
    import sys, time
    rate, seconds = int(sys.argv[1]), float(sys.argv[2])
    out = sys.stdout
    t0 = time.monotonic()
    i = 0
    while True:
        now = time.monotonic() - t0
        if now >= seconds:
            break
        due = int(now * rate)
        chunk = []
        while i < due:
            if i % 100 == 0:
                chunk.append(f"UserWarning: line {i} is a warning\\n")
            elif i % 997 == 0:
                chunk.append(f"RuntimeError: line {i} looks like an error\\n")
            else:
                chunk.append(f"I1122 21:23:17.926664 140206904421248 train.py:50] line {i} "
                             "some ordinary output of a training run\\n")
            i += 1
        if chunk:
            out.write("".join(chunk))
            out.flush()
        time.sleep(0.002)
    print(f"done {i} lines")
    """
)


def bench_stall(rate: int = 20_000, seconds: float = 10.0) -> None:
    from PyQt6.QtCore import QTimer

    app = _app()
    from rave_gui.core.process import ProcessThread
    from rave_gui.ui.widgets import log_view as view_mod
    from rave_gui.ui.widgets.log_view import LogView

    view = LogView()
    view.resize(900, 400)
    view.show()
    app.processEvents()
    stats = {"lines": 0, "batches": 0, "max_batch": 0, "append_max": 0.0, "append_total": 0.0}
    stats.update(edits=0, edit_max=0.0)
    insert = view._insert

    def timed_insert(*args) -> None:  # one edit of the document (a chunk of a flood)
        t0 = time.perf_counter()
        insert(*args)
        stats["edits"] += 1
        stats["edit_max"] = max(stats["edit_max"], time.perf_counter() - t0)

    view._insert = timed_insert  # type: ignore[method-assign]

    def on_lines(lines: list) -> None:
        t0 = time.perf_counter()
        view.append_lines(lines)
        dt = time.perf_counter() - t0
        stats["lines"] += len(lines)
        stats["batches"] += 1
        stats["max_batch"] = max(stats["max_batch"], len(lines))
        stats["append_max"] = max(stats["append_max"], dt)
        stats["append_total"] += dt

    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "flood.py"
        script.write_text(FLOOD)
        thread = ProcessThread(
            [sys.executable, str(script), str(rate), str(seconds)], Path(tmp) / "run"
        )
        thread.lines_received.connect(on_lines)
        done = []
        thread.ended.connect(lambda ok, msg: done.append((ok, msg)))
        heart = QTimer()
        heart.setInterval(5)
        heart.timeout.connect(beat)
        t_start = time.perf_counter()
        c_start = time.process_time()
        thread.start()
        heart.start()
        last[0] = time.perf_counter()
        _wait(app, lambda: bool(done), timeout=seconds + 60)
        heart.stop()
        thread.wait(5000)
        wall = time.perf_counter() - t_start
        cpu = time.process_time() - c_start
    gaps.sort()
    print(
        f"flood of {rate:,} lines/s for {seconds:.0f} s through runner → log file → "
        f"ProcessThread → LogView: {stats['lines']:,} lines in {stats['batches']} batches "
        f"(largest {stats['max_batch']:,}), finished {done[0]}"
    )
    print(
        f"GUI thread heartbeat (5 ms timer): longest gap {gaps[-1] * 1000:.1f} ms, "
        f"p99 {gaps[int(len(gaps) * 0.99)] * 1000:.1f} ms, "
        f"median {statistics.median(gaps) * 1000:.1f} ms over {len(gaps):,} beats"
    )
    print(
        f"LogView.append_lines: longest {stats['append_max'] * 1000:.1f} ms, total "
        f"{stats['append_total']:.2f} s; {stats['edits']} edits of the document (a flood goes "
        f"in {view_mod.CHUNK_LINES:,} lines a turn of the event loop), longest "
        f"{stats['edit_max'] * 1000:.1f} ms; this process used {cpu:.1f} s CPU in {wall:.1f} s; "
        f"view holds {view.line_count():,} lines"
    )
    view.deleteLater()
    app.processEvents()


# --- 3. startup --------------------------------------------------------------------------------
STARTUP = textwrap.dedent(
    """
    import os, sys, time
    import psutil
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication
    app = QApplication([sys.argv[0]])
    import rave_gui.app

    def shown():
        app.processEvents()
        wins = [w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow"]
        created = psutil.Process().create_time()
        elapsed = time.time() - created
        visible = bool(wins) and wins[0].isVisible()
        mpl = 'matplotlib' in sys.modules
        # then the Training page with its plot (matplotlib is imported once it is shown)
        wins[0].show_page("training")
        page = wins[0].training_page
        while page.panel._plot is None:
            app.processEvents()
        app.processEvents()
        plot_ready = time.time() - created
        print(f"RESULT {elapsed:.3f} {visible} {'torch' in sys.modules} {mpl} "
              f"{plot_ready:.3f}", flush=True)
        os._exit(0)  # the measure is taken; skip the close dialog and teardown

    QTimer.singleShot(0, shown)
    rave_gui.app.run_gui(["--db", sys.argv[1]])
    """
)


def bench_startup(runs: int = 5) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.update(
            QT_QPA_PLATFORM="offscreen",
            RAVE_GUI_DATA=str(Path(tmp) / "data"),
            XDG_CONFIG_HOME=str(Path(tmp) / "config"),
            PYTHONPATH=str(ROOT),
        )
        db = str(Path(tmp) / "startup.sqlite3")
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", STARTUP, db],
                capture_output=True,
                text=True,
                env=env,
                cwd=str(ROOT),
                timeout=120,
            )
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
            if line is None:
                print("startup run failed:", out.stdout[-500:], out.stderr[-2000:])
                return
            _, elapsed, visible, torch, mpl, plot_ready = line.split()
            results.append(
                (
                    float(elapsed),
                    visible == "True",
                    torch == "True",
                    mpl == "True",
                    float(plot_ready),
                )
            )
    times = sorted(r[0] for r in results)
    print(
        f"process start → main window shown (offscreen), {runs} runs: median "
        f"{statistics.median(times):.2f} s, best {times[0]:.2f} s, worst {times[-1]:.2f} s "
        f"(first run includes cold caches)"
    )
    ready = sorted(r[4] for r in results)
    print(
        f"then the Training page shown with its MetricsPlot built: median "
        f"{statistics.median(ready):.2f} s after process start"
    )
    print(
        f"window visible: {all(r[1] for r in results)}; torch imported: "
        f"{any(r[2] for r in results)}; matplotlib imported before the window was shown: "
        f"{any(r[3] for r in results)}"
    )


def main(argv: list[str]) -> None:
    which = argv or ["plot", "stall", "startup"]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if "startup" in which:
        print("\n== 3. startup")
        bench_startup()
    if "plot" in which:
        print("\n== 1. MetricsPlot redraw")
        bench_plot()
    if "stall" in which:
        print("\n== 2. GUI stall under 20,000 lines/s")
        bench_stall()


if __name__ == "__main__":
    main(sys.argv[1:])
