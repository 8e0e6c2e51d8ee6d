"""A table model over a list of backend records (dicts), its columns described as data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QAbstractItemView

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2

_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

Index = QModelIndex | QPersistentModelIndex


def dash(value: Any) -> str:
    return "–" if value is None or value == "" else str(value)


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


@dataclass(frozen=True)
class Column:
    """One column: its title, the record's value (used for sorting) and how it is shown."""

    title: str
    value: Callable[[dict[str, Any]], Any]
    text: Callable[[Any], str] = dash
    numeric: bool = False
    tooltip: Callable[[dict[str, Any]], str | None] | None = None
    align: Qt.AlignmentFlag | None = field(default=None)

    def alignment(self) -> Qt.AlignmentFlag:
        if self.align is not None:
            return self.align
        return _RIGHT if self.numeric else _LEFT


def key(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record.get(name)


class RecordTableModel(QAbstractTableModel):
    """Rows are records (dicts with a unique ``key`` field). ``set_records`` updates rows in
    place, removes the ones gone and appends new ones, so views keep selection and scroll."""

    def __init__(
        self,
        columns: Sequence[Column],
        key_field: str = "id",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.key_field = key_field
        self._rows: list[dict[str, Any]] = []
        self.emphasized: Callable[[dict[str, Any]], bool] | None = None

    # --- content -------------------------------------------------------------------------------
    def set_records(self, records: Iterable[dict[str, Any]]) -> None:
        new = list(records)
        new_keys = {r[self.key_field] for r in new}
        # Remove rows that are gone, from the bottom up (contiguous runs in one go).
        row = len(self._rows) - 1
        while row >= 0:
            if self._rows[row][self.key_field] not in new_keys:
                end = row
                while row - 1 >= 0 and self._rows[row - 1][self.key_field] not in new_keys:
                    row -= 1
                self.beginRemoveRows(QModelIndex(), row, end)
                del self._rows[row : end + 1]
                self.endRemoveRows()
            row -= 1
        position = {r[self.key_field]: i for i, r in enumerate(self._rows)}
        added = []
        for record in new:
            i = position.get(record[self.key_field])
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

    def record(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def records(self) -> list[dict[str, Any]]:
        return list(self._rows)

    def row_of(self, record_key: Any) -> int:
        for i, r in enumerate(self._rows):
            if r[self.key_field] == record_key:
                return i
        return -1

    def refresh_emphasis(self) -> None:
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(len(self._rows) - 1, len(self.columns) - 1),
                [Qt.ItemDataRole.FontRole],
            )

    # --- QAbstractTableModel -------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            col = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return col.title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return col.alignment()
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(col.value(record))
        if role == SORT_ROLE:
            value = col.value(record)
            if col.numeric:
                try:
                    return float("-inf") if value is None else float(value)
                except (TypeError, ValueError):
                    return float("-inf")
            return "" if value is None else str(value).casefold()
        if role == KEY_ROLE:
            return record[self.key_field]
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tooltip(record) if col.tooltip else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return col.alignment()
        if role == Qt.ItemDataRole.FontRole and self.emphasized and self.emphasized(record):
            font = QFont()
            font.setBold(True)
            return font
        return None


class RecordFilterProxy(QSortFilterProxyModel):
    """Sorts by each column's value (numbers as numbers) and filters on any column's text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)


def selected_record(
    view: QAbstractItemView, proxy: QSortFilterProxyModel, model: RecordTableModel
) -> dict[str, Any] | None:
    """The record of the view's selected row (through its proxy), None without a selection."""
    rows = view.selectionModel().selectedRows()
    if not rows:
        return None
    return model.record(proxy.mapToSource(rows[0]).row())


def select_record(
    view: QAbstractItemView, proxy: QSortFilterProxyModel, model: RecordTableModel, rid: int
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
