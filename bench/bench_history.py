"""Benchmark: the run history with 10,000 runs in the database (issue 11). Prints figures.

1. Time to first show: a HistoryView over the store, from nothing to the table painted with
   its first page (the store's ordered ids, the first page's rows, the filter choices).
2. Time of a filter change: typed text, a status, a tag, a config: the list asked again and
   the table repainted.
3. Scrolling: every page fetched and painted while the view scrolls to the end (the worst
   case: all 10,000 rows), and the longest single scroll step.
4. A column sort (best validation) and the store's query alone, for scale.

Goal: the history shows within 200 ms; scrolling stays smooth (each step well under 50 ms).
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_history.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def main(n: int = 10_000) -> None:
    from history_helpers import fill_runs
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication, QTableView

    from rave_gui.backend.manager import TrainingManager
    from rave_gui.backend.store.history import HistoryFilter
    from rave_gui.core.worker import wait_for_background
    from rave_gui.ui.models.history_model import COL
    from rave_gui.ui.widgets.history_view import HistoryView

    app = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tm = TrainingManager(Path(tmp) / "history.sqlite3")
        fill_runs(tm, n, Path(tmp) / "data")
        print(f"{n:,} runs written in {_ms(t0) / 1000:.1f} s")
        tm.close()

        # Qt's own first-widget costs (fonts, style) are paid once by the window, not here
        t0 = time.perf_counter()
        warm = QTableView()
        warm.show()
        app.processEvents()
        warm.close()
        print(f"(Qt warm-up, once per process: {_ms(t0):.0f} ms)")

        tm = TrainingManager(Path(tmp) / "history.sqlite3")  # a fresh connection, as at start
        t0 = time.perf_counter()
        view = HistoryView(tm)
        view.resize(1100, 700)
        built = _ms(t0)
        view.set_project(tm.projects.default_id())
        read = _ms(t0) - built
        view.show()
        view.repaint()
        app.processEvents()
        first = _ms(t0)
        print(f"time to first show: {first:.0f} ms ({view.model.rowCount()} rows loaded of "
              f"{view.model.total():,}; widgets {built:.0f} ms, reading {read:.0f} ms, "
              f"first paint {first - built - read:.0f} ms)")  # fmt: skip

        bar = view.filter_bar
        changes = {
            "text 'more noise'": lambda: (bar.text_edit.setText("more noise"), bar.flush()),
            "status failed": lambda: bar.status_combo.setCurrentIndex(
                bar.status_combo.findText("Failed")
            ),
            "tag good": lambda: bar.tag_combo.setCurrentIndex(bar.tag_combo.findData("good")),
            "config causal": lambda: bar.config_combo.setCurrentIndex(
                bar.config_combo.findData("causal")
            ),
            "all filters cleared": bar.clear,
        }
        for name, change in changes.items():
            t0 = time.perf_counter()
            change()
            view.repaint()
            app.processEvents()
            print(f"filter change ({name}): {_ms(t0):.0f} ms -> {view.model.total():,} runs")

        t0 = time.perf_counter()
        view.table.sortByColumn(COL["best_validation"], Qt.SortOrder.AscendingOrder)
        view.repaint()
        app.processEvents()
        print(f"sort by best validation: {_ms(t0):.0f} ms")

        bar_ = view.table.verticalScrollBar()
        steps = []
        t0 = time.perf_counter()
        while True:
            s0 = time.perf_counter()
            bar_.setValue(bar_.maximum())
            view.table.viewport().repaint()
            app.processEvents()
            steps.append(_ms(s0))
            if not view.model.canFetchMore() and bar_.value() == bar_.maximum():
                break
        print(f"scroll to the end: {_ms(t0):.0f} ms for {view.model.rowCount():,} rows in "
              f"{len(steps)} steps, the longest {max(steps):.1f} ms")  # fmt: skip
        view.model.reload()  # the parts of one step: a page read, a paint
        fetches = []
        while view.model.canFetchMore():
            t0 = time.perf_counter()
            view.model.fetchMore()
            fetches.append(_ms(t0))
        t0 = time.perf_counter()
        view.table.viewport().repaint()
        paint = _ms(t0)
        mean = sum(fetches) / len(fetches)
        print(f"  one fetch of {view.model.more:,} rows: {mean:.0f} ms (the longest "
              f"{max(fetches):.0f} ms); one paint of the table: {paint:.0f} ms")  # fmt: skip
        t0 = time.perf_counter()
        for _ in range(50):
            bar_.setValue(bar_.value() - 20)
            view.table.viewport().repaint()
            app.processEvents()
        print(f"scrolling back (all loaded): {_ms(t0) / 50:.1f} ms per step")

        for sort in ("started", "best_validation", "tags"):
            t0 = time.perf_counter()
            ids = tm.history.ids(HistoryFilter(), sort=sort)
            tm.history.rows(ids[:200])
            print(f"store alone, sort {sort}: {_ms(t0):.1f} ms (ids of {len(ids):,} + 200 rows)")
        view.close()
        wait_for_background()
        tm.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
