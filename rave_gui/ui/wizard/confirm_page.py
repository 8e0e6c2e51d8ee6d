"""The new-training wizard's last page: everything chosen and the exact command line."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFontDatabase, QGuiApplication
from PyQt6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from ...backend.errors import RaveGuiError
from ...backend.rave.command import config_warnings, train_argv
from ...backend.rave.estimate import estimate_run
from ...backend.system.units import format_duration
from ..widgets.feedback import FieldError, WrappedLabel
from .params_page import RAVE_SAVE_EVERY

if TYPE_CHECKING:
    from .new_training import NewTrainingWizard


def _command_box(lines: int = 5) -> QPlainTextEdit:
    """A read-only monospace box for a command line, ``lines`` lines tall."""
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    height = box.fontMetrics().lineSpacing() * lines
    margins = 2 * box.frameWidth() + 2 * int(box.document().documentMargin())
    box.setFixedHeight(height + margins + 8)
    return box


class ConfirmPage(QWizardPage):
    """4. Everything chosen and the exact command line; Finish starts (or queues) the run."""

    def __init__(self, wizard: NewTrainingWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Confirmation")
        self.setSubTitle("Check the run, then start it.")
        self.setCommitPage(False)
        self.summary = QFormLayout()
        self.summary.setVerticalSpacing(3)
        self.command_box = _command_box(4)
        self.command_note = QLabel(
            "rave-gui starts RAVE through its launcher, which also logs the learning rate. "
            "The same run with the plain rave command (which logs the losses every 50 steps):"
        )
        self.command_note.setWordWrap(True)
        self.plain_box = _command_box(4)
        self.copy_button = QPushButton("&Copy command")
        self.copy_button.setToolTip("Copy the command line to the clipboard")
        self.copy_button.clicked.connect(self.copy_command)
        self.warning_label = FieldError(self, kind="warning")  # a choice known to fail
        self.queue_label = FieldError(self, kind="warning")
        self.error_label = FieldError(self)
        self.progress_label = QLabel(self)  # "Starting on <target>…" while it is submitted
        self.progress_label.setWordWrap(True)
        self.progress_label.hide()
        self.estimate_rows: dict[str, str] = {}  # "Duration" and "Disk" as shown
        layout = QVBoxLayout(self)
        # the rows scroll when the wizard is too small for them, rather than overlap
        holder = QWidget()
        holder.setLayout(self.summary)
        self.summary.setContentsMargins(0, 0, 0, 0)
        self.summary_area = QScrollArea()
        self.summary_area.setWidgetResizable(True)
        self.summary_area.setFrameShape(QFrame.Shape.NoFrame)
        self.summary_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.summary_area.setWidget(holder)
        layout.addWidget(self.summary_area, 1)
        command_title = QLabel("Command line (exactly what runs)")
        f = command_title.font()
        f.setBold(True)
        command_title.setFont(f)
        layout.addWidget(self.warning_label)
        layout.addSpacing(6)
        title_row = QHBoxLayout()
        title_row.addWidget(command_title, 1)
        title_row.addWidget(self.copy_button)
        layout.addLayout(title_row)
        layout.addWidget(self.command_box)
        layout.addWidget(self.command_note)
        layout.addWidget(self.plain_box)
        layout.addWidget(self.queue_label)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.error_label)

    def initializePage(self) -> None:
        self.error_label.set_error(None)
        self.copy_button.setText("&Copy command")
        while self.summary.rowCount():
            self.summary.removeRow(0)
        w = self._wizard
        s = w.train_settings()
        ds = w.dataset_page.dataset()
        try:
            project = w.manager.projects.get(w.project_id).name
        except RaveGuiError:
            project = str(w.project_id)
        cfg = w.config_page
        rows = [
            ("Project", project),
            ("Run name", s.name),
            (
                "Dataset",
                f"{ds.name} — {ds.sample_rate or 0:,} Hz, "
                f"{s.channels} channel{'' if s.channels == 1 else 's'}, "
                f"{format_duration(ds.duration_s)} ({ds.path})"
                if ds is not None
                else "–",
            ),
            ("Configuration", cfg.base_config() or "–"),
            ("Modifiers", ", ".join(cfg.modifiers()) or "none"),
            ("Max steps", f"{s.max_steps:,}"),
            ("Batch size", str(s.batch)),
            (
                "Validate every",
                f"{s.val_every:,} steps"
                + (f"\n{note}" if (note := w.params_page.validation_text()) else ""),
            ),
            (
                "Checkpoint every",
                f"RAVE's default ({RAVE_SAVE_EVERY:,} steps)"
                if s.save_every is None
                else f"{s.save_every:,} steps",
            ),
            (
                "Log losses every",
                f"{s.log_every:,} steps"
                + (
                    ""
                    if w.controller.settings.use_launcher
                    else " (needs the launcher: see Settings)"
                ),
            ),
            ("Device", w.params_page.device_combo.currentText()),
            ("Workers", str(s.workers)),
            ("EMA", "off" if s.ema is None else str(s.ema)),
            ("Gin overrides", "\n".join(s.overrides) or "none"),
            ("Where", w.where_page.describe()),
            ("Run folder", w.run_folder(s)),
        ]
        try:
            est = estimate_run(w.manager, s, None if ds is None else ds.n_examples)
            rows += [("Duration", est.duration_text), ("Disk", est.disk_text)]
        except RaveGuiError as err:
            rows.append(("Estimates", f"not available: {err}"))
        self.estimate_rows = {label: value for label, value in rows[-2:]}
        for label, value in rows:
            v = WrappedLabel(value)  # wraps (paths too) and is never cut: the page scrolls
            v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.summary.addRow(f"{label}:", v)
        self.command_box.setPlainText(w.command_line())
        n_examples = None if ds is None else ds.n_examples
        self.warning_label.set_error("\n".join(config_warnings(s.configs, n_examples, s.gpu)))
        install = w.install
        remote = w.where_page.target() is not None  # the box shows what runs there
        if install is not None and w.controller.settings.use_launcher and not remote:
            plain = train_argv(w.train_settings(for_command=True), install, use_launcher=False)
            self.plain_box.setPlainText(shlex.join(plain))
            self.command_note.show()
            self.plain_box.show()
        else:
            self.command_note.hide()
            self.plain_box.hide()
        try:
            active = len(w.controller.active_ids())
        except RaveGuiError:
            active = 0
        limit = w.controller.settings.max_concurrent_runs
        if active >= limit:
            self.queue_label.set_error(
                f"{active} run(s) are training and at most {limit} may run at once: this run "
                "waits in the queue and starts when a slot frees up."
            )
        else:
            self.queue_label.set_error(None)

    def copy_command(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.command_box.toPlainText())
        self.copy_button.setText("Copied")

    def validatePage(self) -> bool:
        return self._wizard.start()


__all__ = ["ConfirmPage"]
