"""The Export page's tables: checkpoint and exported-model columns, and the models box."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from ...backend.store.records import Checkpoint, ExportedModel
from ...backend.system.units import format_bytes, format_datetime, format_value
from ..models.columns import Column, key
from ..models.record_table import (
    RecordFilterProxy,
    RecordTableModel,
    fmt_int,
    selected_record,
)
from .file_actions import copy_path, reveal

CHECKPOINT_COLUMNS: tuple[Column[Checkpoint], ...] = (
    Column(
        "Checkpoint",
        lambda r: (
            ("★ " if r.is_best else "")
            + Path(r.path).name
            + (" (on the target)" if r.on_target else "")
        ),
        tooltip=lambda r: (
            r.path
            + ("\nthe best one (lowest validation loss)" if r.is_best else "")
            + (
                "\nleft on the target (not copied here): a resume copies it there"
                if r.on_target
                else ""
            )
        ),
    ),
    Column("Step", key("step"), fmt_int, numeric=True),
    Column("Epoch", key("epoch"), fmt_int, numeric=True),
    Column(
        "Val. loss",
        key("validation"),
        format_value,
        numeric=True,
        tooltip=lambda r: "the validation loss at or just before the checkpoint's step",
    ),
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
    """The models exported from the shown run, newest first (a line says when there is none);
    the selected one can be shown in the file manager or its path copied."""

    def __init__(self) -> None:
        super().__init__("Exported models of this run")
        self.model: RecordTableModel[ExportedModel] = RecordTableModel(MODEL_COLUMNS, parent=self)
        self.table, self.proxy = record_view(self.model, 5)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
        self.empty = QLabel("No model exported from this run yet.")
        self.empty.setEnabled(False)
        self.reveal_button = QPushButton("Show in folder")
        self.reveal_button.setToolTip("Open the folder of the selected model in the file manager")
        self.reveal_button.clicked.connect(lambda: self.reveal_selected())
        self.copy_button = QPushButton("Copy path")
        self.copy_button.setToolTip("Copy the selected model's path (to load it in nn~)")
        self.copy_button.clicked.connect(lambda: self.copy_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.model.modelReset.connect(self._update_buttons)
        buttons = QHBoxLayout()
        buttons.addWidget(self.empty, 1)
        buttons.addWidget(self.reveal_button)
        buttons.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_models(self, models: list[ExportedModel]) -> None:
        self.model.set_records(models)
        self.empty.setVisible(not models)
        if models:
            self.table.selectRow(0)  # the newest
        self._update_buttons()

    def selected_model(self) -> ExportedModel | None:
        return selected_record(self.table, self.proxy, self.model)

    def _update_buttons(self) -> None:
        chosen = self.selected_model()
        there = chosen is not None and Path(chosen.path).exists()
        self.reveal_button.setEnabled(there)
        self.copy_button.setEnabled(chosen is not None)

    def reveal_selected(self) -> bool:
        """Open the selected model's folder in the file manager."""
        chosen = self.selected_model()
        return chosen is not None and reveal(chosen.path)

    def copy_selected(self) -> str | None:
        """Copy the selected model's path to the clipboard (returned)."""
        chosen = self.selected_model()
        if chosen is None:
            return None
        copy_path(chosen.path)
        return chosen.path


__all__ = ["CHECKPOINT_COLUMNS", "MODEL_COLUMNS", "ExportedModelsBox", "record_view"]
