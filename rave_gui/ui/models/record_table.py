"""A table model over a list of backend records (the store's dataclasses), its columns described
as data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from PyQt6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
)
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QAbstractItemView

from .columns import Column, ColumnTableModel
from .roles import Role

R = TypeVar("R")


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


class RecordTableModel(ColumnTableModel[R]):
    """Rows are records (with a unique ``key_field`` attribute). ``set_records`` updates rows
    in place, removes the ones gone and appends new ones, so views keep selection and scroll."""

    def __init__(
        self,
        columns: Sequence[Column[R]],
        key_field: str = "id",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(columns, parent)
        self.key_field = key_field
        self.emphasized: Callable[[R], bool] | None = None

    # --- content -------------------------------------------------------------------------------
    def set_records(self, records: Iterable[R]) -> None:
        new = list(records)
        new_keys = {self.record_key(r) for r in new}
        # Remove rows that are gone, from the bottom up (contiguous runs in one go).
        row = len(self._rows) - 1
        while row >= 0:
            if self.record_key(self._rows[row]) not in new_keys:
                end = row
                while row - 1 >= 0 and self.record_key(self._rows[row - 1]) not in new_keys:
                    row -= 1
                self.beginRemoveRows(QModelIndex(), row, end)
                del self._rows[row : end + 1]
                self.endRemoveRows()
            row -= 1
        position = {self.record_key(r): i for i, r in enumerate(self._rows)}
        added = []
        for record in new:
            i = position.get(self.record_key(record))
            if i is None:
                added.append(record)
            elif self._rows[i] != record:
                self._rows[i] = record
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
        if added:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
            self._rows.extend(added)
            self.endInsertRows()

    def record(self, row: int) -> R:
        return self._rows[row]

    def records(self) -> list[R]:
        return list(self._rows)

    def row_of(self, record_key: Any) -> int:
        for i, r in enumerate(self._rows):
            if self.record_key(r) == record_key:
                return i
        return -1

    def refresh_emphasis(self) -> None:
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(len(self._rows) - 1, len(self.columns) - 1),
                [Qt.ItemDataRole.FontRole],
            )

    # --- ColumnTableModel ----------------------------------------------------------------------
    def record_key(self, record: R) -> Any:
        return getattr(record, self.key_field)

    def extra_data(self, record: R, column: Column[R], role: int) -> Any:
        if role == Qt.ItemDataRole.FontRole and self.emphasized and self.emphasized(record):
            font = QFont()
            font.setBold(True)
            return font
        return None


class RecordFilterProxy(QSortFilterProxyModel):
    """Sorts by each column's value (numbers as numbers) and filters on any column's text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(Role.SORT)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)


def selected_record(
    view: QAbstractItemView, proxy: QSortFilterProxyModel, model: RecordTableModel[R]
) -> R | None:
    """The record of the view's selected row (through its proxy), None without a selection."""
    rows = view.selectionModel().selectedRows()
    if not rows:
        return None
    return model.record(proxy.mapToSource(rows[0]).row())


def select_record(
    view: QAbstractItemView, proxy: QSortFilterProxyModel, model: RecordTableModel[Any], rid: int
) -> None:
    """Select (and scroll to) the row of the record with id ``rid``, if it is shown."""
    row = model.row_of(rid)
    if row < 0:
        return
    index = proxy.mapFromSource(model.index(row, 0))
    view.selectionModel().select(
        index,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    view.scrollTo(index)
