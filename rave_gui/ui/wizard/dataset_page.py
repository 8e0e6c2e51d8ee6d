"""The new-training wizard's first page: the project's dataset to train on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QItemSelectionModel, Qt
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWizardPage,
)

from ...backend.errors import RaveGuiError
from ...backend.rave.dataset import read_dataset
from ...backend.store.records import Dataset
from ...backend.system.units import format_duration
from ..dialogs.register_dataset import RegisterDatasetDialog
from ..widgets.dataset_table import configure_table, dataset_model
from ..widgets.feedback import FieldError

if TYPE_CHECKING:
    from .new_training import NewTrainingWizard


class DatasetPage(QWizardPage):
    """1. The project's dataset to train on (required)."""

    def __init__(self, wizard: NewTrainingWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Dataset")
        self.setSubTitle("The preprocessed dataset this run trains on.")
        self.model, self.proxy = dataset_model(self)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        configure_table(self.table, stretch_column=1)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.register_button = QPushButton(
            self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Register dataset…"
        )
        self.register_button.clicked.connect(lambda: self.register_dataset())
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label = FieldError(self)
        row = QHBoxLayout()
        row.addWidget(self.info_label, 1)
        row.addWidget(self.register_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.error_label)
        self._last_error: str | None = None

    def initializePage(self) -> None:
        self.reload()

    def reload(self, select: int | None = None) -> None:
        previous = select if select is not None else self.dataset_id()
        try:
            records = self._wizard.manager.datasets.all(self._wizard.project_id)
        except RaveGuiError as err:
            records = []
            self.error_label.set_error(str(err))
        self.model.set_records(records)
        target = previous if previous is not None else (records[0].id if records else None)
        if target is not None and self.model.row_of(target) >= 0:
            index = self.proxy.mapFromSource(self.model.index(self.model.row_of(target), 0))
            self.table.selectionModel().select(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
        self._selection_changed()

    def dataset(self) -> Dataset | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.record(self.proxy.mapToSource(rows[0]).row())

    def dataset_id(self) -> int | None:
        ds = self.dataset()
        return None if ds is None else int(ds.id)

    def _selection_changed(self, *_args: Any) -> None:
        ds = self.dataset()
        self._last_error = None
        if ds is None:
            self.info_label.setText("")
            if self.model.rowCount() == 0:
                msg = (
                    "This project has no dataset yet: register a folder written by "
                    "`rave preprocess` to train on it."
                )
            else:
                msg = "Choose the dataset to train on."
            self.error_label.set_error(msg)
        else:
            channels = "1 channel" if ds.channels == 1 else f"{ds.channels} channels"
            examples = "?" if ds.n_examples is None else f"{ds.n_examples:,}"
            self.info_label.setText(
                f"{ds.name}: {ds.sample_rate:,} Hz, {channels}, "
                f"{format_duration(ds.duration_s)} of audio, {examples} examples\n{ds.path}"
            )
            self.error_label.set_error(None)
        self.completeChanged.emit()

    def register_dataset(self) -> RegisterDatasetDialog:
        dialog = RegisterDatasetDialog(self._wizard.manager, self._wizard.project_id, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.reload(select=dialog.registered_id))
        dialog.open()
        return dialog

    def isComplete(self) -> bool:
        return self.dataset() is not None

    def validatePage(self) -> bool:
        ds = self.dataset()
        if ds is None:
            return False
        try:
            read_dataset(ds.path)  # still there and still valid?
        except RaveGuiError as err:
            self.error_label.set_error(str(err))
            return False
        return True


__all__ = ["DatasetPage"]
