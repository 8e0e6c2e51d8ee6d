"""The new-training wizard's second page: base configuration and modifiers from RAVE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from ...backend.errors import RaveGuiError
from ...backend.rave.command import RaveInstall, config_warnings, suggest_config
from ...backend.system.choices import remembered_choices
from ...core.worker import run_in_background
from ..widgets.feedback import INFO, WARNING, FieldError

if TYPE_CHECKING:
    from .new_training import NewTrainingWizard


class ConfigPage(QWizardPage):
    """2. Base configuration and modifiers, from the installed RAVE."""

    def __init__(self, wizard: NewTrainingWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Configuration")
        self.setSubTitle("The model to train: one base configuration, and any modifiers.")
        self.status_label = FieldError(self, kind=INFO)
        self.retry_button = QPushButton("Check again")
        self.retry_button.clicked.connect(lambda: self.probe())
        self.retry_button.hide()
        self.base_list = QListWidget()
        self.base_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.base_list.setAlternatingRowColors(True)
        self.base_list.itemSelectionChanged.connect(self._changed)
        self.modifier_list = QListWidget()
        self.modifier_list.setAlternatingRowColors(True)
        self.modifier_list.itemChanged.connect(lambda _i: self._changed())
        self.base_error = FieldError(self)
        self.suggest_label = FieldError(self, kind=INFO)  # the suggested config and why
        self.warning_label = FieldError(self, kind=WARNING)  # the choice is known to fail
        self._suggested_for: object = ()  # the dataset the suggestion was made for
        self.preset: list[str] | None = None  # configs to choose once RAVE's are listed
        for lst in (self.base_list, self.modifier_list):
            lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            lst.setTextElideMode(Qt.TextElideMode.ElideRight)
        base_title = QLabel("Base configuration")
        mod_title = QLabel("Modifiers (optional, any number)")
        for t in (base_title, mod_title):
            f = t.font()
            f.setBold(True)
            t.setFont(f)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status_label, 1)
        status_row.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(status_row)
        layout.addWidget(self.suggest_label)
        layout.addWidget(base_title)
        layout.addWidget(self.base_list)
        layout.addWidget(self.base_error)
        layout.addWidget(self.warning_label)
        layout.addSpacing(6)
        layout.addWidget(mod_title)
        layout.addWidget(self.modifier_list)
        layout.addStretch(1)
        self._probing = False

    def initializePage(self) -> None:
        if self._wizard.install is None and not self._probing:
            self.probe()
        elif self._wizard.install is not None:
            self.suggest()

    def probe(self) -> None:
        """Ask the controller which RAVE is installed, off the GUI thread."""
        self._probing = True
        self.retry_button.hide()
        self.status_label.set_kind(INFO)
        self.status_label.set_error("Looking for the RAVE installation…")
        self.base_list.setEnabled(False)
        self.modifier_list.setEnabled(False)
        run_in_background(self._wizard.controller.install, self._probed, self._probe_failed)

    def _probed(self, install: RaveInstall) -> None:
        self._probing = False
        self._wizard.install = install
        self.status_label.set_kind(INFO)
        self.status_label.set_error(
            f"RAVE {install.version} ({install.executable}) offers these configurations."
        )
        self.base_list.clear()
        self.modifier_list.clear()
        for cfg in install.base_configs():
            item = QListWidgetItem(f"{cfg.name}  —  {cfg.description}")
            item.setData(Qt.ItemDataRole.UserRole, cfg.name)
            item.setToolTip(cfg.path)
            self.base_list.addItem(item)
        for cfg in install.modifiers():
            item = QListWidgetItem(f"{cfg.name}  —  {cfg.description}")
            item.setData(Qt.ItemDataRole.UserRole, cfg.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(cfg.path)
            self.modifier_list.addItem(item)
        self.base_list.setEnabled(True)
        self.modifier_list.setEnabled(True)
        for lst in (self.base_list, self.modifier_list):
            # Tall enough for every item: no scrolling in a list of a dozen.
            rows = max(lst.count(), 1)
            lst.setFixedHeight(lst.sizeHintForRow(0) * rows + 2 * lst.frameWidth() + 2)
        self._suggested_for = ()
        self.suggest()
        self._changed()

    def _context(self) -> tuple[int | None, int]:
        """The chosen dataset's example count and the device chosen (or proposed) for it."""
        ds = self._wizard.dataset_page.dataset()
        return (None if ds is None else ds.n_examples), self._wizard.params_page.gpu()

    def suggest(self) -> None:
        """Choose the configuration that suits the dataset's size and the device, once per
        dataset (a choice of the user's own stays), and say why."""
        names = [
            self.base_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.base_list.count())
        ]
        if not names:
            return
        n_examples, gpu = self._context()
        name, why = suggest_config(n_examples, gpu)
        ds = self._wizard.dataset_page.dataset()
        key = None if ds is None else ds.id
        if self.preset and self.preset[0] in names:  # "Run again": the run's own choice
            base, *modifiers = self.preset
            self.preset = None
            self._suggested_for = key
            self.set_base_config(base)
            for m in modifiers:
                self.set_modifier(m)
            self.suggest_label.set_error(f"The configuration of the run repeated: {base}.")
            return
        if name not in names:
            name = "v2" if "v2" in names else names[0]
        last = remembered_choices(self._wizard.controller.settings).get("configs") or []
        # the last run's configuration, unless it is known to fail here
        use_last = bool(last) and last[0] in names and not config_warnings(last, n_examples, gpu)
        if key != self._suggested_for or self.base_config() is None:
            self._suggested_for = key
            self.set_base_config(last[0] if use_last else name)
            for modifier in last[1:] if use_last else []:
                self.set_modifier(modifier)
        lead = f"Your last run's: {' + '.join(last)}. " if use_last else ""
        self.suggest_label.set_error(f"{lead}Suggested: {name}. {why}")

    def _probe_failed(self, err: Exception) -> None:
        self._probing = False
        self._wizard.install = None
        self.status_label.set_kind("error")
        text = str(err) if isinstance(err, RaveGuiError) else f"RAVE could not be inspected: {err}"
        self.status_label.set_error(
            text + "\nFix the path of the rave executable in File › Settings, then check again."
        )
        self.retry_button.show()
        self.completeChanged.emit()

    def base_config(self) -> str | None:
        items = self.base_list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def set_base_config(self, name: str) -> None:
        for i in range(self.base_list.count()):
            if self.base_list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.base_list.setCurrentRow(i)

    def modifiers(self) -> list[str]:
        out = []
        for i in range(self.modifier_list.count()):
            item = self.modifier_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def set_modifier(self, name: str, checked: bool = True) -> None:
        for i in range(self.modifier_list.count()):
            item = self.modifier_list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def configs(self) -> list[str]:
        base = self.base_config()
        return ([base] if base else []) + self.modifiers()

    def _changed(self) -> None:
        if self._wizard.install is not None and self.base_config() is None:
            self.base_error.set_error("Choose a base configuration (v2 is RAVE's default).")
        else:
            self.base_error.set_error(None)
        n_examples, gpu = self._context()
        self.warning_label.set_error("\n".join(config_warnings(self.configs(), n_examples, gpu)))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self._wizard.install is not None and self.base_config() is not None


__all__ = ["ConfigPage"]
