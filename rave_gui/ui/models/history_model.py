"""HistoryModel: every run of the history, read lazily from the store, filtered and sorted there.

The store sorts and filters (``HistoryStore.ids``: the ids of the whole ordered list, a few
milliseconds for 10,000 runs) and the model reads the rows themselves a page at a time
(``HistoryStore.rows``) as the view scrolls: Qt's ``canFetchMore``/``fetchMore``. It reads the
summaries only, never the points. Sorting a column asks the store again (``sort``).
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PyQt6.QtGui import QGuiApplication, QPalette

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.store.history import HistoryFilter, HistoryRow
from ...backend.system.units import format_duration, format_value
from .experiments_model import format_count, format_time
from .roles import Role

PAGE = 100  # rows read first: a few screens
MORE = 1000  # rows read at each fetch after: fewer, larger reads as the user scrolls far
Index = QModelIndex | QPersistentModelIndex

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


def _val(v: float | None) -> str:
    return format_value(v, missing="–")


# (title, the store's sort key, the text of a row, alignment)
COLUMNS: tuple[tuple[str, str, Any, Qt.AlignmentFlag], ...] = (
    ("Name", "name", lambda r: r.name, _LEFT),
    ("Status", "status", lambda r: r.status + (" (archived)" if r.archived else ""), _LEFT),
    ("Started", "started", lambda r: format_time(r.started_at or r.created_at, short=True), _LEFT),
    ("Duration", "duration", lambda r: format_duration(r.duration(), missing="–"), _RIGHT),
    ("Steps", "steps", lambda r: format_count(r.steps), _RIGHT),
    ("Best val.", "best_validation", lambda r: _val(r.best_validation), _RIGHT),
    ("Final val.", "final_validation", lambda r: _val(r.final_validation), _RIGHT),
    ("Config", "config", lambda r: r.config_name or "–", _LEFT),
    ("Dataset", "dataset", lambda r: r.dataset_name or "–", _LEFT),
    ("Tags", "tags", lambda r: ", ".join(r.tags), _LEFT),
)
COL = {key: i for i, (_t, key, _f, _a) in enumerate(COLUMNS)}
_ALIGNS = tuple(int(a.value) for *_x, a in COLUMNS)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_OTHER_ROLES = frozenset(
    {int(Role.KEY), int(Role.STATUS), int(Qt.ItemDataRole.ToolTipRole.value), _FOREGROUND}
)


def _tooltip(r: HistoryRow, column: str) -> str | None:
    if column == "best_validation" and r.best_validation_step is not None:
        return f"best validation {_val(r.best_validation)} at step {r.best_validation_step:,}"
    if column in ("name", "status"):
        lines = [r.name, f"Status: {r.status}"]
        if r.error:
            lines.append(f"Reason: {r.error}")
        if r.notes:
            lines.append(f"Notes: {r.notes[:300]}")
        return "\n".join(lines)
    if column == "started":
        return format_time(r.started_at or r.created_at)
    return None


class HistoryModel(QAbstractTableModel):
    """The runs a HistoryFilter keeps, in the order asked, fetched a page at a time."""

    def __init__(self, manager: TrainingManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.filter = HistoryFilter()
        self.sort_key = "started"
        self.descending = True
        self.page = PAGE
        self.more = MORE
        self.error: str | None = None  # why the last read failed (None: it did not)
        self._ids: list[int] = []
        self._rows: list[HistoryRow] = []
        self._row_of: dict[int, int] = {}
        self._texts: dict[int, tuple[str, ...]] = {}  # each shown row's texts, made once

    # --- what is shown -------------------------------------------------------------------------
    def set_filter(self, f: HistoryFilter) -> None:
        if f != self.filter:
            self.filter = f
            self.reload()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        key = COLUMNS[column][1]
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) != (self.sort_key, self.descending):
            self.sort_key, self.descending = key, descending
            self.reload()

    def reload(self, keep_loaded: bool = False) -> None:
        """Ask the store again (a reset): the first page, or as many rows as were loaded."""
        wanted = max(len(self._rows), self.page) if keep_loaded else self.page
        self.beginResetModel()
        try:
            self._ids = self.manager.history.ids(
                self.filter, sort=self.sort_key, descending=self.descending
            )
            self._rows = self.manager.history.rows(self._ids[:wanted])
            self.error = None
        except RaveGuiError as err:
            self._ids, self._rows, self.error = [], [], str(err)
        self._ids = self._ids if len(self._rows) == min(wanted, len(self._ids)) else [
            r.id for r in self._rows
        ]  # fmt: skip  # a run deleted between the two reads
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}
        self._texts = {}
        self.endResetModel()

    def total(self) -> int:
        """How many runs the filter keeps (loaded or not)."""
        return len(self._ids)

    # --- lazy fetching -------------------------------------------------------------------------
    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self._rows) < len(self._ids)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        start = len(self._rows)
        ids = self._ids[start : start + max(self.page, self.more)]
        if not ids:
            return
        try:
            rows = self.manager.history.rows(ids)
        except RaveGuiError as err:
            self.error = str(err)
            return
        if len(rows) != len(ids):  # runs deleted since the list was read: drop them
            gone = set(ids) - {r.id for r in rows}
            self._ids = [i for i in self._ids if i not in gone]
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self._rows += rows
        for i, r in enumerate(rows, start):
            self._row_of[r.id] = i
        self.endInsertRows()

    def fetch_all(self) -> None:
        while self.canFetchMore():
            self.fetchMore()

    # --- Qt ------------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Asked for every role of every visible cell at each paint: the common answers first.
        if role == _DISPLAY:
            row = index.row()
            texts = self._texts.get(row)
            if texts is None:
                if not 0 <= row < len(self._rows):
                    return None
                r = self._rows[row]
                texts = self._texts[row] = tuple(c[2](r) for c in COLUMNS)
            return texts[index.column()]
        if role == _ALIGN:
            return _ALIGNS[index.column()]
        if role not in _OTHER_ROLES or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        key = COLUMNS[index.column()][1]
        if role == Role.KEY:
            return r.id
        if role == Role.STATUS:
            return r.status if key == "status" else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(r, key)
        if role == _FOREGROUND and r.archived:
            return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0] if 0 <= section < len(COLUMNS) else None
        return None

    # --- access --------------------------------------------------------------------------------
    def run(self, row: int) -> HistoryRow:
        return self._rows[row]

    def row_of(self, experiment_id: int) -> int | None:
        return self._row_of.get(experiment_id)

    def ids(self) -> list[int]:
        """The ids of every run the filter keeps, in order (loaded or not)."""
        return list(self._ids)


__all__ = ["COL", "COLUMNS", "MORE", "PAGE", "HistoryModel"]
