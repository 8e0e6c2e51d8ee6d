"""HistoryFilterBar: what the history shows: status, dataset, config, tag, dates and free text."""

from __future__ import annotations

import datetime as dt

from PyQt6.QtCore import QDate, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ...backend.status import ACTIVE, FINAL, STATUSES
from ...backend.store.history import HistoryFilter

TEXT_DELAY_MS = 200  # typing settles this long before the list is asked again
ANY = "Any"
NO_DATE = QDate(2000, 1, 1)  # the date edits' "no bound" (shown as "–")

STATUS_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Any status", ()),
    ("Active", tuple(ACTIVE)),
    ("Finished", tuple(FINAL)),
    *((s.capitalize(), (s,)) for s in STATUSES),
)


def _date_edit(tip: str) -> QDateEdit:
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(NO_DATE)
    edit.setSpecialValueText("–")
    edit.setDate(NO_DATE)
    edit.setToolTip(tip)
    return edit


class HistoryFilterBar(QWidget):
    """Emits ``changed(HistoryFilter)`` when a choice changes (text after a short pause)."""

    changed = pyqtSignal(object)  # HistoryFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project_id: int | None = None
        self.text_edit = QLineEdit()
        self.text_edit.setPlaceholderText("Search name, notes, tags, overrides…")
        self.text_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        for label, statuses in STATUS_CHOICES:
            self.status_combo.addItem(label, statuses)
        self.dataset_combo = QComboBox()
        self.config_combo = QComboBox()
        self.tag_combo = QComboBox()
        for combo, what in (
            (self.dataset_combo, "dataset"),
            (self.config_combo, "config"),
            (self.tag_combo, "tag"),
        ):
            combo.setToolTip(f"Only runs with this {what}")
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
        self.since_edit = _date_edit("Only runs started on or after this day (– : any)")
        self.until_edit = _date_edit("Only runs started on or before this day (– : any)")
        self.archived_check = QCheckBox("Archived")
        self.archived_check.setToolTip("Show the archived runs too")
        self._set_choices({"datasets": [], "configs": [], "tags": []})

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        top = QHBoxLayout()
        top.addWidget(self.text_edit, 1)
        top.addWidget(self.status_combo)
        choices = QHBoxLayout()
        choices.setSpacing(6)
        for w in (self.dataset_combo, self.config_combo, self.tag_combo):
            choices.addWidget(w, 1)
        dates = QHBoxLayout()
        dates.setSpacing(6)
        dates.addWidget(QLabel("Started"))
        dates.addWidget(self.since_edit)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.until_edit)
        dates.addStretch(1)
        dates.addWidget(self.archived_check)
        lay.addLayout(top)
        lay.addLayout(choices)
        lay.addLayout(dates)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(TEXT_DELAY_MS)
        self._timer.timeout.connect(self._emit)
        self.text_edit.textChanged.connect(lambda _t: self._timer.start())
        for combo in (self.status_combo, self.dataset_combo, self.config_combo, self.tag_combo):
            combo.currentIndexChanged.connect(lambda _i: self._emit())
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(lambda _d: self._emit())
        self.archived_check.toggled.connect(lambda _c: self._emit())
        self._quiet = False

    # --- choices -------------------------------------------------------------------------------
    def _set_choices(self, choices: dict[str, list[str]]) -> None:
        for combo, key, any_text in (
            (self.dataset_combo, "datasets", "Any dataset"),
            (self.config_combo, "configs", "Any config"),
            (self.tag_combo, "tags", "Any tag"),
        ):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(any_text, None)
            for value in choices.get(key, []):
                combo.addItem(value, value)
            i = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(i, 0))
            combo.blockSignals(False)

    def set_choices(self, choices: dict[str, list[str]]) -> None:
        """The datasets, configs and tags offered (a choice that is gone falls back to Any)."""
        before = self.current()
        self._set_choices(choices)
        if self.current() != before:
            self._emit()

    # --- the filter ----------------------------------------------------------------------------
    def current(self) -> HistoryFilter:
        def day(edit: QDateEdit, end: bool) -> float | None:
            d = edit.date()
            if d == NO_DATE:
                return None
            when = dt.datetime(d.year(), d.month(), d.day())
            return (when + dt.timedelta(days=1 if end else 0)).timestamp()

        return HistoryFilter(
            project_id=self.project_id,
            statuses=tuple(self.status_combo.currentData() or ()),
            dataset=self.dataset_combo.currentData(),
            config=self.config_combo.currentData(),
            tag=self.tag_combo.currentData(),
            since=day(self.since_edit, False),
            until=day(self.until_edit, True),
            text=self.text_edit.text().strip(),
            archived=None if self.archived_check.isChecked() else False,
        )

    def clear(self) -> None:
        """Every filter off (one change)."""
        self._quiet = True
        try:
            self.text_edit.clear()
            for combo in (
                self.status_combo,
                self.dataset_combo,
                self.config_combo,
                self.tag_combo,
            ):
                combo.setCurrentIndex(0)
            self.since_edit.setDate(NO_DATE)
            self.until_edit.setDate(NO_DATE)
            self.archived_check.setChecked(False)
        finally:
            self._quiet = False
        self._timer.stop()
        self._emit()

    def flush(self) -> None:
        """Apply typed text now (without waiting for the pause)."""
        if self._timer.isActive():
            self._timer.stop()
            self._emit()

    def _emit(self) -> None:
        if not self._quiet:
            self.changed.emit(self.current())


__all__ = ["HistoryFilterBar"]
