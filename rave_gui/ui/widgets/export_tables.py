"""The Export page's tables: checkpoint and exported-model columns, and the models box."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
)

from ...backend.store.records import Checkpoint, ExportedModel
from ...backend.system.units import format_bytes, format_datetime
from ..models.columns import Column, key
from ..models.record_table import RecordFilterProxy, RecordTableModel, fmt_int

CHECKPOINT_COLUMNS: tuple[Column[Checkpoint], ...] = (
    Column(
        "Checkpoint",
        lambda r: ("★ " if r.is_best else "") + Path(r.path).name,
        tooltip=lambda r: r.path + ("\nthe best one (lowest validation loss)" if r.is_best else ""),
    ),
    Column("Step", key("step"), fmt_int, numeric=True),
    Column("Epoch", key("epoch"), fmt_int, numeric=True),
    Column("Size", key("size"), format_bytes, numeric=True),
    Column("Saved", key("mtime"), format_datetime, numeric=True),
)
MODEL_COLUMNS: tuple[Column[ExportedModel], ...] = (
    Column("Model", lambda r: Path(r.path).name, tooltip=lambda r: _model_tooltip(r)),
    Column("Size", key("size"), format_bytes, numeric=True),
    Column("Streaming", lambda r: "yes" if r.streaming else "no"),
    Column("From checkpoint", lambda r: r.settings.get("checkpoint_label") or "–"),
    Column("Exported", key("created_at"), format_datetime, numeric=True),
    Column("Folder", lambda r: str(Path(r.path).parent), tooltip=lambda r: r.path),
)


def _model_tooltip(r: ExportedModel) -> str:
    gone = "" if Path(r.path).exists() else "\n(the file is no longer there)"
    return f"{r.path}\nfrom {r.checkpoint or '?'}{gone}"


def record_view(model: RecordTableModel[Any], stretch: int) -> tuple[QTableView, RecordFilterProxy]:
    """A sortable, read-only view of whole rows over ``model``; column ``stretch`` takes the
    width left."""
    proxy = RecordFilterProxy(model)
    proxy.setSourceModel(model)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    view.verticalHeader().hide()
    header = view.horizontalHeader()
    for c in range(model.columnCount()):
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view, proxy


class ExportedModelsBox(QGroupBox):
    """The models exported from the shown run, newest first (a line says when there is none)."""

    def __init__(self) -> None:
        super().__init__("Exported models of this run")
        self.model: RecordTableModel[ExportedModel] = RecordTableModel(MODEL_COLUMNS, parent=self)
        self.table, self.proxy = record_view(self.model, 5)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
        self.empty = QLabel("No model exported from this run yet.")
        self.empty.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)

    def set_models(self, models: list[ExportedModel]) -> None:
        self.model.set_records(models)
        self.empty.setVisible(not models)


__all__ = ["CHECKPOINT_COLUMNS", "MODEL_COLUMNS", "ExportedModelsBox", "record_view"]
