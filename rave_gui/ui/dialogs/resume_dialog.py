"""ResumeDialog: continue a run from a checkpoint of its choice, with more max steps, as a new run.

The table lists the run's checkpoints with their step and validation loss (read in the
background: a folder's files, the store and, for a run on a target, its mirror's listing); max
steps must be above the chosen checkpoint's step (RAVE counts on from it: backend/runs/resume.py);
the command line that makes the same resume is shown and can be copied.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QFontDatabase, QGuiApplication
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.rave.command import MAX_STEPS
from ...backend.runs.resume import (
    default_checkpoint,
    resume_checkpoints,
    resume_cli,
    resume_max_steps_problem,
    suggest_max_steps,
)
from ...backend.store.records import Checkpoint
from ...core.worker import BackgroundTask, run_in_background
from ..models.record_table import RecordTableModel
from ..widgets.export_tables import CHECKPOINT_COLUMNS, record_view
from ..widgets.feedback import ERROR, INFO, FieldError

# Starts the resume: (checkpoint path, max steps, new run's name or "") -> the new run's id, or
# (a run on a target: a new job there takes seconds) a BackgroundTask that gives it.
Submit = Callable[[str, int, str], int | BackgroundTask]


class ResumeDialog(QDialog):
    """Choose the checkpoint, the max steps and the name; Resume calls ``submit``, whose refusal
    is shown here (the dialog stays open). The checkpoints are read in the background;
    ``loaded`` is emitted once they are listed (``is_loaded``)."""

    loaded = pyqtSignal()

    def __init__(
        self,
        manager: TrainingManager,
        experiment_id: int,
        submit: Submit,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.experiment_id = experiment_id
        self._submit = submit
        self.new_id: int | None = None
        self._suggested = 0  # max steps followed until the user sets their own
        exp = manager.get_experiment(experiment_id)
        self._original_max = int(exp.config.get("max_steps") or 0)
        self.setWindowTitle(f"Resume {exp.name} from a checkpoint")
        intro = QLabel(
            f"A new run continues {exp.name!r} from the checkpoint you choose; {exp.name!r} "
            "keeps all its files. RAVE counts the steps on from the checkpoint's, so max steps "
            "must be above its step."
        )
        intro.setWordWrap(True)

        self.ckpt_model: RecordTableModel[Checkpoint] = RecordTableModel(
            CHECKPOINT_COLUMNS, key_field="path", parent=self
        )
        self.ckpt_model.emphasized = lambda r: r.is_best
        self.table, self.proxy = record_view(self.ckpt_model, 0)
        self.table.setSelectionMode(self.table.SelectionMode.SingleSelection)
        self.table.setMinimumHeight(150)
        self.table_error = FieldError(self)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(f"{exp.name}-resume (the next free name)")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, MAX_STEPS)
        self.steps_spin.setSingleStep(1000)
        self.steps_spin.setGroupSeparatorShown(True)
        self.steps_spin.setMinimumWidth(160)
        self.steps_error = FieldError(self)
        form = QFormLayout()
        form.addRow("New run's &name:", self.name_edit)
        steps_box = QVBoxLayout()
        steps_box.setContentsMargins(0, 0, 0, 0)
        steps_box.addWidget(self.steps_spin, 0, Qt.AlignmentFlag.AlignLeft)
        steps_box.addWidget(self.steps_error)
        steps_label = QLabel("&Max steps:")
        steps_label.setBuddy(self.steps_spin)
        form.addRow(steps_label, steps_box)

        self.command_box = QPlainTextEdit()
        self.command_box.setReadOnly(True)
        self.command_box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.command_box.setFixedHeight(self.command_box.fontMetrics().lineSpacing() * 3 + 16)
        self.copy_button = QPushButton("&Copy command")
        self.copy_button.clicked.connect(self.copy_command)
        command_row = QHBoxLayout()
        command_row.addWidget(QLabel("The same resume on the command line:"), 1)
        command_row.addWidget(self.copy_button)
        self.error_label = FieldError(self)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.resume_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert self.resume_button is not None
        self.resume_button.setText("&Resume")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.table_error)
        layout.addLayout(form)
        layout.addLayout(command_row)
        layout.addWidget(self.command_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(760, 520)

        self.steps_spin.valueChanged.connect(lambda _v: self._changed())
        self.name_edit.textChanged.connect(lambda _t: self._changed())
        sel = self.table.selectionModel()
        assert sel is not None
        sel.selectionChanged.connect(lambda *_a: self._checkpoint_changed())
        self.is_loaded = False
        self._suggested = max(1, self._original_max)  # the run's own, until a checkpoint is chosen
        self.steps_spin.setValue(self._suggested)
        self._checkpoint_changed()
        self._load()

    def _load(self) -> None:
        self.table_error.set_kind(INFO)
        self.table_error.set_error("Reading the run's checkpoints…")
        manager, exp_id = self.manager, self.experiment_id
        self._load_task = run_in_background(
            lambda: resume_checkpoints(manager, exp_id), self._listed, self._not_listed
        )

    def _not_listed(self, err: Exception) -> None:
        self._listed([], f"The run's checkpoints could not be read: {err}")

    def _listed(self, ckpts: list[Checkpoint], problem: str | None = None) -> None:
        self.table_error.set_kind(ERROR)
        if problem is None and not ckpts:
            problem = "This run has no checkpoint on disk to resume from."
        self.table_error.set_error(problem)
        self.ckpt_model.set_records(ckpts)
        self.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # by step
        chosen = default_checkpoint(ckpts)
        if chosen is not None:
            self.select_checkpoint(chosen.path)
        self.is_loaded = True
        self._changed()
        self.loaded.emit()

    # --- choices -------------------------------------------------------------------------------
    def checkpoints(self) -> list[Checkpoint]:
        return [self.ckpt_model.record(r) for r in range(self.ckpt_model.rowCount())]

    def checkpoint(self) -> Checkpoint | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.ckpt_model.record(self.proxy.mapToSource(rows[0]).row())

    def select_checkpoint(self, path: str) -> None:
        row = self.ckpt_model.row_of(path)
        if row is not None:
            self.table.selectRow(self.proxy.mapFromSource(self.ckpt_model.index(row, 0)).row())

    def max_steps(self) -> int:
        return self.steps_spin.value()

    def run_name(self) -> str:
        return self.name_edit.text().strip()

    def command_line(self) -> str:
        c = self.checkpoint()
        if c is None:
            return ""
        return resume_cli(self.experiment_id, c.path, self.max_steps(), self.run_name())

    # --- checking ------------------------------------------------------------------------------
    def _checkpoint_changed(self) -> None:
        c = self.checkpoint()
        if c is not None and self.steps_spin.value() in (self._suggested, 0, 1):
            self._suggested = suggest_max_steps(self._original_max, c.step)
            self.steps_spin.setValue(self._suggested)
        self._changed()

    def problem(self) -> str | None:
        c = self.checkpoint()
        if c is None:
            return "Choose the checkpoint to continue from."
        return resume_max_steps_problem(self.max_steps(), c.step)

    def _changed(self) -> None:
        problem = self.problem()
        has_ckpt = self.checkpoint() is not None
        self.steps_error.set_error(problem if has_ckpt else None)
        self.resume_button.setEnabled(problem is None)
        self.command_box.setPlainText(self.command_line())
        self.copy_button.setText("&Copy command")
        self.error_label.set_error(None)

    def copy_command(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.command_box.toPlainText())
        self.copy_button.setText("Copied")

    def accept(self) -> None:
        c = self.checkpoint()
        if c is None or self.problem() is not None:
            return
        try:
            result = self._submit(c.path, self.max_steps(), self.run_name())
        except RaveGuiError as err:
            self.error_label.set_error(f"The run was not resumed:\n{err}")
            return
        if isinstance(result, int):
            self.new_id = result
            super().accept()
            return
        self.resume_button.setEnabled(False)  # submitted on the target, in the background
        self.resume_button.setText("Starting…")
        result.succeeded.connect(self._started)
        result.failed.connect(self._not_started)

    def _started(self, new_id: int) -> None:
        self.new_id = new_id
        super().accept()

    def _not_started(self, err: Exception) -> None:
        self.resume_button.setText("&Resume")
        self.resume_button.setEnabled(True)
        self.error_label.set_error(f"The run was not resumed:\n{err}")


__all__ = ["ResumeDialog", "Submit"]
