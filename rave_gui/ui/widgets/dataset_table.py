"""The table of registered datasets (its columns, model and look), shared by the Datasets page
and the training wizard's dataset page."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from ...backend.store.records import Dataset
from ...backend.system.units import format_bytes, format_duration
from ..models.columns import Column, key
from ..models.record_table import RecordFilterProxy, RecordTableModel, fmt_int


@dataclass(frozen=True, slots=True)
class SizedDataset(Dataset):
    """A dataset with the size of its folder on disk (measured off the GUI thread; None until
    then), as the Datasets page lists it."""

    size_bytes: int | None = None

    @classmethod
    def of(cls, ds: Dataset, size_bytes: int | None) -> SizedDataset:
        fields = {f.name: getattr(ds, f.name) for f in dataclasses.fields(Dataset)}
        return cls(**fields, size_bytes=size_bytes)


DATASET_COLUMNS: tuple[Column[Dataset], ...] = (
    Column("Name", key("name")),
    Column("Path", key("path"), tooltip=lambda r: r.path),
    Column("Size on disk", key("size_bytes"), format_bytes, numeric=True),
    Column("Sample rate", key("sample_rate"), lambda v: "–" if v is None else f"{v:,} Hz", True),
    Column("Channels", key("channels"), fmt_int, numeric=True),
    Column("Duration", key("duration_s"), format_duration, numeric=True),
    Column("Examples", key("n_examples"), fmt_int, numeric=True),
    Column("Experiments", key("n_experiments"), fmt_int, numeric=True),
)


def dataset_model(parent: QWidget) -> tuple[RecordTableModel[Dataset], RecordFilterProxy]:
    model: RecordTableModel[Dataset] = RecordTableModel(DATASET_COLUMNS, parent=parent)
    proxy = RecordFilterProxy(parent)
    proxy.setSourceModel(model)
    return model, proxy


def configure_table(table: QTableView, stretch_column: int) -> None:
    table.setSortingEnabled(True)
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    for c in range(table.model().columnCount()):
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch_column, QHeaderView.ResizeMode.Stretch)


__all__ = ["DATASET_COLUMNS", "SizedDataset", "configure_table", "dataset_model"]
