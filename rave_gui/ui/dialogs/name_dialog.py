"""A small dialog asking for a name, checked as it is typed and again by the backend on OK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ...backend.errors import RaveGuiError, ValidationError
from ...backend.store.names import check_name
from ..widgets.feedback import FieldError


class NameDialog(QDialog):
    """Asks for a name; OK calls ``apply(name)``. A RaveGuiError it raises (duplicate, bad
    characters, ...) is shown under the field and the dialog stays open."""

    def __init__(
        self,
        parent: QWidget | None,
        title: str,
        prompt: str,
        apply: Callable[[str], Any],
        text: str = "",
        what: str = "project",
        ok_text: str = "OK",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._apply = apply
        self._what = what
        self.result_value: Any = None
        layout = QVBoxLayout(self)
        label = QLabel(prompt)
        label.setWordWrap(True)
        self.name_edit = QLineEdit(text)
        self.name_edit.selectAll()
        label.setBuddy(self.name_edit)
        self.error_label = FieldError(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(label)
        layout.addWidget(self.name_edit)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._check)
        self.setMinimumWidth(420)
        self._check(self.name_edit.text())

    def _check(self, text: str) -> None:
        try:
            check_name(text, self._what)
        except ValidationError as err:
            # An empty field needs no scolding before anything was typed.
            self.error_label.set_error(str(err) if text else None)
            self.ok_button.setEnabled(False)
            return
        self.error_label.set_error(None)
        self.ok_button.setEnabled(True)

    def _on_ok(self) -> None:
        try:
            self.result_value = self._apply(self.name_edit.text())
        except RaveGuiError as err:
            self.error_label.set_error(str(err))
            self.name_edit.setFocus()
            return
        self.accept()
