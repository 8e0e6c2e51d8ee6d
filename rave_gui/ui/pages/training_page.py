"""TrainingPage: the project's runs (left) and everything about the selected one (right).

Left: the experiments table with a text and a status filter, and the run actions (stop, pause,
resume, resume from a checkpoint) as buttons and a context menu, enabled only where the
selected run's status allows them. Right: the RunPanel: the run's status, progress, speed,
elapsed time, ETA and PID, its curves (MetricsPlot), its log (LogView) and the machine's load
(SystemPanel). Live runs update through the AppSignals; a finished or imported run shows its
whole history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PyQt6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.status import (
    ACTIVE,
    FINAL,
    LIVE,
    STATUSES,
    Action,
    allowed_actions,
)
from ...backend.store.records import Experiment
from ...core.signals import AppSignals
from ...core.worker import BackgroundTask
from ..dialogs.resume_dialog import ResumeDialog
from ..models.experiments_model import (
    COL,
    ExperimentsFilterModel,
    ExperimentsModel,
    RunRow,
)
from ..widgets.history_view import HistoryView
from ..widgets.run_panel import RunPanel
from ..widgets.status_delegate import StatusDelegate

if TYPE_CHECKING:
    from ..widgets.metrics_plot import MetricsPlot


class RunActions(Protocol):
    """What the page asks of the RunController."""

    def stop(self, experiment_id: int) -> Any: ...
    def pause(self, experiment_id: int) -> Any: ...
    def resume(self, experiment_id: int) -> Any: ...
    def resume_from_checkpoint(
        self,
        experiment_id: int,
        name: str | None = None,
        *,
        checkpoint: str | None = None,
        max_steps: int | None = None,
    ) -> int: ...
    def save_checkpoint_now(self, experiment_id: int) -> Any: ...


STATUS_FILTERS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("All runs", None),
    ("Active", ACTIVE),
    ("Finished", FINAL),
    *((s.capitalize(), (s,)) for s in STATUSES),
)


# Shortcuts of the run actions, active while the Training page has the focus (the window's own
# are Ctrl+N, Ctrl+, Ctrl+Q, Ctrl+1…4 and F5).
STOP_KEYS, PAUSE_KEYS, RESUME_KEYS = "Ctrl+.", "Ctrl+P", "Ctrl+R"
HISTORY_REFRESH_MS = 1000  # the history is read again this long after runs changed


class TrainingPage(QWidget):
    """See the module docstring. ``controller`` may be None (actions then stay disabled)."""

    export_requested = pyqtSignal(int)  # "Export…" on a run: the Export page takes over
    new_training_requested = pyqtSignal()  # "New training…": the window opens the wizard
    run_again_requested = pyqtSignal(int)  # "Run again…" in the history: the wizard, prefilled
    compare_requested = pyqtSignal(list)  # "Compare" on 2 to 10 runs of the history
    tensorboard_requested = pyqtSignal(list)  # "Open in TensorBoard" on runs of the history

    def __init__(
        self,
        manager: TrainingManager,
        controller: RunActions | None,
        signals: AppSignals,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.controller = controller
        self.signals = signals
        self.project_id: int | None = None
        self.current_id: int | None = None
        self._current: Experiment | None = None  # the selected experiment's record
        self._has_checkpoints = False
        self.confirm_actions = True
        self.last_error: str | None = None
        self.resume_dialog: ResumeDialog | None = None  # the last one opened

        self.model = ExperimentsModel(manager, signals, self)
        self.proxy = ExperimentsFilterModel(self)
        self.proxy.setSourceModel(self.model)

        self._build_actions()
        left = self._build_left()
        self.panel = RunPanel(manager, signals, self._row, self)
        self.log_view = self.panel.log_view
        self.history = self._build_history()
        self.left_tabs = QTabWidget()
        self.left_tabs.setDocumentMode(True)
        self.left_tabs.addTab(left, "Runs")
        # The history takes the whole page when shown (the run panel hides): its filter bar's
        # width must not widen the smallest window, where the Runs tab sits beside the panel.
        self.history.setMinimumWidth(280)
        self.left_tabs.addTab(self.history, "History")
        self.left_tabs.currentChanged.connect(self._left_tab_changed)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left_tabs)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([420, 980])  # the table keeps 420 px, the run panel the rest
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)

        signals.run_progress.connect(self._on_progress)
        self.panel.continue_requested.connect(self.continue_run)
        action_failed = getattr(controller, "action_failed", None)  # remote runs: background
        if action_failed is not None:
            action_failed.connect(self._on_action_failed)
        signals.run_status_changed.connect(self._on_status_changed)
        signals.run_output.connect(self.log_view.append_output)
        signals.run_checkpoints_changed.connect(self._on_checkpoints_changed)
        for sig in (signals.run_completed, signals.run_stopped, signals.run_failed):
            sig.connect(self._on_run_ended)
        self._show_run(None)

    # --- construction --------------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.new_training_action = QAction("New training…", self)
        self.new_training_action.setToolTip("Start a new training run in this project (Ctrl+N)")
        self.new_training_action.triggered.connect(self.new_training_requested.emit)
        self.stop_action = QAction("Stop", self)
        self.stop_action.triggered.connect(lambda: self.stop_selected())
        self.pause_action = QAction("Pause", self)
        self.pause_action.triggered.connect(lambda: self.pause_selected())
        self.resume_action = QAction("Resume", self)
        self.resume_action.triggered.connect(lambda: self.resume_selected())
        for action, keys, tip in (
            (self.stop_action, STOP_KEYS, "Stop the run gracefully (its last checkpoint is kept)"),
            (self.pause_action, PAUSE_KEYS, "Suspend the run's processes (GPU memory stays held)"),
            (self.resume_action, RESUME_KEYS, "Continue a paused run"),
        ):
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shown = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{tip} ({shown})")
            self.addAction(action)
        self.resume_ckpt_action = QAction("Resume from checkpoint", self)
        self.resume_ckpt_action.setToolTip(
            "Start a new run that continues from this run's newest checkpoint"
        )
        self.resume_ckpt_action.triggered.connect(lambda: self.resume_selected_from_checkpoint())
        self.save_ckpt_action = QAction("Save checkpoint now", self)
        self.save_ckpt_action.setToolTip(
            "Save a checkpoint at the next training step (RAVE itself saves only at validation)"
        )
        self.save_ckpt_action.triggered.connect(lambda: self.save_checkpoint_selected())
        self.export_action = QAction("Export…", self)
        self.export_action.setToolTip("Export a checkpoint of this run to a model for nn~")
        self.export_action.triggered.connect(lambda: self._request_export())
        self.refresh_action = QAction("Refresh", self)  # F5 is the main window's shortcut
        self.refresh_action.triggered.connect(lambda: self.refresh())
        self.run_actions = (
            self.stop_action,
            self.pause_action,
            self.resume_action,
            self.resume_ckpt_action,
            self.save_ckpt_action,
            self.export_action,
        )
        self._action_of: dict[Action, QAction] = {
            Action.STOP: self.stop_action,
            Action.PAUSE: self.pause_action,
            Action.RESUME: self.resume_action,
            Action.RESUME_FROM_CHECKPOINT: self.resume_ckpt_action,
            Action.SAVE_CHECKPOINT: self.save_ckpt_action,
            Action.EXPORT: self.export_action,
        }

    def _build_left(self) -> QWidget:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs by name, dataset, status…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text_filter)
        self.status_combo = QComboBox()
        for label, statuses in STATUS_FILTERS:
            self.status_combo.addItem(label, statuses)
        self.status_combo.currentIndexChanged.connect(
            lambda i: self.proxy.set_status_filter(self.status_combo.itemData(i))
        )
        filters = QHBoxLayout()
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.status_combo)

        self.toolbar = QToolBar()
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toolbar.addAction(self.new_training_action)
        self.toolbar.addSeparator()
        for a in self.run_actions:
            self.toolbar.addAction(a)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setItemDelegateForColumn(COL["status"], StatusDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL["started"], Qt.SortOrder.DescendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL["name"], QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        for key, width in (
            ("status", 86),
            ("started", 96),
            ("duration", 78),
            ("step", 92),
            ("best", 70),
        ):
            self.table.setColumnWidth(COL[key], width)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self.proxy.rowsRemoved.connect(self._on_rows_removed)
        self.proxy.layoutChanged.connect(self._ensure_selection_visible)

        self.count_label = QLabel()
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)

        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(8, 8, 4, 8)
        lay.setSpacing(6)
        lay.addLayout(filters)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)
        box.setMinimumWidth(300)  # the run panel keeps the room at the smallest window
        return box

    def _build_history(self) -> HistoryView:
        """Every run, filtered and sorted by the store, read lazily (the "History" tab)."""
        history = HistoryView(self.manager, self)
        history.run_selected.connect(lambda i: i != self.current_id and self._show_run(i))
        history.run_again_requested.connect(self.run_again_requested)
        history.compare_requested.connect(self.compare_requested)
        history.tensorboard_requested.connect(self.tensorboard_requested)
        history.runs_deleted.connect(lambda _ids: self.model.refresh())
        history.runs_edited.connect(lambda _ids: self.model.refresh())  # archived: hidden
        self._history_timer = QTimer(self)  # runs change in bursts: read the history once
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(HISTORY_REFRESH_MS)
        self._history_timer.timeout.connect(history.refresh)
        for sig in (self.signals.runs_changed, self.signals.run_status_changed):
            sig.connect(lambda *_a: self._history_timer.start())
        return history

    def _left_tab_changed(self, index: int) -> None:
        """The history has ten columns: it takes the page's whole width (a run's detail opens
        in a window of its own); back on Runs, the run chosen in the history stays shown."""
        history = self.left_tabs.widget(index) is self.history
        if history:  # the runs list, hidden, widens with the page: its name column stretches
            self._name_width = self.table.horizontalHeader().sectionSize(COL["name"])
        self.panel.setVisible(not history)
        if not history:  # once laid out again: the name column as it was, not page-wide
            QTimer.singleShot(0, self._restore_name_width)
        if not history and self.current_id is not None:
            self.select_run(self.current_id)

    def _restore_name_width(self) -> None:
        width = getattr(self, "_name_width", None)
        if width:
            header = self.table.horizontalHeader()
            header.setSectionResizeMode(COL["name"], QHeaderView.ResizeMode.Interactive)
            header.resizeSection(COL["name"], width)
            header.setSectionResizeMode(COL["name"], QHeaderView.ResizeMode.Stretch)

    @property
    def plot(self) -> MetricsPlot:
        """The selected run's curves (built on first use)."""
        return self.panel.plot

    # --- project and refresh -------------------------------------------------------------------
    def set_project(self, project_id: int | None) -> None:
        """Show another project's runs; the newest is selected. The same project again only
        refreshes the list (the selection stays)."""
        if project_id == self.project_id and project_id is not None:
            self.model.refresh()
            self.history.refresh()
            return
        self.project_id = project_id
        self.model.set_project(project_id)
        self.history.set_project(project_id)
        self._update_count()
        if self.proxy.rowCount():
            self.select_run(self.proxy.experiment_id(0))
        else:
            self._show_run(None)

    def shutdown(self) -> None:
        """The window is closing: stop timers and background reads."""
        self.panel.shutdown()
        self._history_timer.stop()

    def refresh(self) -> None:
        """Re-read the runs and the selected run's history from the store (F5)."""
        self.model.refresh()
        self.history.refresh()
        if self.current_id is not None:
            self._show_run(self.current_id, reload=True)

    def select_run(self, experiment_id: int | None) -> bool:
        """Select a run in the table (clearing the filters if they hide it)."""
        if experiment_id is None:
            self.table.clearSelection()
            return False
        row = self.proxy.proxy_row_of(experiment_id)
        if row is None and self.model.row_of(experiment_id) is not None:
            self.filter_edit.clear()
            self.status_combo.setCurrentIndex(0)
            row = self.proxy.proxy_row_of(experiment_id)
        if row is None:
            return False
        idx = self.proxy.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            idx,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.table.scrollTo(idx)
        return True

    def selected_id(self) -> int | None:
        idx = self.table.selectionModel().currentIndex()
        if not idx.isValid() or not self.table.selectionModel().isRowSelected(idx.row()):
            return None
        return self.proxy.experiment_id(idx.row())

    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        exp_id = self.proxy.experiment_id(current.row()) if current.isValid() else None
        if exp_id != self.current_id:
            self._show_run(exp_id)

    def _on_rows_removed(self, *_args: Any) -> None:
        """The selected run was deleted (or filtered out): select the row Qt made current."""
        idx = self.table.selectionModel().currentIndex()
        exp_id = self.proxy.experiment_id(idx.row()) if idx.isValid() else None
        if exp_id is not None and self.selected_id() is None:
            self.select_run(exp_id)
        if self.current_id is not None and self.proxy.proxy_row_of(self.current_id) is None:
            self._show_run(exp_id)

    def _ensure_selection_visible(self) -> None:
        idx = self.table.selectionModel().currentIndex()
        if idx.isValid():
            self.table.scrollTo(idx, QAbstractItemView.ScrollHint.EnsureVisible)

    def _update_count(self, *_args: Any) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        active = sum(1 for i in range(total) if self.model.run(i).status in ACTIVE)
        text = f"{total} run{'s' if total != 1 else ''}"
        if shown != total:
            text = f"{shown} of {text} shown"
        if active:
            text += f" · {active} active"
        self.count_label.setText(text)

    # --- the selected run ----------------------------------------------------------------------
    def _show_run(self, experiment_id: int | None, reload: bool = False) -> None:
        """Fill the right side for a run (None: nothing selected)."""
        changed = experiment_id != self.current_id
        self.current_id = experiment_id
        self._current = None
        if experiment_id is not None:
            try:
                self._current = self.manager.get_experiment(experiment_id)
            except RaveGuiError:
                experiment_id = self.current_id = None
        self.panel.load_run(experiment_id, self._current, changed or reload)
        self._has_checkpoints = bool(
            experiment_id is not None and self.manager.artifacts.checkpoints(experiment_id)
        )
        self._update_details()

    def _row(self) -> RunRow | None:
        return None if self.current_id is None else self.model.run_by_id(self.current_id)

    def _update_details(self) -> None:
        self.panel.show_details(self._current, has_runs=bool(self.model.rowCount()))
        self._update_actions()

    # --- signals -------------------------------------------------------------------------------
    def _on_progress(self, experiment_id: int, progress: dict) -> None:
        # the model updated the row first (connected first)
        self.panel.set_progress(experiment_id, progress)

    def _on_status_changed(self, experiment_id: int, _status: str) -> None:
        if experiment_id == self.current_id:
            self._show_run(experiment_id)
        self._update_count()

    def _on_run_ended(self, experiment_id: int, _text: str) -> None:
        self.panel.forget_progress(experiment_id)
        if experiment_id == self.current_id:
            self._show_run(experiment_id)

    def _on_checkpoints_changed(self, experiment_id: int) -> None:
        if experiment_id == self.current_id:
            self._has_checkpoints = bool(self.manager.artifacts.checkpoints(experiment_id))
            self._update_actions()

    # --- actions -------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        row = self._row()
        allowed = allowed_actions(row.status, self._has_checkpoints) if row else frozenset()
        if self.controller is None:  # "Export…" only opens the Export page; the rest need it
            allowed &= {Action.EXPORT}
        for action, qaction in self._action_of.items():
            qaction.setEnabled(action in allowed)
        with_checkpoint = allowed_actions(row.status, True) if row else frozenset()
        if self.controller is not None and Action.RESUME_FROM_CHECKPOINT in (
            with_checkpoint - allowed
        ):
            self.resume_ckpt_action.setToolTip("This run saved no checkpoint to resume from")
        else:
            self.resume_ckpt_action.setToolTip(
                "Start a new run that continues from this run's newest checkpoint"
            )

    def _request_export(self) -> None:
        exp_id = self.selected_id()
        if exp_id is not None:
            self.export_requested.emit(exp_id)

    def _context_menu(self, pos: QPoint) -> None:
        idx = self.table.indexAt(pos)
        if not idx.isValid():
            return
        menu = QMenu(self)
        for a in self.run_actions:
            menu.addAction(a)
        menu.addSeparator()
        details = menu.addAction("Details…")  # the run's detail window (as in the History)
        details.triggered.connect(lambda: self.history.open_detail(self.selected_id()))
        menu.addAction(self.refresh_action)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # one menu per right click
        menu.popup(self.table.viewport().mapToGlobal(pos))
        self._menu = menu

    def _confirm(self, title: str, text: str) -> bool:
        if not self.confirm_actions:
            return True
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, text: str) -> None:
        """Tell the user why an action did not happen (non-blocking)."""
        self.last_error = text
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_box = box

    def _act(self, title: str, fn_name: str) -> Any:
        exp_id = self.selected_id()
        if exp_id is None or self.controller is None:
            return None
        try:
            result = getattr(self.controller, fn_name)(exp_id)
        except RaveGuiError as err:
            self.show_error(title, str(err))
            return None
        self.model.refresh_run(exp_id)
        self._show_run(exp_id)
        return result

    def _on_action_failed(self, experiment_id: int, action: str, reason: str) -> None:
        self.model.refresh_run(experiment_id)
        self.show_error(f"Cannot {action} the run", reason)

    def continue_run(self, experiment_id: int) -> None:
        """A run that hit its time limit: a new one from its last checkpoint (same max
        steps), started in the background; it is selected once it exists."""
        start = getattr(self.controller, "continue_run", None)
        if start is not None and experiment_id:
            self.panel.continue_button.setEnabled(False)
            self.continue_task = start(experiment_id)
            self.continue_task.done.connect(lambda: self.panel.continue_button.setEnabled(True))
            self.continue_task.succeeded.connect(self.select_run)

    def stop_selected(self) -> None:
        row = self._row()
        if row is None:
            return
        if row.status in LIVE and not self._confirm(
            "Stop run",
            f"Stop {row.name!r}? It is interrupted gracefully; its newest checkpoint is kept "
            "and it can be resumed from it later.",
        ):
            return
        self._act("Cannot stop the run", "stop")

    def pause_selected(self) -> None:
        self._act("Cannot pause the run", "pause")

    def resume_selected(self) -> None:
        self._act("Cannot resume the run", "resume")

    def save_checkpoint_selected(self) -> None:
        self._act("Cannot save a checkpoint now", "save_checkpoint_now")

    def resume_selected_from_checkpoint(self) -> ResumeDialog | None:
        """Open the resume dialog for the selected run (checkpoint, max steps, command); its
        Resume starts the new run and selects it."""
        exp_id = self.selected_id()
        if exp_id is None or self.controller is None:
            return None
        controller = self.controller

        background = getattr(controller, "continue_run", None)
        remote = bool(self.manager.get_experiment(exp_id).config.get("target"))

        def submit(checkpoint: str, max_steps: int, name: str) -> int | BackgroundTask:
            if remote and background is not None:  # a new job on the target: in the background
                task: BackgroundTask = background(
                    exp_id, name or None, checkpoint=checkpoint, max_steps=max_steps, quiet=True
                )
                task.succeeded.connect(self.select_run)
                return task
            new_id = controller.resume_from_checkpoint(
                exp_id, name or None, checkpoint=checkpoint, max_steps=max_steps
            )
            self.model.refresh_run(exp_id)
            self.model.refresh_run(new_id)
            self.select_run(new_id)
            return new_id

        try:
            dialog = ResumeDialog(self.manager, exp_id, submit, self)
        except RaveGuiError as err:
            self.show_error("Cannot resume from a checkpoint", str(err))
            return None
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.resume_dialog = dialog
        return dialog


__all__ = ["STATUS_FILTERS", "TrainingPage"]
