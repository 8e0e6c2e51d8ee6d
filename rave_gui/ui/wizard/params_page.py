"""The new-training wizard's third page: run name, lengths, device and the other settings."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFontDatabase
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from ...backend.errors import RaveGuiError, ValidationError
from ...backend.rave.command import (
    MAX_BATCH,
    MAX_STEPS,
    MAX_WORKERS,
    RaveConfig,
    TrainSettings,
    batch_problem,
    batches_per_epoch,
    first_phase_steps,
    learning_rate_at,
    validation_note,
)
from ...backend.rave.log_interval import default_log_every, log_every_note
from ...backend.store.names import check_name
from ...backend.system.choices import remembered_choices
from ...backend.system.units import format_bytes
from ..widgets.feedback import INFO, FieldError

if TYPE_CHECKING:
    from .new_training import NewTrainingWizard


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


def _add_row(
    form: QFormLayout, text: str, widget: QWidget, error: FieldError, *notes: QWidget
) -> None:
    label = QLabel(text)
    label.setBuddy(widget)  # Alt+letter focuses the field itself
    box = _field(widget, error)
    for note in notes:
        box.layout().addWidget(note)  # type: ignore[union-attr]
    form.addRow(label, box)


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

        # 0 is accepted here so that it is refused with a message, not silently reverted.
        self.max_steps_spin = _spin(0, MAX_STEPS, DEFAULT_MAX_STEPS, 10_000)
        self.batch_spin = _spin(1, MAX_BATCH, DEFAULT_BATCH)
        self.val_every_spin = _spin(1, MAX_STEPS, DEFAULT_VAL_EVERY, 1000, " steps")
        self.save_every_spin = _spin(0, MAX_STEPS, 0, 10_000, " steps")
        self.save_every_spin.setSpecialValueText(
            f"RAVE's default (every {RAVE_SAVE_EVERY:,} steps)"
        )
        self.log_every_spin = _spin(1, MAX_STEPS, 50, 10, " steps")
        self.log_every_spin.setToolTip(
            "How often the training losses are logged (and drawn). RAVE's own interval is 50 "
            "steps: a short run would show no curve for a long while."
        )
        self.log_every_spin.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self._log_suggested = 50  # followed until the user sets their own
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
        self.val_note = FieldError(self, kind=INFO)  # when RAVE really validates
        # The note as wide as the form allows, the field beside it as wide as the others.
        self.val_note.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.val_every_spin.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.save_error = FieldError(self)
        self.log_error = FieldError(self)
        self.log_note = FieldError(self, kind=INFO)  # what the interval means for this run
        self.log_note.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
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
        _add_row(form, "&Validate every:", self.val_every_spin, self.val_error, self.val_note)
        _add_row(form, "&Checkpoint every:", self.save_every_spin, self.save_error)
        _add_row(form, "&Log losses every:", self.log_every_spin, self.log_error, self.log_note)
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
            self.log_every_spin,
            self.workers_spin,
        ):
            spin.valueChanged.connect(lambda _v: self._changed())
        self._errors: dict[str, str] = {}
        self._prefilled = False
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

    def prefill(self) -> None:
        """Start from the last run's choices (once; the settings remember them)."""
        self._prefilled = True
        last = remembered_choices(self._wizard.controller.settings)
        for key, spin in (
            ("max_steps", self.max_steps_spin),
            ("batch", self.batch_spin),
            ("val_every", self.val_every_spin),
            ("workers", self.workers_spin),
        ):
            if key in last:
                spin.setValue(last[key])
        self.save_every_spin.setValue(last.get("save_every") or 0)
        if last.get("ema") is not None:
            self.ema_edit.setText(str(last["ema"]))
        if last.get("overrides"):
            self.overrides_edit.setPlainText("\n".join(last["overrides"]))
        if "gpu" in last and self.device_combo.findData(last["gpu"]) >= 0:
            self.device_combo.setCurrentIndex(self.device_combo.findData(last["gpu"]))
        if last.get("log_every"):
            self._log_suggested = 0  # the user's own from last time: kept
            self.log_every_spin.setValue(last["log_every"])

    def initializePage(self) -> None:
        if not self._prefilled:
            self.prefill()
        self._load_taken_names()
        # Suggest a name until the user writes their own.
        if self.name_edit.text() in ("", self._suggested):
            self._suggested = self._suggest_name()
            self.name_edit.setText(self._suggested)
        self._changed()

    def _load_taken_names(self) -> None:
        try:
            self._taken = {
                e.name for e in self._wizard.manager.list_experiments(self._wizard.project_id)
            }
        except RaveGuiError:
            self._taken = set()

    def _suggest_name(self) -> str:
        ds = self._wizard.dataset_page.dataset()
        base_cfg = self._wizard.config_page.base_config() or "run"
        stem = f"{ds.name}-{base_cfg}" if ds else base_cfg
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

    def log_every(self) -> int:
        return self.log_every_spin.value()

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
            log_every=self.log_every(),
        )
        checks = {
            "steps": {"max_steps": base.max_steps, "val_every": 1},
            "val": {"val_every": base.val_every, "max_steps": base.max_steps},
            "save": {"save_every": base.save_every},
            "log": {"log_every": base.log_every},
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
        if "batch" not in errors:
            problem = batch_problem(base.batch, self._n_examples())
            if problem:
                errors["batch"] = problem[0].upper() + problem[1:]
        for n, line in enumerate(self.overrides_edit.toPlainText().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                TrainSettings(name="x", dataset_path="", overrides=[line]).validate()
            except ValidationError as err:
                errors["overrides"] = f"Line {n}: {err}"
                break
        return errors

    def _suggest_log_every(self) -> None:
        """Follow the default interval for this run's length until the user sets their own."""
        if self.log_every_spin.value() != self._log_suggested:
            self._log_suggested = 0
            return
        n = self._n_examples()
        bpe = batches_per_epoch(n, self.batch_spin.value()) if n else None
        self._log_suggested = default_log_every(self.max_steps_spin.value(), bpe)
        self.log_every_spin.blockSignals(True)
        self.log_every_spin.setValue(self._log_suggested)
        self.log_every_spin.blockSignals(False)

    def _changed(self) -> None:
        self._suggest_log_every()
        self._errors = self._check()
        for key, label in (
            ("name", self.name_error),
            ("steps", self.steps_error),
            ("batch", self.batch_error),
            ("val", self.val_error),
            ("save", self.save_error),
            ("log", self.log_error),
            ("device", self.device_error),
            ("workers", self.workers_error),
            ("ema", self.ema_error),
            ("overrides", self.overrides_error),
        ):
            label.set_error(self._errors.get(key))
        self._update_lr_note()
        self.val_note.set_error(self.validation_text())
        self.log_note.set_error(
            None
            if {"steps", "log"} & set(self._errors)
            else log_every_note(self.log_every(), self.max_steps_spin.value())
        )
        self.completeChanged.emit()

    def _n_examples(self) -> int | None:
        ds = self._wizard.dataset_page.dataset()
        return None if ds is None else ds.n_examples

    def validation_text(self) -> str | None:
        """When RAVE will really validate this run (None: unknown or not computable)."""
        n = self._n_examples()
        if n is None or {"steps", "val", "batch"} & set(self._errors):
            return None
        bpe = batches_per_epoch(n, self.batch_spin.value())
        return validation_note(self.val_every_spin.value(), self.max_steps_spin.value(), bpe)

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


__all__ = ["ParametersPage", "learning_rate_note"]
