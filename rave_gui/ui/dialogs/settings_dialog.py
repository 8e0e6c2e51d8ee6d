"""The Settings dialog: which `rave` to run (checked off the GUI thread), where runs go,
the database in use and how many runs may train at once."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError
from ...backend.rave.command import RaveInstall, probe_rave
from ...backend.system.paths import DB_ENV, default_runs_dir
from ...backend.system.settings import Settings, save_settings
from ...core.worker import BackgroundTask, run_in_background
from ..widgets.feedback import ERROR, INFO, FieldError, WrappedLabel


def describe_install(install: RaveInstall) -> str:
    """ "RAVE 2.3.1, torch 2.13.0, 24 configs" (and where it is)."""
    parts = [f"RAVE {install.version}"]
    if install.torch_version:
        parts.append(f"torch {install.torch_version}")
    parts.append(f"{len(install.configs)} configs")
    return ", ".join(parts)


def default_rave() -> str:
    """The rave used when the field is left empty (ours, next to this Python, or on PATH)."""
    return Settings().resolved_rave()


def _folder_row(edit: QLineEdit, button: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


class SettingsDialog(QDialog):
    """Edits a copy of the settings; OK saves them (JSON file) and hands them to the
    controller, so new runs use them at once."""

    def __init__(
        self,
        settings: Settings,
        db_path: str | os.PathLike[str],
        parent: QWidget | None = None,
        on_saved=None,
        settings_file: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._original = settings
        self._on_saved = on_saved
        self._settings_file = settings_file
        self.saved: Settings | None = None
        self._check_task: BackgroundTask | None = None
        self._rejected: str | None = None  # the rave path the last check rejected

        # RAVE executable and its check.
        self.rave_edit = QLineEdit(settings.rave_executable)
        self.rave_edit.setPlaceholderText(f"default: {default_rave()}")
        self.rave_browse = QPushButton("Browse…")
        self.rave_browse.clicked.connect(lambda: self.browse_rave())
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Run this rave and report its version and configurations")
        self.check_button.clicked.connect(lambda: self.check_rave())
        rave_row = QHBoxLayout()
        rave_row.addWidget(self.rave_edit, 1)
        rave_row.addWidget(self.rave_browse)
        rave_row.addWidget(self.check_button)
        self.check_label = FieldError(self, kind=INFO)
        self.rave_edit.textChanged.connect(lambda _t: self.check_label.set_error(None))
        self.rave_edit.textChanged.connect(lambda _t: self.save_error.set_error(None))

        # Output folder.
        self.runs_edit = QLineEdit(settings.runs_dir)
        self.runs_edit.setPlaceholderText(f"default: {default_runs_dir()}")
        self.runs_browse = QPushButton("Browse…")
        self.runs_browse.clicked.connect(lambda: self.browse_runs())
        self.runs_error = FieldError(self)
        self.runs_edit.textChanged.connect(lambda _t: self.runs_error.set_error(None))

        # Database (read-only here).
        self.db_edit = QLineEdit(str(db_path))
        self.db_edit.setReadOnly(True)
        db_note = WrappedLabel(
            f"Chosen when rave-gui starts: the --db PATH flag or the {DB_ENV} environment "
            "variable open another database."
        )

        # Concurrency.
        self.max_runs_spin = QSpinBox()
        self.max_runs_spin.setRange(1, 64)
        self.max_runs_spin.setValue(settings.max_concurrent_runs)
        self.max_runs_spin.setToolTip(
            "Runs started beyond this number wait in the queue and start when one ends."
        )
        runs_note = QLabel("More runs wait in the queue and start when one ends.")

        # Notifications.
        self.notify_check = QCheckBox("Show a tray icon and desktop notifications")
        notify_note = WrappedLabel("When a run completes, fails or raises an error alert.")
        notify_note.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.notify_check.setChecked(settings.notifications)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        rave_box = QVBoxLayout()
        rave_box.addLayout(rave_row)
        rave_box.addWidget(self.check_label)
        form.addRow("RAVE executable:", rave_box)
        runs_box = QVBoxLayout()
        runs_box.addLayout(_folder_row(self.runs_edit, self.runs_browse))
        runs_box.addWidget(self.runs_error)
        form.addRow("Output folder:", runs_box)
        db_box = QVBoxLayout()
        db_box.addWidget(self.db_edit)
        db_box.addWidget(db_note)
        form.addRow("Database:", db_box)
        max_box = QHBoxLayout()
        max_box.addWidget(self.max_runs_spin)
        max_box.addWidget(runs_note, 1)
        form.addRow("Concurrent runs:", max_box)
        notify_box = QVBoxLayout()
        notify_box.addWidget(self.notify_check)
        notify_box.addWidget(notify_note)
        form.addRow("Notifications:", notify_box)

        self.save_error = FieldError(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.save_error)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(640)

    # --- RAVE ----------------------------------------------------------------------------------
    def browse_rave(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "The rave command", self.rave_edit.text() or str(Path.home())
        )
        if path:
            self.rave_edit.setText(path)

    def rave_path(self) -> str:
        return self.rave_edit.text().strip() or default_rave()

    def check_rave(self) -> BackgroundTask:
        """Probe the chosen rave off the GUI thread; the answer appears under the field."""
        executable = self.rave_path()
        self._rejected = None
        self.check_button.setEnabled(False)
        self.check_label.set_kind(INFO)
        self.check_label.set_error(f"Checking {executable}…")
        self._check_task = run_in_background(
            lambda: probe_rave(executable),
            self._check_succeeded,
            lambda err: self._check_failed(executable, err),
        )
        return self._check_task

    def _check_succeeded(self, install: RaveInstall) -> None:
        self.check_button.setEnabled(True)
        self.check_label.set_kind("ok")
        self.check_label.set_error(f"✓ {describe_install(install)} ({install.executable})")

    def _check_failed(self, executable: str, err: Exception) -> None:
        self._rejected = executable
        self.check_button.setEnabled(True)
        self.check_label.set_kind(ERROR)
        text = str(err) if isinstance(err, RaveGuiError) else f"The check failed: {err}"
        self.check_label.set_error(text)

    def check_text(self) -> str:
        return self.check_label.error()

    # --- output folder -------------------------------------------------------------------------
    def browse_runs(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for training runs", self.runs_edit.text() or str(default_runs_dir())
        )
        if folder:
            self.runs_edit.setText(folder)

    # --- saving --------------------------------------------------------------------------------
    def edited_settings(self) -> Settings:
        return replace(
            self._original,
            rave_executable=self.rave_edit.text().strip(),
            runs_dir=self.runs_edit.text().strip(),
            max_concurrent_runs=self.max_runs_spin.value(),
            notifications=self.notify_check.isChecked(),
        )

    def save(self) -> None:
        """Save and close, unless a field is refused: an output folder that is a file, or the
        rave the check has just rejected (the error says what to do; nothing is written)."""
        settings = self.edited_settings()
        if self._rejected is not None and self.rave_path() == self._rejected:
            self.save_error.set_error(
                f"Not saved: {self._rejected} failed its check (see above). Choose a rave that "
                "works, or check again once it is fixed."
            )
            return
        if settings.runs_dir:
            folder = Path(settings.runs_dir).expanduser()
            if folder.exists() and not folder.is_dir():
                self.runs_error.set_error(f"{folder} is a file; choose a folder.")
                return
        try:
            save_settings(settings, self._settings_file)
        except RaveGuiError as err:
            self.save_error.set_error(str(err))
            return
        except OSError as err:
            self.save_error.set_error(f"The settings could not be saved: {err}")
            return
        self.saved = settings
        if self._on_saved is not None:
            self._on_saved(settings)
        self.accept()

    def done(self, result: int) -> None:
        # A check still running reports to nobody once the dialog is gone.
        if self._check_task is not None:
            try:
                self._check_task.succeeded.disconnect()
                self._check_task.failed.disconnect()
            except TypeError:
                pass
        super().done(result)
