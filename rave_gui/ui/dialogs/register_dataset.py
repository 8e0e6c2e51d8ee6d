"""Registering a preprocessed RAVE dataset folder in a project: validated, its contents shown."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError, ValidationError
from ...backend.manager import TrainingManager
from ...backend.rave.dataset import DatasetInfo, read_dataset
from ...backend.store.names import check_name
from ...backend.system.units import format_bytes, format_duration
from ..widgets.feedback import FieldError

# Folder names `rave preprocess` users often give that say nothing about the sounds inside.
_GENERIC = {"db", "data", "dataset", "preprocessed", "out", "output", "lmdb", "prep"}


def describe(info: DatasetInfo) -> str:
    """One line about a dataset: rate, channels, duration, examples, size."""
    examples = "? examples" if info.n_examples is None else f"{info.n_examples:,} examples"
    channels = "1 channel" if info.channels == 1 else f"{info.channels} channels"
    return (
        f"{info.sample_rate:,} Hz · {channels} · {format_duration(info.duration_s)} · "
        f"{examples} · {format_bytes(info.size_bytes)}"
    )


def suggest_name(folder: Path) -> str:
    name = folder.name or "dataset"
    if name.lower() in _GENERIC and folder.parent.name:
        name = f"{folder.parent.name}-{name}"
    return name


class RegisterDatasetDialog(QDialog):
    """Choose a preprocessed dataset folder; what it holds is shown before it is registered."""

    def __init__(
        self,
        manager: TrainingManager,
        project_id: int,
        parent: QWidget | None = None,
        path: str = "",
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.project_id = project_id
        self.registered_id: int | None = None
        self._info: DatasetInfo | None = None
        self._name_touched = False
        self.setWindowTitle("Register dataset")

        intro = QLabel(
            "Choose a folder written by `rave preprocess` (it holds metadata.yaml and "
            "data.mdb). Its files stay where they are; the project only remembers it."
        )
        intro.setWordWrap(True)

        self.path_edit = QLineEdit(path)
        self.path_edit.setPlaceholderText("/path/to/preprocessed/dataset")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(lambda: self.browse())
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.path_error = FieldError(self)
        self.info_label = QLabel("–")
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.name_edit = QLineEdit()
        self.name_error = FieldError(self)
        self.name_edit.textEdited.connect(self._name_edited)
        self.name_edit.textChanged.connect(lambda _t: self._update())

        self.error_label = FieldError(self)

        form = QFormLayout()
        path_box = QVBoxLayout()
        path_box.addLayout(path_row)
        path_box.addWidget(self.path_error)
        form.addRow("Folder:", path_box)
        form.addRow("Contents:", self.info_label)
        name_box = QVBoxLayout()
        name_box.addWidget(self.name_edit)
        name_box.addWidget(self.name_error)
        form.addRow("Name:", name_box)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Register")
        self.buttons.accepted.connect(self._register)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(560)

        self.path_edit.editingFinished.connect(self.inspect)
        self.path_error.watch(self.path_edit)  # about the path being changed: gone
        self.error_label.watch(self.path_edit, self.name_edit)
        if path:
            self.inspect()
        else:
            self._update()

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Preprocessed RAVE dataset folder", self.path_edit.text() or str(Path.home())
        )
        if folder:
            self.set_path(folder)

    def set_path(self, path: str) -> None:
        self.path_edit.setText(path)
        self.inspect()

    def inspect(self) -> None:
        """Validate the folder and show what it holds (DatasetError shown under it)."""
        text = self.path_edit.text().strip()
        self._info = None
        self.error_label.set_error(None)
        if not text:
            self.path_error.set_error(None)
            self.info_label.setText("–")
        else:
            try:
                self._info = read_dataset(text)
            except RaveGuiError as err:
                self.path_error.set_error(str(err))
                self.info_label.setText("–")
            else:
                self.path_error.set_error(None)
                self.info_label.setText(describe(self._info))
                if not self._name_touched:
                    self.name_edit.setText(suggest_name(self._info.path))
        self._update()

    def _name_edited(self, _text: str) -> None:
        self._name_touched = True

    def _update(self) -> None:
        name_ok = False
        try:
            check_name(self.name_edit.text(), "dataset")
            self.name_error.set_error(None)
            name_ok = True
        except ValidationError as err:
            self.name_error.set_error(str(err) if self.name_edit.text() else None)
        self.ok_button.setEnabled(self._info is not None and name_ok)

    def _register(self) -> None:
        try:
            self.registered_id = self.manager.datasets.register(
                self.project_id, self.path_edit.text().strip(), self.name_edit.text()
            )
        except RaveGuiError as err:
            self.error_label.set_error(str(err))
            return
        self.accept()
