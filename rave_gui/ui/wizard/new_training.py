"""NewTrainingWizard: dataset, RAVE configuration, parameters, confirmation, then start."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from PyQt6.QtCore import QItemSelectionModel, Qt, pyqtSignal
from PyQt6.QtGui import QFontDatabase
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ...backend.errors import RaveGuiError, ValidationError
from ...backend.manager import TrainingManager, check_name
from ...backend.rave.command import (
    MAX_BATCH,
    MAX_STEPS,
    MAX_WORKERS,
    RaveConfig,
    RaveInstall,
    TrainSettings,
    first_phase_steps,
    learning_rate_at,
    train_argv,
)
from ...backend.rave.dataset import read_dataset
from ...backend.rave.runfolder import folder_preview
from ...backend.system.units import format_bytes, format_duration
from ...core.worker import run_in_background
from ..dialogs.register_dataset import RegisterDatasetDialog
from ..pages.datasets_page import configure_table, dataset_model
from ..widgets.feedback import INFO, FieldError

DEFAULT_MAX_STEPS = 500_000
DEFAULT_BATCH = 8
DEFAULT_VAL_EVERY = 10_000
RAVE_SAVE_EVERY = 500_000  # `rave train`'s own --save_every default


def _sci(x: float) -> str:
    """5.5e-4 rather than 0.00055 or 5.5e-04."""
    mantissa, exponent = f"{x:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def learning_rate_note(version: str, phase: int | None, max_steps: int) -> str:
    head = (
        f"RAVE {version} has no learning-rate option. The generator's Adam starts at 1e-3 and "
        "decays linearly to 1e-4 over the first phase"
    )
    if phase is None:
        return head + " (its length is set by the configuration); the discriminator's stays 1e-4."
    text = head + f" ({phase:,} steps for this configuration); the discriminator's stays at 1e-4."
    if max_steps < phase:
        text += (
            f" This run stops at step {max_steps:,}, inside that phase, at a learning rate of "
            f"about {_sci(learning_rate_at(max_steps, phase))} (adversarial training starts only "
            "after the phase)."
        )
    else:
        text += " After the phase it stays at 1e-4 and adversarial training starts."
    return text


def _spin(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSingleStep(step)
    spin.setGroupSeparatorShown(True)
    spin.setSuffix(suffix)
    spin.setMinimumWidth(160)
    return spin


def _field(widget: QWidget, error: FieldError) -> QWidget:
    """A field with its error line under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(widget)
    layout.addWidget(error)
    return box


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


def _add_row(form: QFormLayout, text: str, widget: QWidget, error: FieldError) -> None:
    label = QLabel(text)
    label.setBuddy(widget)  # Alt+letter focuses the field itself
    form.addRow(label, _field(widget, error))


# --- pages -----------------------------------------------------------------------------------
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
        target = previous if previous is not None else (records[0]["id"] if records else None)
        if target is not None and self.model.row_of(target) >= 0:
            index = self.proxy.mapFromSource(self.model.index(self.model.row_of(target), 0))
            self.table.selectionModel().select(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
        self._selection_changed()

    def dataset(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.record(self.proxy.mapToSource(rows[0]).row())

    def dataset_id(self) -> int | None:
        ds = self.dataset()
        return None if ds is None else int(ds["id"])

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
            channels = "1 channel" if ds["channels"] == 1 else f"{ds['channels']} channels"
            examples = "?" if ds["n_examples"] is None else f"{ds['n_examples']:,}"
            self.info_label.setText(
                f"{ds['name']}: {ds['sample_rate']:,} Hz, {channels}, "
                f"{format_duration(ds['duration_s'])} of audio, {examples} examples\n{ds['path']}"
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
            read_dataset(ds["path"])  # still there and still valid?
        except RaveGuiError as err:
            self.error_label.set_error(str(err))
            return False
        return True


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
        layout.addWidget(base_title)
        layout.addWidget(self.base_list)
        layout.addWidget(self.base_error)
        layout.addSpacing(6)
        layout.addWidget(mod_title)
        layout.addWidget(self.modifier_list)
        layout.addStretch(1)
        self._probing = False

    def initializePage(self) -> None:
        if self._wizard.install is None and not self._probing:
            self.probe()

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
        names = [
            self.base_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.base_list.count())
        ]
        if names:
            self.base_list.setCurrentRow(names.index("v2") if "v2" in names else 0)
        self._changed()

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
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self._wizard.install is not None and self.base_config() is not None


class ParametersPage(QWizardPage):
    """3. Run name, steps, batch, intervals, device, workers, EMA and gin overrides."""

    def __init__(self, wizard: NewTrainingWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Parameters")
        self.setSubTitle("How long and how this run trains. Everything is checked as you type.")
        self._taken: set[str] = set()
        self._suggested = ""

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("a name for this run, unique in the project")
        self.name_error = FieldError(self)

        self.max_steps_spin = _spin(1, MAX_STEPS, DEFAULT_MAX_STEPS, 10_000)
        self.batch_spin = _spin(1, MAX_BATCH, DEFAULT_BATCH)
        self.val_every_spin = _spin(1, MAX_STEPS, DEFAULT_VAL_EVERY, 1000, " steps")
        self.save_every_spin = _spin(0, MAX_STEPS, 0, 10_000, " steps")
        self.save_every_spin.setSpecialValueText(
            f"RAVE's default (every {RAVE_SAVE_EVERY:,} steps)"
        )
        self.device_combo = QComboBox()
        self.device_combo.setMinimumWidth(160)
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.workers_spin = _spin(0, MAX_WORKERS, min(8, os.cpu_count() or 1))
        self.ema_edit = QLineEdit()
        self.ema_edit.setPlaceholderText("off (e.g. 0.999)")
        self.ema_edit.setMaximumWidth(220)
        self.overrides_edit = QPlainTextEdit()
        self.overrides_edit.setPlaceholderText(
            "one gin binding per line, e.g.\nmodel.RAVE.sampling_rate = 48000"
        )
        self.overrides_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.overrides_edit.setTabChangesFocus(True)
        self.overrides_edit.setFixedHeight(72)
        self.lr_label = QLabel()
        self.lr_label.setWordWrap(True)
        self.lr_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.steps_error = FieldError(self)
        self.batch_error = FieldError(self)
        self.val_error = FieldError(self)
        self.save_error = FieldError(self)
        self.device_error = FieldError(self)
        self.workers_error = FieldError(self)
        self.ema_error = FieldError(self)
        self.overrides_error = FieldError(self)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.setVerticalSpacing(6)
        _add_row(form, "Run &name:", self.name_edit, self.name_error)
        _add_row(form, "&Max steps:", self.max_steps_spin, self.steps_error)
        _add_row(form, "&Batch size:", self.batch_spin, self.batch_error)
        _add_row(form, "&Validate every:", self.val_every_spin, self.val_error)
        _add_row(form, "&Checkpoint every:", self.save_every_spin, self.save_error)
        _add_row(form, "&Device:", self.device_combo, self.device_error)
        _add_row(form, "Data-loader &workers:", self.workers_spin, self.workers_error)
        _add_row(form, "&EMA:", self.ema_edit, self.ema_error)
        _add_row(form, "&Gin overrides:", self.overrides_edit, self.overrides_error)

        lr_box = QFrame()
        lr_box.setFrameShape(QFrame.Shape.StyledPanel)
        lr_layout = QHBoxLayout(lr_box)
        lr_icon = QLabel()
        lr_icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation).pixmap(22)
        )
        lr_layout.addWidget(lr_icon, 0, Qt.AlignmentFlag.AlignTop)
        lr_layout.addWidget(self.lr_label, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addSpacing(4)
        layout.addWidget(lr_box)
        layout.addStretch(1)

        self.name_edit.textChanged.connect(lambda _t: self._changed())
        self.ema_edit.textChanged.connect(lambda _t: self._changed())
        self.overrides_edit.textChanged.connect(self._changed)
        for spin in (
            self.max_steps_spin,
            self.batch_spin,
            self.val_every_spin,
            self.save_every_spin,
            self.workers_spin,
        ):
            spin.valueChanged.connect(lambda _v: self._changed())
        self._errors: dict[str, str] = {}
        self._fill_devices()

    def _fill_devices(self) -> None:
        self.device_combo.clear()
        self.device_combo.addItem("CPU", -1)
        try:
            from ...backend.system import sysmon

            gpus = sysmon.list_gpus()
        except Exception:  # no sysmon, or NVML failing in an unexpected way: CPU only
            gpus = []
        for gpu in gpus:
            memory = f", {format_bytes(gpu.memory_total)}" if gpu.memory_total else ""
            self.device_combo.addItem(f"GPU {gpu.index}: {gpu.name}{memory}", gpu.index)
        if gpus:
            self.device_combo.setCurrentIndex(1)

    def initializePage(self) -> None:
        self._load_taken_names()
        # Suggest a name until the user writes their own.
        if self.name_edit.text() in ("", self._suggested):
            self._suggested = self._suggest_name()
            self.name_edit.setText(self._suggested)
        self._changed()

    def _load_taken_names(self) -> None:
        try:
            self._taken = {
                e["name"] for e in self._wizard.manager.list_experiments(self._wizard.project_id)
            }
        except RaveGuiError:
            self._taken = set()

    def _suggest_name(self) -> str:
        ds = self._wizard.dataset_page.dataset()
        base_cfg = self._wizard.config_page.base_config() or "run"
        stem = f"{ds['name']}-{base_cfg}" if ds else base_cfg
        stem = re.sub(r"[/\\:*?\"<>|]", "_", stem).lstrip(".-") or "run"
        name, i = stem, 2
        while name in self._taken:
            name, i = f"{stem}-{i}", i + 1
        return name

    # --- values --------------------------------------------------------------------------------
    def overrides(self) -> list[str]:
        return [
            line.strip() for line in self.overrides_edit.toPlainText().splitlines() if line.strip()
        ]

    def ema(self) -> float | None:
        text = self.ema_edit.text().strip()
        return None if not text else float(text)

    def save_every(self) -> int | None:
        v = self.save_every_spin.value()
        return None if v == 0 else v

    def gpu(self) -> int:
        data = self.device_combo.currentData()
        return -1 if data is None else int(data)

    def errors(self) -> dict[str, str]:
        return dict(self._errors)

    # --- checking ------------------------------------------------------------------------------
    def _check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        name = self.name_edit.text()
        try:
            name = check_name(name, "run")
            if name in self._taken:
                errors["name"] = (
                    f"A run named {name!r} already exists in this project: pick another name."
                )
        except ValidationError as err:
            errors["name"] = str(err)
        ema: float | None = None
        text = self.ema_edit.text().strip()
        if text:
            try:
                ema = float(text)
            except ValueError:
                errors["ema"] = f"{text!r} is not a number: give the EMA factor, e.g. 0.999."
        base = TrainSettings(
            name="x",
            dataset_path="",
            max_steps=self.max_steps_spin.value(),
            val_every=self.val_every_spin.value(),
            save_every=self.save_every(),
            batch=self.batch_spin.value(),
            workers=self.workers_spin.value(),
            gpu=self.gpu(),
        )
        checks = {
            "steps": {"max_steps": base.max_steps, "val_every": 1},
            "val": {"val_every": base.val_every, "max_steps": base.max_steps},
            "save": {"save_every": base.save_every},
            "batch": {"batch": base.batch},
            "workers": {"workers": base.workers},
            "device": {"gpu": base.gpu},
        }
        if "ema" not in errors and ema is not None:
            checks["ema"] = {"ema": ema}
        for key, values in checks.items():
            try:
                TrainSettings(name="x", dataset_path="", **values).validate()
            except ValidationError as err:
                errors[key] = str(err)
        for n, line in enumerate(self.overrides_edit.toPlainText().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                TrainSettings(name="x", dataset_path="", overrides=[line]).validate()
            except ValidationError as err:
                errors["overrides"] = f"Line {n}: {err}"
                break
        return errors

    def _changed(self) -> None:
        self._errors = self._check()
        for key, label in (
            ("name", self.name_error),
            ("steps", self.steps_error),
            ("batch", self.batch_error),
            ("val", self.val_error),
            ("save", self.save_error),
            ("device", self.device_error),
            ("workers", self.workers_error),
            ("ema", self.ema_error),
            ("overrides", self.overrides_error),
        ):
            label.set_error(self._errors.get(key))
        self._update_lr_note()
        self.completeChanged.emit()

    def _update_lr_note(self) -> None:
        install = self._wizard.install
        if install is None:
            self.lr_label.setText("")
            return
        chosen = self._wizard.config_page.configs()
        by_name: dict[str, RaveConfig] = {c.name: c for c in install.configs}
        paths = [by_name[c].path for c in chosen if c in by_name]
        overrides = [] if "overrides" in self._errors else self.overrides()
        phase = first_phase_steps(paths, overrides)
        self.lr_label.setText(
            "Learning rate: "
            + learning_rate_note(install.version, phase, self.max_steps_spin.value())
        )

    def isComplete(self) -> bool:
        return not self._errors

    def validatePage(self) -> bool:
        # The name may have been taken meanwhile (another window, the command line).
        self._load_taken_names()
        self._changed()
        return not self._errors


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
        self.command_box = _command_box()
        self.command_note = QLabel(
            "rave-gui starts RAVE through its launcher, which also logs the learning rate. "
            "The same run with the plain rave command:"
        )
        self.command_note.setWordWrap(True)
        self.plain_box = _command_box()
        self.queue_label = FieldError(self, kind="warning")
        self.error_label = FieldError(self)
        layout = QVBoxLayout(self)
        layout.addLayout(self.summary)
        command_title = QLabel("Command line (exactly what runs)")
        f = command_title.font()
        f.setBold(True)
        command_title.setFont(f)
        layout.addSpacing(6)
        layout.addWidget(command_title)
        layout.addWidget(self.command_box)
        layout.addWidget(self.command_note)
        layout.addWidget(self.plain_box)
        layout.addWidget(self.queue_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.error_label.set_error(None)
        while self.summary.rowCount():
            self.summary.removeRow(0)
        w = self._wizard
        s = w.train_settings()
        ds = w.dataset_page.dataset() or {}
        try:
            project = w.manager.projects.get(w.project_id)["name"]
        except RaveGuiError:
            project = str(w.project_id)
        cfg = w.config_page
        rows = [
            ("Project", project),
            ("Run name", s.name),
            (
                "Dataset",
                f"{ds.get('name')} — {ds.get('sample_rate', 0):,} Hz, "
                f"{s.channels} channel{'' if s.channels == 1 else 's'}, "
                f"{format_duration(ds.get('duration_s'))} ({ds.get('path')})",
            ),
            ("Configuration", cfg.base_config() or "–"),
            ("Modifiers", ", ".join(cfg.modifiers()) or "none"),
            ("Max steps", f"{s.max_steps:,}"),
            ("Batch size", str(s.batch)),
            ("Validate every", f"{s.val_every:,} steps"),
            (
                "Checkpoint every",
                f"RAVE's default ({RAVE_SAVE_EVERY:,} steps)"
                if s.save_every is None
                else f"{s.save_every:,} steps",
            ),
            ("Device", w.params_page.device_combo.currentText()),
            ("Workers", str(s.workers)),
            ("EMA", "off" if s.ema is None else str(s.ema)),
            ("Gin overrides", "\n".join(s.overrides) or "none"),
            ("Run folder", w.run_folder(s)),
        ]
        for label, value in rows:
            v = QLabel(value)
            v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            v.setWordWrap(True)
            self.summary.addRow(f"{label}:", v)
        self.command_box.setPlainText(w.command_line())
        install = w.install
        if install is not None and w.controller.settings.use_launcher:
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

    def validatePage(self) -> bool:
        return self._wizard.start()


class NewTrainingWizard(QWizard):
    """Four pages to a started (or queued) training run. Finishing calls
    ``controller.start_training``; a refusal (pre-flight, duplicate name, ...) is shown on the
    confirmation page and the wizard stays open."""

    training_started = pyqtSignal(int)  # experiment id

    def __init__(
        self,
        manager: TrainingManager,
        controller: Any,
        project_id: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.controller = controller
        self.project_id = project_id
        self.install: RaveInstall | None = None
        self.experiment_id: int | None = None
        self.setWindowTitle("New training")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Start training")
        self.dataset_page = DatasetPage(self)
        self.config_page = ConfigPage(self)
        self.params_page = ParametersPage(self)
        self.confirm_page = ConfirmPage(self)
        for page in (self.dataset_page, self.config_page, self.params_page, self.confirm_page):
            self.addPage(page)
        self.resize(860, 680)

    def train_settings(self, for_command: bool = False) -> TrainSettings:
        """The settings chosen so far (channels from the dataset, as pre-flight fills them)."""
        p = self.params_page
        ds = self.dataset_page.dataset() or {}
        try:
            ema = p.ema()
        except ValueError:
            ema = None
        s = TrainSettings(
            name=p.name_edit.text().strip(),
            dataset_path=str(ds.get("path", "")),
            out_path=str(self.controller.settings.resolved_runs_dir()),
            configs=self.config_page.configs(),
            overrides=p.overrides(),
            max_steps=p.max_steps_spin.value(),
            val_every=p.val_every_spin.value(),
            save_every=p.save_every(),
            batch=p.batch_spin.value(),
            channels=ds.get("channels"),
            gpu=p.gpu(),
            workers=p.workers_spin.value(),
            ema=ema,
        )
        if for_command:
            s.out_path = self.run_folder(s)
        return s

    def run_folder(self, s: TrainSettings) -> str:
        """Where the run will write, as the engine names it once the run is recorded:
        ``<runs dir>/<id>-<name>-<random>`` (the id and random part are not known yet)."""
        return folder_preview(self.controller.settings.resolved_runs_dir(), s.name)

    def command_line(self) -> str:
        if self.install is None:
            return ""
        s = self.train_settings(for_command=True)
        argv = train_argv(s, self.install, use_launcher=self.controller.settings.use_launcher)
        return shlex.join(argv)

    def config(self) -> dict[str, Any]:
        """What ``controller.start_training`` receives."""
        config = self.train_settings().to_config()
        config["project_id"] = self.project_id
        config["dataset_id"] = self.dataset_page.dataset_id()
        return config

    def start(self) -> bool:
        try:
            self.experiment_id = self.controller.start_training(self.config())
        except RaveGuiError as err:
            self.confirm_page.error_label.set_error(f"The run was not started:\n{err}".rstrip())
            return False
        self.training_started.emit(self.experiment_id)
        return True
