"""The Export page: a run's checkpoints (browse, delete old ones to free disk), `rave export` of
the chosen one to a TorchScript model for nn~ and the RAVE VST, and the run's exported models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.jobs.export import (
    ExportPlan,
    checkpoint_label,
    default_model_name,
    default_output_dir,
    model_path,
    scan_checkpoints,
)
from ...backend.manager import TrainingManager
from ...backend.status import Action, allowed_actions
from ...backend.store.records import Checkpoint, Experiment
from ...backend.system.settings import Settings, load_settings
from ...backend.system.units import format_bytes
from ...core.jobs import CANCELLED, ExportJob
from ...core.signals import AppSignals
from ..dialogs.confirm import ConfirmBox, ask_confirmation
from ..models.record_table import (
    RecordTableModel,
)
from ..widgets.export_tables import CHECKPOINT_COLUMNS, ExportedModelsBox, record_view
from ..widgets.feedback import ERROR, INFO, FieldError, MessageBar
from ..widgets.log_view import LogView


class ExportPage(QWidget):
    """See the module docstring. ``export_finished(ok, message)`` follows every export."""

    title = "Export"
    export_finished = pyqtSignal(bool, str)

    def __init__(
        self,
        manager: TrainingManager,
        signals: AppSignals,
        parent: QWidget | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.signals = signals
        self.settings = settings
        self.project_id: int | None = None
        self.experiment: Experiment | None = None
        self.checkpoints: list[Checkpoint] = []
        self.job: ExportJob | None = None
        self.last_message = ""
        self._name_touched = False
        self._output_touched = False

        heading = QLabel("Export")
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        heading.setFont(font)
        self.heading = heading
        intro = QLabel(
            "Turn a trained run into a TorchScript model (.ts) for nn~ in Max or Pure Data, "
            "and for the RAVE VST. Pick the run and one of its checkpoints; old checkpoints "
            "can be deleted here to free disk (each is over 100 MB)."
        )
        intro.setWordWrap(True)
        self.message = MessageBar(self)

        style = self.style()
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(30)
        self.run_combo.currentIndexChanged.connect(lambda _i: self._load_run())
        self.refresh_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload), "Refresh"
        )
        self.refresh_button.clicked.connect(lambda: self.refresh())
        run_row = QHBoxLayout()
        run_label = QLabel("&Run:")
        run_label.setBuddy(self.run_combo)
        run_row.addWidget(run_label)
        run_row.addWidget(self.run_combo, 1)
        run_row.addWidget(self.refresh_button)

        # Checkpoint browser.
        self.ckpt_model: RecordTableModel[Checkpoint] = RecordTableModel(
            CHECKPOINT_COLUMNS, key_field="path", parent=self
        )
        self.ckpt_model.emphasized = lambda r: r.is_best
        self.ckpt_table, self.ckpt_proxy = record_view(self.ckpt_model, len(CHECKPOINT_COLUMNS) - 1)
        self.ckpt_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.ckpt_table.sortByColumn(len(CHECKPOINT_COLUMNS) - 1, Qt.SortOrder.AscendingOrder)
        self.ckpt_table.selectionModel().selectionChanged.connect(self._ckpt_selection_changed)
        self.ckpt_summary = QLabel("–")
        self.delete_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_TrashIcon), "Delete…"
        )
        self.delete_button.setToolTip("Delete the selected checkpoint files to free disk")
        self.delete_button.clicked.connect(lambda: self.delete_selected_checkpoints())
        ckpt_bar = QHBoxLayout()
        ckpt_bar.addWidget(self.ckpt_summary, 1)
        ckpt_bar.addWidget(self.delete_button)
        ckpt_box = QGroupBox("Checkpoints")
        cl = QVBoxLayout(ckpt_box)
        cl.addWidget(self.ckpt_table, 1)
        cl.addLayout(ckpt_bar)

        # Export form.
        self.ckpt_combo = QComboBox()
        self.ckpt_combo.currentIndexChanged.connect(lambda _i: self._checkpoint_changed())
        self.streaming_check = QCheckBox("Streaming (cached convolutions, for real-time use)")
        self.streaming_check.setChecked(True)
        self.streaming_check.setToolTip(
            "Needed to run the model live in nn~ or the RAVE VST without clicks; leave it off "
            "for offline processing."
        )
        self.streaming_check.toggled.connect(lambda _on: self._checkpoint_changed())
        self.output_edit = QLineEdit()
        self.output_edit.textEdited.connect(self._output_edited)
        self.output_edit.textChanged.connect(lambda _t: self._update_target())
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(lambda: self.browse_output())
        out_row = QHBoxLayout()
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(self.browse_button)
        self.name_edit = QLineEdit()
        self.name_edit.textEdited.connect(self._name_edited)
        self.name_edit.textChanged.connect(lambda _t: self._update_target())
        self.target_label = QLabel("–")
        self.target_label.setWordWrap(True)
        self.target_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label = FieldError(self)
        self.export_button = QPushButton(
            style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton), "Export"
        )
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(lambda: self._export_clicked())
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status_label = QLabel()
        button_row = QHBoxLayout()
        button_row.addWidget(self.export_button)
        button_row.addWidget(self.progress, 1)
        button_row.addWidget(self.status_label, 1)
        form = QFormLayout()
        form.addRow("Checkpoint:", self.ckpt_combo)
        form.addRow("", self.streaming_check)
        form.addRow("Output folder:", out_row)
        form.addRow("Model name:", self.name_edit)
        form.addRow("Model file:", self.target_label)
        self.log_view = LogView(self)
        self.log_view.setMinimumHeight(90)
        export_box = QGroupBox("Export to TorchScript")
        xl = QVBoxLayout(export_box)
        xl.addLayout(form)
        xl.addWidget(self.error_label)
        xl.addLayout(button_row)
        xl.addWidget(self.log_view, 1)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(ckpt_box)
        top.addWidget(export_box)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 1)
        top.setSizes([560, 560])
        top.setChildrenCollapsible(False)

        self.models_box = ExportedModelsBox()

        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(self.models_box)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        body.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addWidget(self.message)
        layout.addLayout(run_row)
        layout.addWidget(body, 1)

        signals.runs_changed.connect(self._runs_changed)
        signals.run_status_changed.connect(lambda i, _s: self._run_changed(i))
        signals.run_checkpoints_changed.connect(self._run_changed)
        self._update_buttons()

    # --- page protocol -------------------------------------------------------------------------
    def set_project(self, project_id: int) -> None:
        if project_id != self.project_id:
            self.message.clear()
        self.project_id = project_id
        self.refresh()

    def refresh(self) -> None:
        """Re-read the project's runs and the selected run's checkpoints and models."""
        self._fill_runs()
        self._load_run()

    def _runs_changed(self) -> None:
        self._fill_runs()

    def _run_changed(self, experiment_id: int) -> None:
        if self.experiment is not None and experiment_id == self.experiment.id:
            self._load_run()

    def _fill_runs(self) -> None:
        if self.project_id is None:
            return
        current = self.current_run_id()
        try:
            runs = self.manager.list_experiments(self.project_id)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            return
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for e in runs:
            if not e.run_dir:
                continue
            self.run_combo.addItem(f"{e.name}  ·  {e.status}", e.id)
        index = self.run_combo.findData(current) if current is not None else -1
        self.run_combo.setCurrentIndex(index if index >= 0 else (0 if runs else -1))
        self.run_combo.blockSignals(False)
        if self.run_combo.count() == 0:
            self.run_combo.setPlaceholderText("No run in this project yet")

    def current_run_id(self) -> int | None:
        data = self.run_combo.currentData()
        return int(data) if data is not None else None

    def select_run(self, experiment_id: int) -> bool:
        """Show a run (the Training page's "Export…" action); False if it is not listed."""
        index = self.run_combo.findData(experiment_id)
        if index < 0:
            self._fill_runs()
            index = self.run_combo.findData(experiment_id)
        if index < 0:
            return False
        if index == self.run_combo.currentIndex():
            self._load_run()
        else:
            self.run_combo.setCurrentIndex(index)
        return True

    # --- the selected run ----------------------------------------------------------------------
    def _load_run(self) -> None:
        exp_id = self.current_run_id()
        previous = self.experiment.id if self.experiment else None
        self.experiment = None
        self.checkpoints = []
        if exp_id is not None:
            try:
                self.experiment = self.manager.get_experiment(exp_id)
                self.checkpoints = scan_checkpoints(self.manager, exp_id)
            except RaveGuiError as err:
                self.message.show_message(str(err), ERROR)
        if exp_id != previous:
            self._name_touched = self._output_touched = False
            self.error_label.set_error(None)
            if self.job is None:
                self.log_view.clear()
        self.ckpt_model.set_records(self.checkpoints)
        chosen = self.ckpt_combo.currentData() if exp_id == previous else None
        self.ckpt_combo.blockSignals(True)
        self.ckpt_combo.clear()
        for c in sorted(self.checkpoints, key=lambda c: (not c.is_best, -(c.mtime or 0))):
            self.ckpt_combo.addItem(f"{checkpoint_label(c)}  ·  {Path(c.path).name}", c.path)
        index = self.ckpt_combo.findData(chosen) if chosen else -1
        self.ckpt_combo.setCurrentIndex(max(index, 0) if self.checkpoints else -1)
        self.ckpt_combo.blockSignals(False)
        total = sum(c.size or 0 for c in self.checkpoints)
        n = len(self.checkpoints)
        self.ckpt_summary.setText(
            "No checkpoint yet: RAVE writes one at each validation."
            if not n
            else f"{n} checkpoint{'s' if n != 1 else ''} · {format_bytes(total)}"
        )
        self._load_models()
        self._checkpoint_changed()

    def _load_models(self) -> None:
        exp = self.experiment
        self.models_box.set_models(self.manager.artifacts.exported_models(exp.id) if exp else [])

    def selected_checkpoint(self) -> Checkpoint | None:
        path = self.ckpt_combo.currentData()
        return next((c for c in self.checkpoints if c.path == path), None)

    def set_checkpoint(self, which: str | int) -> bool:
        """Choose the checkpoint to export: "best", a step number, or a path."""
        for i in range(self.ckpt_combo.count()):
            c = next(c for c in self.checkpoints if c.path == self.ckpt_combo.itemData(i))
            if (
                (which == "best" and c.is_best)
                or (isinstance(which, int) and c.step == which and not c.is_best)
                or which == c.path
            ):
                self.ckpt_combo.setCurrentIndex(i)
                return True
        return False

    def _ckpt_selection_changed(self, *_args: Any) -> None:
        rows = self.ckpt_table.selectionModel().selectedRows()
        if len(rows) == 1:
            record = self.ckpt_model.record(self.ckpt_proxy.mapToSource(rows[0]).row())
            index = self.ckpt_combo.findData(record.path)
            if index >= 0:
                self.ckpt_combo.setCurrentIndex(index)
        self._update_buttons()

    def _checkpoint_changed(self) -> None:
        exp, ckpt = self.experiment, self.selected_checkpoint()
        if exp is not None and not self._output_touched:
            self.output_edit.blockSignals(True)
            self.output_edit.setText(str(default_output_dir(exp)))
            self.output_edit.setCursorPosition(0)
            self.output_edit.blockSignals(False)
        if exp is not None and not self._name_touched:
            self.name_edit.blockSignals(True)
            self.name_edit.setText(self._free_name(default_model_name(exp, ckpt)))
            self.name_edit.blockSignals(False)
        self._update_target()

    def _free_name(self, base: str) -> str:
        out = Path(self.output_edit.text().strip() or ".")
        name, i = base, 2
        streaming = self.streaming_check.isChecked()
        while model_path(out, name, streaming).exists():
            name, i = f"{base}-{i}", i + 1
        return name

    def _name_edited(self, _text: str) -> None:
        self._name_touched = True

    def _output_edited(self, _text: str) -> None:
        self._output_touched = True

    def browse_output(self) -> None:
        start = self.output_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Where to write the model", start)
        if folder:
            self._output_touched = True
            self.output_edit.setText(folder)

    def _update_target(self) -> None:
        out, name = self.output_edit.text().strip(), self.name_edit.text().strip()
        if out and name:
            target = model_path(out, name, self.streaming_check.isChecked())
            exists = "  (exists: it would be refused)" if target.exists() else ""
            self.target_label.setText(f"{target}{exists}")
        else:
            self.target_label.setText("–")
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.job is not None
        live = self.experiment is not None and Action.DELETE_CHECKPOINTS not in allowed_actions(
            self.experiment.status, has_checkpoint=True
        )
        selected = self.ckpt_table.selectionModel().selectedRows()
        self.delete_button.setEnabled(bool(selected) and not live and not busy)
        self.delete_button.setToolTip(
            "Stop the run before deleting its checkpoints"
            if live
            else "Delete the selected checkpoint files to free disk"
        )
        ready = (
            self.selected_checkpoint() is not None
            and bool(self.output_edit.text().strip())
            and bool(self.name_edit.text().strip())
        )
        self.export_button.setEnabled(busy or ready)
        self.export_button.setText("Cancel export" if busy else "Export")
        for w in (
            self.run_combo,
            self.ckpt_combo,
            self.streaming_check,
            self.output_edit,
            self.browse_button,
            self.name_edit,
        ):
            w.setEnabled(not busy)

    # --- exporting -----------------------------------------------------------------------------
    def rave_executable(self) -> str:
        return (self.settings or load_settings()).resolved_rave()

    def _export_clicked(self) -> None:
        if self.job is not None:
            self.cancel_export()
        else:
            self.start_export()

    def start_export(self) -> None:
        """Start an ExportJob: it checks the export and stages the checkpoint (off the GUI
        thread: it asks RAVE's Python about nn-tilde), runs `rave export` and records the
        model; this page shows its progress and result. ``export_finished`` follows."""
        exp, ckpt = self.experiment, self.selected_checkpoint()
        if exp is None or ckpt is None or self.job is not None:
            return
        self.error_label.set_error(None)
        self.message.clear()
        self.status_label.setText("Checking…")
        job = ExportJob(
            self.manager,
            exp.id,
            ckpt.path,
            streaming=self.streaming_check.isChecked(),
            output_dir=self.output_edit.text().strip(),
            name=self.name_edit.text().strip(),
            rave_executable=self.rave_executable(),
            parent=self,
        )
        job.planned.connect(self._planned)
        job.lines_received.connect(self.log_view.append_lines)
        job.ended.connect(self._export_done)
        self.job = job
        self._update_buttons()
        job.start()

    def _planned(self, plan: ExportPlan) -> None:
        self.log_view.clear()
        self.log_view.append_lines([("$ " + " ".join(plan.argv), "info")])
        self.progress.show()
        self.status_label.setText(f"Exporting {plan.output_file.name}…")

    def cancel_export(self) -> None:
        if self.job is not None:
            self.status_label.setText("Stopping…")
            self.job.cancel()

    def _export_done(self, ok: bool, message: str) -> None:
        job, self.job = self.job, None
        self.progress.hide()
        if job is None:
            return
        job.wait(10_000)
        if ok:
            self.status_label.setText("Done.")
            target = job.model.path if job.model else message
            self.message.show_message(f"{message} Load it in nn~ or the RAVE VST: {target}", INFO)
        else:
            cancelled = message == CANCELLED
            message = "Export cancelled." if cancelled else message
            self.error_label.set_error(message)
            self.status_label.setText("Cancelled." if cancelled else "Failed.")
        job.deleteLater()
        self.last_message = message
        if ok:
            self._name_touched = False
        self._load_models()
        self._checkpoint_changed()
        self._update_buttons()
        self.export_finished.emit(ok, message)

    # --- deleting checkpoints ------------------------------------------------------------------
    def selected_checkpoints(self) -> list[Checkpoint]:
        rows = self.ckpt_table.selectionModel().selectedRows()
        return [self.ckpt_model.record(self.ckpt_proxy.mapToSource(r).row()) for r in rows]

    def select_checkpoints(self, paths: list[str]) -> None:
        sel = self.ckpt_table.selectionModel()
        sel.clearSelection()
        for p in paths:
            row = self.ckpt_model.row_of(p)
            if row >= 0:
                index = self.ckpt_proxy.mapFromSource(self.ckpt_model.index(row, 0))
                sel.select(
                    index,
                    sel.SelectionFlag.Select | sel.SelectionFlag.Rows,
                )

    def delete_selected_checkpoints(self) -> ConfirmBox | None:
        """Confirm (with the total size freed) and delete the selected checkpoint files."""
        exp, chosen = self.experiment, self.selected_checkpoints()
        if exp is None or not chosen:
            return None
        total = sum(c.size or 0 for c in chosen)
        names = ", ".join(Path(c.path).name for c in chosen[:4])
        if len(chosen) > 4:
            names += f" and {len(chosen) - 4} more"
        best = any(c.is_best for c in chosen)
        details = f"Frees {format_bytes(total)} of disk: {names}."
        if best:
            details += (
                "\n\nbest.ckpt is among them: the run's best weights (lowest validation loss) "
                "are then gone; models already exported stay."
            )
        paths = [c.path for c in chosen]
        exp_id = exp.id
        n = len(chosen)
        return ask_confirmation(
            self,
            "Delete checkpoints",
            f"Delete {n} checkpoint{'s' if n != 1 else ''} of {exp.name!r}?",
            details,
            f"Delete {format_bytes(total)}",
            lambda: self._delete(exp_id, paths),
        )

    def _delete(self, exp_id: int, paths: list[str]) -> None:
        try:
            freed = self.manager.artifacts.delete_checkpoints(exp_id, paths)
        except RaveGuiError as err:
            self.message.show_message(str(err), ERROR)
            self._load_run()
            return
        n = len(paths)
        self.message.show_message(
            f"Deleted {n} checkpoint{'s' if n != 1 else ''}: {format_bytes(freed)} freed.", INFO
        )
        self._load_run()
        self.signals.run_checkpoints_changed.emit(exp_id)

    def shutdown(self) -> None:
        """Stop an export still running and wait for its job (the window is closing)."""
        job = self.job
        if job is not None:
            job.cancel()
            job.wait(20_000)


__all__ = ["ExportPage"]
