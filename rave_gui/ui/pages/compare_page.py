"""The Compare page: a picker of the project's runs (tick 2 to 10) beside the CompareView."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtCore import QSignalBlocker, Qt, QTimer
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager, best_value
from ...backend.runs.compare import MAX_RUNS
from ...backend.store.records import Experiment
from ...backend.system.settings import Settings
from ...backend.system.units import format_value
from ...core.signals import AppSignals
from ..widgets.compare_view import CompareView

ID_ROLE = Qt.ItemDataRole.UserRole


class ComparePage(QWidget):
    """Tick runs in the list (or call ``set_runs`` from elsewhere) to compare them."""

    title = "Compare"
    LIVE_RELOAD_MS = 10_000

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals | None = None,
        settings: Settings | Callable[[], Settings] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.project_id: int | None = None
        self._order: list[int] = []  # ticked runs, in the order they were ticked (colours)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.run_list = QListWidget()
        self.run_list.setMinimumWidth(220)
        self.run_list.setWordWrap(True)
        self.run_list.setAlternatingRowColors(True)
        self.run_list.setSpacing(1)
        self.run_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.run_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.run_list.itemChanged.connect(self._on_item_changed)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(lambda _c: self.set_runs([]))
        self.picker_hint = QLabel(f"Tick 2 to {MAX_RUNS} runs.")
        self.picker_hint.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(4, 4, 4, 4)
        ll.addWidget(QLabel("<b>Runs</b>"))
        ll.addWidget(self.filter_edit)
        ll.addWidget(self.run_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.picker_hint, 1)
        row.addWidget(self.clear_button)
        ll.addLayout(row)

        self.view = CompareView(manager, settings)
        self._timer = QTimer(self)  # one comparison for several ticks in a row
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(lambda: self.view.set_runs(self._order))

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.view)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 900])
        splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(splitter)
        self._live_timer = QTimer(self)  # live runs compared: read them again now and then
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(self.LIVE_RELOAD_MS)
        self._live_timer.timeout.connect(self._reload_live)
        if signals is not None:
            signals.runs_changed.connect(self.refresh)
            signals.run_metrics.connect(self._on_run_metrics)

    # --- public API ----------------------------------------------------------------------------
    def set_project(self, project_id: int | None) -> None:
        self.project_id = project_id
        self.refresh()

    def refresh(self) -> None:
        """Read the project's runs again (the ticked ones stay ticked and listed)."""
        try:
            exps = self.manager.list_experiments(self.project_id)
            listed = {e.id for e in exps}
            exps += [self.manager.get_experiment(i) for i in self._order if i not in listed]
        except RaveGuiError as err:
            self.picker_hint.setText(str(err))
            return
        with QSignalBlocker(self.run_list):
            self.run_list.clear()
            for e in exps:
                self.run_list.addItem(self._item(e))
        self._apply_filter(self.filter_edit.text())

    def set_runs(self, ids: Sequence[int]) -> None:
        """Compare these runs now (those of another project are added to the list)."""
        self._order = list(dict.fromkeys(int(i) for i in ids))
        self.refresh()
        self._timer.stop()
        self._update_hint()
        self.view.set_runs(self._order)

    def checked_ids(self) -> list[int]:
        return list(self._order)

    def open_tensorboard(self, ids: Sequence[int]) -> None:
        self.view.open_tensorboard(ids)

    def _on_run_metrics(self, run_id: int, _points: dict) -> None:
        if run_id in self.view.ids and not self._live_timer.isActive():
            self._live_timer.start()

    def _reload_live(self) -> None:
        if self.isVisible():
            self.view.reload()
        else:  # read when shown again
            self._live_timer.start()

    def shutdown(self) -> None:
        self._live_timer.stop()
        self._timer.stop()
        self.view.shutdown()

    # --- the picker ----------------------------------------------------------------------------
    def _item(self, e: Experiment) -> QListWidgetItem:
        best = best_value(e.summary)
        step = e.summary.get("step")
        text = f"#{e.id} {e.name}"
        detail = f"{e.status}, step {step if step is not None else '–'}"
        if best is not None:
            detail += f", best val {format_value(best)}"
        item = QListWidgetItem(f"{text}\n{detail}")
        item.setData(ID_ROLE, e.id)
        item.setToolTip(f"{e.name} ({e.project_name}): {detail}")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(
            Qt.CheckState.Checked if e.id in self._order else Qt.CheckState.Unchecked
        )
        return item

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        rid = int(item.data(ID_ROLE))
        checked = item.checkState() == Qt.CheckState.Checked
        if checked and rid not in self._order:
            if len(self._order) >= MAX_RUNS:
                with QSignalBlocker(self.run_list):
                    item.setCheckState(Qt.CheckState.Unchecked)
                self.picker_hint.setText(f"At most {MAX_RUNS} runs: untick one first.")
                return
            self._order.append(rid)
        elif not checked and rid in self._order:
            self._order.remove(rid)
        self._update_hint()
        self._timer.start()

    def _update_hint(self) -> None:
        n = len(self._order)
        self.picker_hint.setText(
            f"Tick 2 to {MAX_RUNS} runs." if n < 2 else f"{n} runs ticked (at most {MAX_RUNS})."
        )

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            if item is not None:
                item.setHidden(bool(needle) and needle not in item.text().lower())

    def item_for(self, run_id: int) -> QListWidgetItem | None:
        for i in range(self.run_list.count()):
            item = self.run_list.item(i)
            if item is not None and item.data(ID_ROLE) == run_id:
                return item
        return None


__all__ = ["ComparePage"]
