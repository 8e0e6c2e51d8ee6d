"""ExperimentsModel: the current project's experiments as a live Qt table, and its filter proxy.

The model is an adapter over ``TrainingManager.list_experiments``: it keeps one small
:class:`RunRow` per experiment and turns what the AppSignals announce into row-level changes
(``dataChanged`` on the changed cells, ``beginInsertRows``/``beginRemoveRows`` for added or
deleted runs). It never resets on a signal, so a view keeps its selection and scroll position
while runs progress. Only ``set_project`` (a different list altogether) resets it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from PyQt6.QtCore import QModelIndex, QObject, QSortFilterProxyModel, Qt, QTimer
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QApplication, QStyle

from ...backend.errors import NotFoundError
from ...backend.manager import TrainingManager, best_value
from ...backend.remote.states import status_text
from ...backend.status import LIVE
from ...backend.store.records import Alert, Experiment
from ...backend.store.targets import TargetStore, engine_label
from ...backend.system.units import format_datetime, format_duration, format_value
from ...core.signals import AppSignals
from .columns import Column, ColumnTableModel, column_index
from .columns import Index as _Index
from .roles import Role

TICK_MS = 1000  # running times tick once a second


@dataclass(frozen=True, slots=True)
class RunRow:
    """What the table shows of one experiment."""

    id: int
    name: str
    status: str
    created_at: float
    started_at: float | None
    completed_at: float | None
    step: int | None
    max_steps: int | None
    best_validation: float | None
    dataset_name: str | None
    error: str | None
    pid: int | None
    alert: Alert | None = None  # the newest warning or error not yet dismissed
    engine: str = ""  # a run on a target: its engine's word, where it says more (engine_label)

    @classmethod
    def from_experiment(
        cls, exp: Experiment, alert: Alert | None = None, engine: str = ""
    ) -> RunRow:
        summary = exp.summary
        max_steps = exp.config.get("max_steps")
        return cls(
            id=exp.id,
            name=exp.name,
            status=str(exp.status),
            created_at=exp.created_at,
            started_at=exp.started_at,
            completed_at=exp.completed_at,
            step=summary.get("step"),
            max_steps=int(max_steps) if isinstance(max_steps, int | float) else None,
            best_validation=best_value(summary),
            dataset_name=exp.dataset_name,
            error=exp.error,
            pid=exp.pid,
            alert=alert,
            engine=engine,
        )

    @property
    def status_text(self) -> str:
        """The status as shown: "running · pending: Resources" for a job waiting on SLURM."""
        return status_text(self.status, self.engine)

    @property
    def status_short(self) -> str:
        """The table's narrow column: the engine's word where it has one ("pending",
        "timeout"), else the status; the whole is in the tooltip and the run panel."""
        return self.engine.split(":")[0] if self.engine else self.status

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    def duration(self, now: float | None = None) -> float | None:
        """Seconds from start to end, or to now while the run lives."""
        if self.started_at is None:
            return None
        if self.is_live or self.completed_at is None:
            end = time.time() if now is None else now
        else:
            end = self.completed_at
        return max(0.0, end - self.started_at)


def engine_labels(manager: TrainingManager, experiments: list[Experiment]) -> dict[int, str]:
    """engine_label of each experiment ("" for a local run), by id."""
    runs = TargetStore(manager.db).runs([e.id for e in experiments])
    return {e.id: engine_label(runs.get(e.id), e.status) for e in experiments}


def format_time(ts: float | None, *, short: bool = False) -> str:
    """A start or end time: "today 21:23", "Nov 20 21:23" (this year, short) or the full
    date."""
    if ts is None:
        return "–"
    dt = datetime.fromtimestamp(ts)
    now = datetime.now()
    if dt.date() == now.date():
        return dt.strftime("today %H:%M")
    if short and dt.year == now.year:
        return dt.strftime("%b %d %H:%M")
    return format_datetime(ts)


def format_count(n: int | None) -> str:
    """950 -> "950"; 12_500 -> "12.5k"; 1_000_000 -> "1M"."""
    if n is None:
        return "–"
    if n >= 1_000_000:
        return f"{n / 1e6:.4g}M"
    if n >= 10_000:
        return f"{n / 1e3:.4g}k"
    return f"{n:,}"


def format_step(step: int | None, max_steps: int | None) -> str:
    if step is None and max_steps is None:
        return "–"
    done = "0" if step is None else f"{step:,}"
    return f"{done} / {max_steps:,}" if max_steps else done


def format_step_short(step: int | None, max_steps: int | None) -> str:
    """The table's compact form: "300k / 1M"."""
    if step is None and max_steps is None:
        return "–"
    done = format_count(step or 0)
    return f"{done} / {format_count(max_steps)}" if max_steps else done


def _num_sort(v: float | None) -> float:
    return math.inf if v is None else float(v)


def _run_tooltip(row: RunRow) -> str:
    lines = [row.name]
    if row.dataset_name:
        lines.append(f"Dataset: {row.dataset_name}")
    lines.append(f"Status: {row.status_text}")
    if row.error:
        lines.append(f"Reason: {row.error}")
    if row.alert is not None:
        lines.append(alert_text(row.alert))
    return "\n".join(lines)


def alert_text(alert: Alert) -> str:
    """One line for an alert: "Warning at step 1,200 (plateau): validation is flat"."""
    step = "" if alert.step is None else f" at step {alert.step:,}"
    return f"{alert.severity.capitalize()}{step} ({alert.kind}): {alert.message}"


_ALERT_PIXMAPS = {
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
}
_alert_icons: dict[str, QIcon] = {}


def alert_icon(severity: str) -> QIcon:
    """The runs table's mark for a run with an open alert (made once per severity)."""
    icon = _alert_icons.get(severity)
    if icon is None:
        style = QApplication.style()
        pixmap = _ALERT_PIXMAPS.get(severity, QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon = style.standardIcon(pixmap) if style is not None else QIcon()
        _alert_icons[severity] = icon
    return icon


def _step_tooltip(row: RunRow) -> str | None:
    if not row.max_steps:
        return None
    step = row.step or 0
    return f"step {format_step(step, row.max_steps)} ({100.0 * step / row.max_steps:.1f} %)"


_RIGHT = Qt.AlignmentFlag.AlignRight
COLUMNS: tuple[Column[RunRow], ...] = (
    Column(
        "Name",
        lambda r: r.name,
        str,
        sort=lambda r: r.name.lower(),
        tooltip=_run_tooltip,
        name="name",
    ),
    Column("Status", lambda r: r.status_short, str, tooltip=_run_tooltip, name="status"),
    Column(
        "Started",
        lambda r: r.started_at,
        lambda t: format_time(t, short=True),
        sort=lambda r: r.started_at if r.started_at is not None else r.created_at,
        tooltip=lambda r: format_time(r.started_at),
        name="started",
    ),
    Column(
        "Duration",
        lambda r: r.duration(),
        format_duration,
        sort=lambda r: _num_sort(r.duration()),
        align=_RIGHT,
        name="duration",
    ),
    Column(
        "Step",
        lambda r: (r.step, r.max_steps),
        lambda v: format_step_short(*v),
        sort=lambda r: _num_sort(r.step),
        tooltip=_step_tooltip,
        align=_RIGHT,
        name="step",
    ),
    Column(
        "Best val.",
        lambda r: r.best_validation,
        format_value,
        sort=lambda r: _num_sort(r.best_validation),
        align=_RIGHT,
        name="best",
    ),
)
COL = column_index(COLUMNS)


class ExperimentsModel(ColumnTableModel[RunRow]):
    """The experiments of one project, kept current by the AppSignals."""

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(COLUMNS, parent)
        self.manager = manager
        self.project_id: int | None = None
        self._row_of: dict[int, int] = {}
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._tick_durations)
        if signals is not None:
            signals.runs_changed.connect(self.refresh)
            signals.run_alerts.connect(self._on_alerts)
            signals.run_alerts_dismissed.connect(self.refresh_alert)
            signals.run_started.connect(self.refresh_run)
            signals.run_status_changed.connect(self._on_status_changed)
            signals.run_progress.connect(self._on_progress)
            signals.run_metrics.connect(self._on_metrics)
            for sig in (signals.run_completed, signals.run_stopped, signals.run_failed):
                sig.connect(self._on_finished)

    # --- ColumnTableModel ----------------------------------------------------------------------
    def record_key(self, record: RunRow) -> int:
        return record.id

    def extra_data(self, record: RunRow, column: Column[RunRow], role: int) -> Any:
        if role == Role.STATUS:
            return record.status if column.name == "status" else None
        if role == Qt.ItemDataRole.DecorationRole and column.name == "name" and record.alert:
            return alert_icon(record.alert.severity)
        return None

    # --- access --------------------------------------------------------------------------------
    def run(self, row: int) -> RunRow:
        return self._rows[row]

    def run_by_id(self, experiment_id: int) -> RunRow | None:
        i = self._row_of.get(experiment_id)
        return None if i is None else self._rows[i]

    def row_of(self, experiment_id: int) -> int | None:
        return self._row_of.get(experiment_id)

    def ids(self) -> list[int]:
        return [r.id for r in self._rows]

    # --- loading -------------------------------------------------------------------------------
    def set_project(self, project_id: int | None) -> None:
        """Show another project's experiments (a reset: the list is a different one)."""
        self.beginResetModel()
        self.project_id = project_id
        self._rows = self._load()
        self._reindex()
        self.endResetModel()
        self._update_tick()

    def _load(self) -> list[RunRow]:
        if self.project_id is None:
            return []
        experiments = [  # archived runs are hidden (the history shows them on demand)
            e for e in self.manager.list_experiments(self.project_id) if not e.archived
        ]
        alerts = self.manager.alerts.latest_open(e.id for e in experiments)
        engines = engine_labels(self.manager, experiments)
        return [RunRow.from_experiment(e, alerts.get(e.id), engines[e.id]) for e in experiments]

    def _reindex(self) -> None:
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}

    def refresh(self) -> None:
        """Bring the rows in line with the store: remove, update and insert only what differs."""
        fresh = self._load()
        fresh_ids = {r.id for r in fresh}
        # removals, bottom up, in contiguous ranges
        gone = [i for i, r in enumerate(self._rows) if r.id not in fresh_ids]
        while gone:
            last = gone.pop()
            first = last
            while gone and gone[-1] == first - 1:
                first = gone.pop()
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self.endRemoveRows()
        self._reindex()
        # updates in place
        by_id = {r.id: r for r in fresh}
        for i, old in enumerate(self._rows):
            new = by_id[old.id]
            if new != old:
                self._rows[i] = new
                self._emit_row_changed(i, old, new)
        # insertions at the top (the store lists newest first)
        added = [r for r in fresh if r.id not in self._row_of]
        if added:
            self.beginInsertRows(QModelIndex(), 0, len(added) - 1)
            self._rows[0:0] = added
            self._reindex()
            self.endInsertRows()
        self._update_tick()

    def refresh_run(self, experiment_id: int) -> None:
        """Re-read one experiment (insert it if it is new to this project, drop it if gone)."""
        try:
            exp = self.manager.get_experiment(experiment_id)
        except NotFoundError:
            exp = None
        i = self._row_of.get(experiment_id)
        if exp is None or exp.project_id != self.project_id:
            if i is not None:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self._reindex()
                self.endRemoveRows()
                self._update_tick()
            return
        alert = self.manager.alerts.latest_open([exp.id]).get(exp.id)
        new = RunRow.from_experiment(exp, alert, engine_labels(self.manager, [exp])[exp.id])
        if i is None:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self._rows.insert(0, new)
            self._reindex()
            self.endInsertRows()
        else:
            old = self._rows[i]
            if new != old:
                self._rows[i] = new
                self._emit_row_changed(i, old, new)
        self._update_tick()

    def refresh_alert(self, experiment_id: int) -> None:
        """Re-read a run's open alert (one query): new alerts were stored or one was
        dismissed."""
        i = self._row_of.get(experiment_id)
        if i is None:
            return
        old = self._rows[i]
        alert = self.manager.alerts.latest_open([experiment_id]).get(experiment_id)
        new = replace(old, alert=alert)
        if new != old:
            self._rows[i] = new
            self._emit_row_changed(i, old, new)

    # --- signals -------------------------------------------------------------------------------
    def _on_alerts(self, experiment_id: int, _alerts: list) -> None:
        self.refresh_alert(experiment_id)

    def _on_status_changed(self, experiment_id: int, _status: str) -> None:
        self.refresh_run(experiment_id)

    def _on_finished(self, experiment_id: int, _text: str) -> None:
        self.refresh_run(experiment_id)

    def _on_progress(self, experiment_id: int, progress: dict) -> None:
        i = self._row_of.get(experiment_id)
        if i is None:
            return
        old = self._rows[i]
        step = progress.get("step")
        max_steps = progress.get("max_steps")
        new = replace(
            old,
            step=old.step if step is None else int(step),
            max_steps=old.max_steps if not max_steps else int(max_steps),
        )
        if new != old:
            self._rows[i] = new
            self._emit_row_changed(i, old, new)

    def _on_metrics(self, experiment_id: int, points: dict) -> None:
        i = self._row_of.get(experiment_id)
        if i is None:
            return
        old = self._rows[i]
        best = old.best_validation
        for _step, value in points.get("validation", ()):
            if value == value and not math.isinf(value) and (best is None or value < best):
                best = float(value)
        step = old.step
        for pts in points.values():
            for s, _v in pts:
                if step is None or s > step:
                    step = int(s)
        new = replace(old, best_validation=best, step=step)
        if new != old:
            self._rows[i] = new
            self._emit_row_changed(i, old, new)

    def _emit_row_changed(self, i: int, old: RunRow, new: RunRow) -> None:
        """dataChanged over the span of columns whose text or sort value changed."""
        changed = [
            c
            for c, col in enumerate(COLUMNS)
            if col.display(old) != col.display(new) or col.sort_key(old) != col.sort_key(new)
        ]
        if not changed and (old.error, old.dataset_name, old.alert) != (
            new.error,
            new.dataset_name,
            new.alert,
        ):
            changed = [COL["name"], COL["status"]]  # tooltips and the alert mark
        if changed:
            self.dataChanged.emit(self.index(i, min(changed)), self.index(i, max(changed)))

    # --- running times -------------------------------------------------------------------------
    def _update_tick(self) -> None:
        live = any(r.is_live for r in self._rows)
        if live and not self._tick.isActive():
            self._tick.start()
        elif not live and self._tick.isActive():
            self._tick.stop()

    def _tick_durations(self) -> None:
        col = COL["duration"]
        for i, r in enumerate(self._rows):
            if r.is_live:
                idx = self.index(i, col)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DisplayRole])


class ExperimentsFilterModel(QSortFilterProxyModel):
    """Sorts by Role.SORT and keeps rows matching a text (name, dataset, status, reason) and
    a set of statuses."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._statuses: frozenset[str] | None = None
        self.setSortRole(Role.SORT)
        self.setDynamicSortFilter(True)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    @property
    def text_filter(self) -> str:
        return self._text

    @property
    def status_filter(self) -> frozenset[str] | None:
        return self._statuses

    def set_text_filter(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            self._text = text
            self.invalidateRowsFilter()

    def set_status_filter(self, statuses: Iterable[str] | None) -> None:
        """Keep only these statuses (None: all)."""
        value = None if statuses is None else frozenset(statuses)
        if value != self._statuses:
            self._statuses = value
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        if not isinstance(model, ExperimentsModel):
            return True
        run = model.run(source_row)
        if self._statuses is not None and run.status not in self._statuses:
            return False
        if self._text:
            hay = " ".join(
                s for s in (run.name, run.dataset_name, run.status, run.error) if s
            ).lower()
            return all(word in hay for word in self._text.split())
        return True

    def lessThan(self, left: _Index, right: _Index) -> bool:
        a = left.data(Role.SORT)
        b = right.data(Role.SORT)
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)

    def experiment_id(self, proxy_row: int) -> int | None:
        if not 0 <= proxy_row < self.rowCount():
            return None
        return self.index(proxy_row, 0).data(Role.KEY)

    def proxy_row_of(self, experiment_id: int) -> int | None:
        model = self.sourceModel()
        if not isinstance(model, ExperimentsModel):
            return None
        src = model.row_of(experiment_id)
        if src is None:
            return None
        idx = self.mapFromSource(model.index(src, 0))
        return idx.row() if idx.isValid() else None


__all__ = [
    "COL",
    "COLUMNS",
    "ExperimentsFilterModel",
    "ExperimentsModel",
    "RunRow",
    "alert_icon",
    "alert_text",
    "format_step",
    "format_time",
]
