"""Benchmark: what watching a run costs. Prints figures; asserts nothing about time.

The whole app (MainWindow, offscreen) on the Training page, the run selected:

- ``first view``: a run of 10 series with 1M points in all (RAVE's spacing: one point every
  50 steps), written live in batches of 1,000 points (so no tile was built after the fact),
  from selecting it to every series read and the plot drawn;
- ``watch cpu``: the run then written live at 1,000 new points a second (10 series, a batch
  every 0.25 s stored by a thread of the app and sent to the GUI as the follower does), for
  ``--seconds`` (60): the app process's CPU time over wall time;
- ``idle cpu``: the same app with nothing written, for ``--seconds``.

Goals on the reference machine: watch ≤ 5 %, first view ≤ 300 ms, idle ≤ 1 %.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_watch.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERIES = 10
STORED = int(os.environ.get("BENCH_WATCH_STORED", 1_000_000))
SPACING = 50  # RAVE logs a point every 50 steps
RATE = 1_000  # new points a second, all series together
BATCH_S = 0.25


def _values(name_i: int, steps):
    import numpy as np

    rng = np.random.default_rng(name_i)
    return (3 + name_i) * np.exp(-steps / 2e6) + 0.5 + rng.normal(0, 0.05, steps.size)


def _names() -> list[str]:
    return [
        "fullband_spectral_distance",
        "multiband_spectral_distance",
        "regularization",
        "adversarial",
        "feature_matching",
        "pred_real",
        "pred_fake",
        "loss_dis",
        "validation",
        "lr_generator",
    ][:SERIES]


def _store_live(tm, exp: int, start_step: int, per_series: int, batch: int) -> int:
    """Write ``per_series`` points per series in batches of ``batch`` points (all series)."""
    import numpy as np

    names = _names()
    step = start_step
    per_batch = max(1, batch // len(names))
    done = 0
    while done < per_series:
        k = min(per_batch, per_series - done)
        steps = step + SPACING * np.arange(k, dtype=np.int64)
        tm.metrics.add_series(
            exp, {n: (steps, _values(i, steps), None) for i, n in enumerate(names)}
        )
        step = int(steps[-1]) + SPACING
        done += k
    return step


NATIVE_NAMES: dict[int, str] = {}  # native thread id: a name for the per-thread figures


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process, by thread name (Linux; {} elsewhere)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(tid) == os.getpid():
            name = "GUI thread"
        key = f"{NATIVE_NAMES.get(int(tid), name)} [{tid}]"
        out[key] = cpu
    return out


def _print_threads(before: dict[str, float], after: dict[str, float], wall: float) -> None:
    rows = sorted(((after[k] - before.get(k, 0.0), k) for k in after), reverse=True)
    for cpu, k in rows[:6]:
        if cpu > 0:
            print(f"    {k}: {100 * cpu / wall:.1f}%")


def _run_loop(app, seconds: float) -> None:
    from PyQt6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args(argv)

    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from rave_gui.backend.manager import TrainingManager
    from rave_gui.backend.system.settings import Settings
    from rave_gui.core.controller import RunController
    from rave_gui.core.signals import AppSignals
    from rave_gui.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        tm = TrainingManager(Path(tmp) / "bench.sqlite3")
        exp = tm.experiments.import_record({"name": "watched"}, status="completed")
        t0 = time.perf_counter()
        next_step = _store_live(tm, exp, 0, STORED // SERIES, 1_000)
        print(
            f"stored {STORED:,} points ({SERIES} series, a point every {SPACING} steps) live "
            f"in batches of 1,000: {time.perf_counter() - t0:.1f} s"
        )
        # a newer, empty run: the one the Training page selects by itself when it opens
        tm.experiments.import_record({"name": "newer"}, status="completed")
        signals = AppSignals()
        settings = Settings(runs_dir=str(Path(tmp) / "runs"))
        controller = RunController(tm, signals, settings)
        win = MainWindow(tm, controller, signals, settings)
        win.resize(1400, 900)
        win.show()
        win.show_page("training")
        page = win.training_page
        _run_loop(app, 1.0)  # the page and its (empty) plot are built
        panel = page.panel
        plot = panel.plot

        # first view (once the runs table, read in the background, lists the run)
        deadline = time.monotonic() + 60
        while page.proxy.proxy_row_of(exp) is None and time.monotonic() < deadline:
            _run_loop(app, 0.05)
        if plot.experiment_id == exp:
            raise SystemExit("bench_watch: the run was shown before it was selected")
        draws = plot.draw_count
        t0 = time.perf_counter()
        if not page.select_run(exp):
            raise SystemExit("bench_watch: the run is not in the runs table")
        while plot.experiment_id != exp or plot.loading() or plot.draw_count == draws:
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - t0 > 30:
                raise SystemExit(
                    f"bench_watch: the first view never came (shown run {plot.experiment_id}, "
                    f"reads pending {plot.loading()}, draws {plot.draw_count - draws}, "
                    f"tickets {[(s.name, s.ticket) for s in plot._series.values() if s.ticket]}, "
                    f"hidden {plot._hidden()})"
                )
            if plot.experiment_id == exp and not plot.loading() and plot._dirty:
                plot.redraw_now()
        first_view = (time.perf_counter() - t0) * 1000
        drawn = sum(plot.line_data(n)[0].size for n in plot.visible_series())
        print(f"first view: {first_view:.0f} ms")
        print(
            f"  ({len(plot.visible_series())} series shown, {drawn:,} points drawn; "
            f"the last draw took {plot.last_draw_ms:.0f} ms)"
        )

        # watch: a thread of the app stores a batch every 0.25 s and sends it to the GUI
        stop = threading.Event()
        state = {"step": next_step, "points": 0}
        names = _names()

        def writer() -> None:
            import numpy as np

            NATIVE_NAMES[threading.get_native_id()] = "writer (the follower's part)"
            per = max(1, int(RATE * BATCH_S / len(names)))
            t_next = time.monotonic()
            while not stop.is_set():
                steps = state["step"] + SPACING * np.arange(per, dtype=np.int64)
                series = {n: (steps, _values(i, steps), None) for i, n in enumerate(names)}
                tm.metrics.add_series(exp, series)
                signals.run_metrics.emit(
                    exp,
                    {
                        n: list(zip(s.tolist(), v.tolist(), strict=True))
                        for n, (s, v, _) in series.items()
                    },
                )
                state["step"] = int(steps[-1]) + SPACING
                state["points"] += per * len(names)
                t_next += BATCH_S
                stop.wait(max(0.0, t_next - time.monotonic()))

        draws, full = plot.draw_count, getattr(plot, "full_draw_count", 0)
        c0, w0, t0 = time.process_time(), time.perf_counter(), _thread_cpu()
        th = threading.Thread(target=writer, name="bench-writer", daemon=True)
        th.start()
        _run_loop(app, args.seconds)
        t1 = _thread_cpu()  # the writer still runs
        stop.set()
        th.join()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        print(f"watch cpu: {100 * cpu / wall:.1f}% of one core")
        print(
            f"  ({state['points']:,} points written live in {wall:.0f} s, "
            f"{plot.draw_count - draws} draws ({getattr(plot, 'full_draw_count', 0) - full} full), "
            f"last draw {plot.last_draw_ms:.0f} ms)"
        )
        _print_threads(t0, t1, wall)

        # idle: the same app, nothing written
        _run_loop(app, 1.0)
        draws = plot.draw_count
        c0, w0 = time.process_time(), time.perf_counter()
        _run_loop(app, args.seconds)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        print(f"idle cpu: {100 * cpu / wall:.1f}% of one core")
        print(f"  ({plot.draw_count - draws} draws in {wall:.0f} s)")

        win.ask_close_choice = lambda n_active: "keep"  # type: ignore[method-assign]
        win.close()
        controller.shutdown(True)
        app.processEvents()
        tm.close() if hasattr(tm, "close") else None


if __name__ == "__main__":
    main(sys.argv[1:])
