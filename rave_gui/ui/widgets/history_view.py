"""HistoryView: every run of the project, filtered and sorted by the store, and what to do with
them: details, run again, compare, TensorBoard, export metrics, archive, delete.

The table reads lazily (:class:`HistoryModel`); several runs can be selected. "Compare" and
"Open in TensorBoard" only emit ``compare_requested`` / ``tensorboard_requested`` with the
selected ids; "Run again" emits ``run_again_requested`` (the window opens the wizard
prefilled). Deleting and exporting run off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import QItemSelection, QItemSelectionModel, QPoint, Qt, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.runs.cleanup import delete_run, plan_delete
from ...backend.runs.metrics_export import export_metrics
from ...backend.system.units import format_bytes
from ...core.worker import run_in_background
from ..dialogs.confirm import ask_confirmation, tell_refused
from ..models.history_model import COL, HistoryModel
from ..models.roles import Role
from .history_filters import HistoryFilterBar
from .run_detail import RunDetailDialog
from .status_delegate import StatusDelegate

COMPARE_MIN, COMPARE_MAX = 2, 10


class HistoryView(QWidget):
    """See the module docstring."""

    run_selected = pyqtSignal(int)  # the current run changed (the run panel shows it)
    compare_requested = pyqtSignal(list)  # 2 to 10 experiment ids
    tensorboard_requested = pyqtSignal(list)  # experiment ids
    run_again_requested = pyqtSignal(int)  # open the wizard with this run's settings
    runs_deleted = pyqtSignal(list)  # experiment ids removed from the store
    runs_edited = pyqtSignal(list)  # experiment ids archived, unarchived, their notes or tags
    message = pyqtSignal(str)  # what an action did ("Exported 1,200 points to …")

    def __init__(self, manager: TrainingManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.model = HistoryModel(manager, self)
        self.filter_bar = HistoryFilterBar(self)
        self.filter_bar.changed.connect(self._filter_changed)
        self.last_message = ""

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(COL["status"], StatusDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # the indicator first: enabling sorting then sorts as the model already is (no read)
        self.table.horizontalHeader().setSortIndicator(COL["started"], Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        for key, width in (
            ("name", 150),
            ("status", 92),
            ("started", 124),
            ("duration", 92),
            ("steps", 60),
            ("best_validation", 84),
            ("final_validation", 84),
            ("config", 96),
            ("dataset", 84),
        ):
            self.table.setColumnWidth(COL[key], width)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda idx: self.open_detail(idx.data(Role.KEY)))
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.count_label = QLabel()
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)

        self._build_actions()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 4, 8)
        lay.setSpacing(6)
        lay.addWidget(self.filter_bar)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)

    def _build_actions(self) -> None:
        def action(text: str, slot: Any, tip: str = "") -> QAction:
            a = QAction(text, self)
            a.setToolTip(tip or text)
            a.triggered.connect(lambda _c=False: slot())
            return a

        self.detail_action = action("Details…", lambda: self.open_detail(self.current_id()))
        self.run_again_action = action(
            "Run again…", self._run_again, "Open New training with this run's settings"
        )
        self.compare_action = action(
            "Compare", self._compare, f"Compare {COMPARE_MIN} to {COMPARE_MAX} selected runs"
        )
        self.tensorboard_action = action(
            "Open in TensorBoard", lambda: self.tensorboard_requested.emit(self.selected_ids())
        )
        self.export_action = action("Export metrics…", self.ask_export)
        self.archive_action = action("Archive", lambda: self.set_archived(True), "Hide the runs")
        self.unarchive_action = action("Unarchive", lambda: self.set_archived(False))
        self.delete_action = action("Delete…", lambda: self.ask_delete(files=False))
        self.delete_files_action = action("Delete with files…", lambda: self.ask_delete(files=True))

    # --- loading -------------------------------------------------------------------------------
    def set_project(self, project_id: int | None) -> None:
        self.filter_bar.project_id = project_id
        self.refresh_choices()
        f = self.filter_bar.current()
        if f != self.model.filter:
            self.model.set_filter(f)  # reads the list
        else:
            self.model.reload()

    def refresh(self) -> None:
        """Read the list again, keeping what was loaded and the selection."""
        selected = self.selected_ids()
        self.refresh_choices()
        self.model.reload(keep_loaded=True)
        self.select_ids(selected)

    def refresh_choices(self) -> None:
        try:
            self.filter_bar.set_choices(self.manager.history.choices(self.filter_bar.project_id))
        except RaveGuiError as err:
            self._say(str(err))

    def _filter_changed(self, f: Any) -> None:
        self.model.set_filter(f)

    def _update_count(self, *_args: Any) -> None:
        total = self.model.total()
        text = f"{total:,} run{'s' if total != 1 else ''}"
        if self.model.error:
            text = f"The runs cannot be read: {self.model.error}"
        self.count_label.setText(text)

    # --- selection -----------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.model.run(r).id for r in rows if r < self.model.rowCount()]

    def current_id(self) -> int | None:
        idx = self.table.currentIndex()
        return self.model.run(idx.row()).id if idx.isValid() else None

    def select_ids(self, ids: list[int]) -> None:
        sel = QItemSelection()
        for i in ids:
            row = self.model.row_of(i)
            if row is not None:
                sel.select(self.model.index(row, 0), self.model.index(row, len(COL) - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.table.selectionModel().select(sel, flags)

    def _current_changed(self, current: Any, _previous: Any) -> None:
        if current.isValid():
            self.run_selected.emit(self.model.run(current.row()).id)

    # --- actions -------------------------------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        if not self.table.indexAt(pos).isValid():
            return
        menu = self.context_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.table.viewport().mapToGlobal(pos))
        self._menu = menu

    def context_menu(self) -> QMenu:
        """The menu for the selected runs (actions enabled where they apply)."""
        ids = self.selected_ids()
        one = len(ids) == 1
        self.detail_action.setEnabled(one)
        self.run_again_action.setEnabled(one)
        self.export_action.setEnabled(one)
        self.compare_action.setEnabled(COMPARE_MIN <= len(ids) <= COMPARE_MAX)
        self.tensorboard_action.setEnabled(bool(ids))
        archived = [self.model.run(self.model.row_of(i) or 0).archived for i in ids]
        self.archive_action.setEnabled(bool(ids) and not all(archived))
        self.unarchive_action.setEnabled(any(archived))
        self.delete_action.setEnabled(one)
        self.delete_files_action.setEnabled(one)
        menu = QMenu(self)
        for a in (self.detail_action, self.run_again_action):
            menu.addAction(a)
        menu.addSeparator()
        for a in (self.compare_action, self.tensorboard_action, self.export_action):
            menu.addAction(a)
        menu.addSeparator()
        for a in (self.archive_action, self.unarchive_action):
            menu.addAction(a)
        menu.addSeparator()
        for a in (self.delete_action, self.delete_files_action):
            menu.addAction(a)
        return menu

    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.emit(text)

    def _compare(self) -> None:
        ids = self.selected_ids()
        if COMPARE_MIN <= len(ids) <= COMPARE_MAX:
            self.compare_requested.emit(ids)

    def _run_again(self) -> None:
        exp_id = self.current_id()
        if exp_id is not None:
            self.run_again_requested.emit(exp_id)

    def open_detail(self, experiment_id: int | None) -> Any:
        """Open the run's detail in a window of its own (non-blocking)."""
        if experiment_id is None:
            return None
        dialog = RunDetailDialog(self.manager, experiment_id, self)
        dialog.saved.connect(lambda i: (self.refresh(), self.runs_edited.emit([i])))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def set_archived(self, archived: bool) -> None:
        ids = self.selected_ids()
        try:
            for i in ids:
                self.manager.history.set_archived(i, archived)
        except RaveGuiError as err:
            tell_refused(self, "Archive", "The runs were not all archived.", str(err))
        self.model.reload(keep_loaded=True)
        self.runs_edited.emit(ids)
        what = "archived (hidden)" if archived else "shown again"
        self._say(f"{len(ids)} run{'s' if len(ids) != 1 else ''} {what}")

    # --- delete ----------------------------------------------------------------------------------
    def ask_delete(self, files: bool) -> Any:
        """Confirm, then delete the selected run (with its folder when ``files``)."""
        exp_id = self.current_id()
        if exp_id is None:
            return None
        try:
            plan = plan_delete(self.manager, exp_id)
        except RaveGuiError as err:
            return tell_refused(self, "Delete run", "This run cannot be deleted.", str(err))
        if files and plan.files_kept_because:
            return tell_refused(
                self, "Delete run", "Its files cannot be deleted.", plan.files_kept_because
            )
        if files and plan.folder:
            details = (
                f"Its folder {plan.folder} is deleted too: {format_bytes(plan.folder_bytes)} "
                "freed on disk. This cannot be undone."
            )
        else:
            kept = (
                f" Its files stay in {plan.folder} ({format_bytes(plan.folder_bytes)})."
                if plan.folder
                else ""
            )
            details = f"Its metrics, notes and tags are removed from the database.{kept}"
        return ask_confirmation(
            self,
            "Delete run",
            f"Delete the run {plan.name!r}?",
            details,
            "Delete with files" if files else "Delete",
            lambda: self.delete(exp_id, files=files),
        )

    def delete(self, experiment_id: int, *, files: bool) -> None:
        """Delete now (off the GUI thread); the list is read again when done."""

        def done(freed: int) -> None:
            self.model.reload(keep_loaded=True)
            self.refresh_choices()
            self.runs_deleted.emit([experiment_id])
            self._say(f"Run deleted; {format_bytes(freed)} freed" if files else "Run deleted")

        def failed(err: Exception) -> None:
            self.model.reload(keep_loaded=True)
            tell_refused(self, "Delete run", "The run was not deleted.", str(err))
            self._say(str(err))

        run_in_background(
            lambda: delete_run(self.manager, experiment_id, files=files), done, failed
        )

    # --- export ----------------------------------------------------------------------------------
    def ask_export(self) -> QFileDialog | None:
        exp_id = self.current_id()
        if exp_id is None:
            return None
        name = self.model.run(self.model.row_of(exp_id) or 0).name
        dialog = QFileDialog(self, "Export metrics", str(Path.home() / f"{name}-metrics.csv"))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(["CSV (*.csv)", "JSON (*.json)"])
        dialog.setDefaultSuffix("csv")
        dialog.filterSelected.connect(
            lambda f: dialog.setDefaultSuffix("json" if "json" in f else "csv")
        )
        dialog.fileSelected.connect(lambda path: self.export(exp_id, path))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._export_dialog = dialog
        return dialog

    def export(self, experiment_id: int, path: str) -> None:
        """Write the run's points to ``path`` (JSON for a .json file, else CSV), off the GUI
        thread."""
        fmt = "json" if path.lower().endswith(".json") else "csv"

        def done(n: int) -> None:
            self._say(f"Exported {n:,} points to {path}")

        def failed(err: Exception) -> None:
            tell_refused(self, "Export metrics", "The metrics were not exported.", str(err))
            self._say(str(err))

        run_in_background(
            lambda: export_metrics(self.manager, experiment_id, path, fmt), done, failed
        )


__all__ = ["COMPARE_MAX", "COMPARE_MIN", "HistoryView"]
