"""The Compare view's tables: the runs' summaries side by side and their configuration diff."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
)

from ...backend.runs.compare import Comparison
from ...backend.system.units import format_duration, format_rate, format_value
from .compare_plot import run_color
from .plot_style import swatch

SUMMARY_ROWS = (
    "Status", "Best validation", "  at step", "Steps reached", "Duration", "Mean speed", "Phase",
)  # fmt: skip


def _int(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _run_header(pos: int, rid: int, name: str) -> QTableWidgetItem:
    item = QTableWidgetItem(swatch(run_color(pos)), f"#{rid} {name}")
    item.setToolTip(f"run {rid}: {name}")
    return item


class SummaryTable(QTableWidget):
    """One column per run: status, best validation and its step, steps, duration, speed,
    phase, then the chosen metric's min (at its step) and last value."""

    def __init__(self) -> None:
        super().__init__(0, 0)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setDefaultSectionSize(22)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.comparison: Comparison | None = None
        self.metric: str | None = None

    def set_comparison(self, c: Comparison | None, metric: str | None = None) -> None:
        self.comparison = c
        self.metric = metric
        self.clear()
        if c is None:
            self.setRowCount(0)
            self.setColumnCount(0)
            return
        rows = list(SUMMARY_ROWS)
        per_metric = metric is not None and metric in c.metrics
        if per_metric:
            rows += [f"{metric}: min", "  at step", f"{metric}: last"]
        self.setRowCount(len(rows))
        self.setColumnCount(len(c.runs))
        self.setVerticalHeaderLabels(rows)
        best = [r.best_validation for r in c.runs if r.best_validation is not None]
        lowest = min(best) if len(best) > 1 else None
        for col, r in enumerate(c.runs):
            self.setHorizontalHeaderItem(col, _run_header(col, r.id, r.name))
            cells = [
                r.status,
                format_value(r.best_validation, missing="–"),
                _int(r.best_validation_step),
                _int(r.steps),
                format_duration(r.duration_s, missing="–"),
                format_rate(r.speed, missing="–"),
                r.phase or "–",
            ]
            if per_metric:
                m = c.metrics[metric][r.id]  # type: ignore[index]
                cells += (
                    ["–", "–", "–"]
                    if m is None
                    else [
                        format_value(m["min"], missing="–"),
                        _int(m["best_step"]),
                        format_value(m["last"], missing="–"),
                    ]
                )
            for row, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if row == 1 and lowest is not None and r.best_validation == lowest:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                    item.setToolTip("the lowest validation loss of these runs")
                self.setItem(row, col, item)

    def cell_text(self, row_label: str, run_id: int) -> str:
        """The text shown for a run in the row labelled ``row_label`` (for tests)."""
        assert self.comparison is not None
        col = [r.id for r in self.comparison.runs].index(run_id)
        for row in range(self.rowCount()):
            header = self.verticalHeaderItem(row)
            if header is not None and header.text() == row_label:
                item = self.item(row, col)
                return item.text() if item is not None else ""
        raise KeyError(row_label)


class ConfigDiffView(QTreeWidget):
    """The settings that differ between the runs (expanded, one column per run), then those
    they share (collapsed under one line)."""

    def __init__(self) -> None:
        super().__init__()
        self.setRootIsDecorated(True)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.differing_item: QTreeWidgetItem | None = None
        self.same_item: QTreeWidgetItem | None = None

    def set_comparison(self, c: Comparison | None) -> None:
        self.clear()
        self.differing_item = self.same_item = None
        if c is None:
            self.setColumnCount(1)
            self.setHeaderLabels(["Setting"])
            return
        self.setColumnCount(1 + len(c.runs))
        self.setHeaderLabels(["Setting", *(f"#{r.id} {r.name}" for r in c.runs)])
        header = self.headerItem()
        if header is not None:
            for pos in range(len(c.runs)):
                header.setIcon(pos + 1, swatch(run_color(pos)))
        n_diff, n_same = len(c.config_diff), len(c.config_same)
        diff = QTreeWidgetItem(
            [f"Differing settings ({n_diff})" if n_diff else "No setting differs"]
        )
        same = QTreeWidgetItem([f"The same in every run ({n_same})"])
        for top in (diff, same):
            f = top.font(0)
            f.setBold(True)
            top.setFont(0, f)
        missing = QBrush(QColor("#888888"))
        for key, per in c.config_diff.items():
            values = [per.get(r.id) for r in c.runs]
            item = QTreeWidgetItem([key, *("(not set)" if v is None else v for v in values)])
            item.setToolTip(0, key)
            for col, v in enumerate(values, start=1):
                item.setToolTip(col, "(not set)" if v is None else v)
                if v is None:
                    item.setForeground(col, missing)
            diff.addChild(item)
        for key, value in c.config_same.items():
            item = QTreeWidgetItem([key, *([value] * len(c.runs))])
            item.setToolTip(0, key)
            same.addChild(item)
        self.addTopLevelItem(diff)
        self.addTopLevelItem(same)
        diff.setExpanded(True)
        same.setExpanded(False)
        self.differing_item, self.same_item = diff, same
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for col in range(1, 1 + len(c.runs)):
            self.header().setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)

    def differing_keys(self) -> list[str]:
        item = self.differing_item
        return [] if item is None else [item.child(i).text(0) for i in range(item.childCount())]

    def same_keys(self) -> list[str]:
        item = self.same_item
        return [] if item is None else [item.child(i).text(0) for i in range(item.childCount())]


__all__ = ["ConfigDiffView", "SummaryTable"]
