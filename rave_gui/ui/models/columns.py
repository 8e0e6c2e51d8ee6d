"""Table columns described once, as data, and the table model every such table shares.

A :class:`Column` says what a column is called, what value it takes from a row's record, how
that value is shown, how it sorts, how it is aligned and what its tooltip says.
:class:`ColumnTableModel` answers Qt's questions (display text, :class:`Role` values,
alignment, tooltips, headers) from those descriptions; its subclasses only hold the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from .roles import Role

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex

_VCENTER = Qt.AlignmentFlag.AlignVCenter


def dash(value: Any) -> str:
    return "–" if value is None or value == "" else str(value)


def key(name: str) -> Callable[[Any], Any]:
    """The value of a record's field ``name`` (a column's ``value`` for records: the store's
    dataclasses); None when the record has no such field."""
    return lambda record: getattr(record, name, None)


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column of a table over records of type ``R``.

    ``value`` takes the cell's value from a record and ``text`` turns it into the text shown.
    The column sorts by ``sort(record)`` if given, else by the value: as a number (missing
    first) for a ``numeric`` column, as case-folded text otherwise. Numeric columns are
    right-aligned unless ``align`` says otherwise. ``name`` lets code find a column (COL).
    """

    title: str
    value: Callable[[R], Any]
    text: Callable[[Any], str] = dash
    numeric: bool = False
    tooltip: Callable[[R], str | None] | None = None
    align: Qt.AlignmentFlag | None = None
    sort: Callable[[R], Any] | None = None
    name: str = ""

    def display(self, record: R) -> str:
        return self.text(self.value(record))

    def sort_key(self, record: R) -> Any:
        if self.sort is not None:
            return self.sort(record)
        value = self.value(record)
        if self.numeric:
            try:
                return float("-inf") if value is None else float(value)
            except (TypeError, ValueError):
                return float("-inf")
        return "" if value is None else str(value).casefold()

    def alignment(self) -> Qt.AlignmentFlag:
        if self.align is not None:
            return self.align | _VCENTER
        horizontal = Qt.AlignmentFlag.AlignRight if self.numeric else Qt.AlignmentFlag.AlignLeft
        return horizontal | _VCENTER


def column_index(columns: Sequence[Column[Any]]) -> dict[str, int]:
    """{column name: its position}, for the named columns."""
    return {c.name: i for i, c in enumerate(columns) if c.name}


class ColumnTableModel(QAbstractTableModel, Generic[R]):
    """A flat table of records (``self._rows``) shown through ``self.columns``. Subclasses
    fill ``_rows``, say what a record's key is (``record_key``, answered as Role.KEY) and may
    answer more roles in ``extra_data``."""

    def __init__(self, columns: Sequence[Column[R]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns: list[Column[R]] = list(columns)
        self._rows: list[R] = []

    def record_key(self, record: R) -> Any:
        raise NotImplementedError

    def extra_data(self, record: R, column: Column[R], role: int) -> Any:
        """Roles a subclass answers besides the columns' own (None: no data)."""
        return None

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
            return col.display(record)
        if role == Role.SORT:
            return col.sort_key(record)
        if role == Role.KEY:
            return self.record_key(record)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return col.alignment()
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tooltip(record) if col.tooltip is not None else None
        return self.extra_data(record, col, role)


__all__ = ["Column", "ColumnTableModel", "Index", "column_index", "dash", "key"]
