"""NewTrainingWizard: dataset, RAVE configuration, parameters, confirmation, then start."""

from __future__ import annotations

import shlex
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QWidget, QWizard

from ...backend.errors import RaveGuiError
from ...backend.manager import TrainingManager
from ...backend.rave.command import RaveInstall, TrainSettings, train_argv
from ...backend.rave.log_interval import log_every_env
from ...backend.rave.runfolder import folder_preview
from ...backend.system.choices import remember_choices, save_choices
from ...core.worker import BackgroundTask
from .config_page import ConfigPage
from .confirm_page import ConfirmPage
from .dataset_page import DatasetPage
from .params_page import ParametersPage
from .where_page import WherePage


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
        self.repeated_from: int | None = None  # the run whose settings prefilled it
        self.submit_task: BackgroundTask | None = None  # a run being started on a target
        self.setWindowTitle("New training")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Start training")
        self.dataset_page = DatasetPage(self)
        self.config_page = ConfigPage(self)
        self.params_page = ParametersPage(self)
        self.where_page = WherePage(self)
        self.confirm_page = ConfirmPage(self)
        pages = (self.dataset_page, self.config_page, self.params_page, self.where_page)
        for page in pages:
            self.addPage(page)
        self.confirm_id = self.addPage(self.confirm_page)
        self.resize(860, 680)

    def prefill(self, experiment_id: int) -> None:
        """Start from the settings of run ``experiment_id`` ("Run again")."""
        from .prefill import prefill

        prefill(self, self.manager.get_experiment(experiment_id))

    def nextId(self) -> int:
        """The Where page only when there is somewhere else to go (a target)."""
        if self.currentPage() is self.params_page and not self.where_page.has_targets():
            return self.confirm_id
        return super().nextId()

    def train_settings(self, for_command: bool = False) -> TrainSettings:
        """The settings chosen so far (channels from the dataset, as pre-flight fills them)."""
        p = self.params_page
        ds = self.dataset_page.dataset()
        try:
            ema = p.ema()
        except ValueError:
            ema = None
        s = TrainSettings(
            name=p.name_edit.text().strip(),
            dataset_path=ds.path if ds is not None else "",
            out_path=str(self.controller.settings.resolved_runs_dir()),
            configs=self.config_page.configs(),
            overrides=p.overrides(),
            max_steps=p.max_steps_spin.value(),
            val_every=p.val_every_spin.value(),
            save_every=p.save_every(),
            batch=p.batch_spin.value(),
            channels=ds.channels if ds is not None else None,
            gpu=p.gpu(),
            workers=p.workers_spin.value(),
            ema=ema,
            log_every=p.log_every(),
        )
        if for_command:
            s.out_path = self.run_folder(s)
        return s

    def run_folder(self, s: TrainSettings) -> str:
        """Where the run will write, as the engine names it once the run is recorded:
        ``<runs dir>/<id>-<name>-<random>`` (the id and random part are not known yet)."""
        return folder_preview(self.controller.settings.resolved_runs_dir(), s.name)

    def command_line(self) -> str:
        if self.where_page.target() is not None:  # what runs there
            return self.where_page.preview(self.train_settings())
        if self.install is None:
            return ""
        s = self.train_settings(for_command=True)
        launcher = self.controller.settings.use_launcher
        argv = train_argv(s, self.install, use_launcher=launcher)
        env = log_every_env(s.log_every) if launcher else {}
        return " ".join([*(f"{k}={v}" for k, v in env.items()), shlex.join(argv)])

    def config(self) -> dict[str, Any]:
        """What ``controller.start_training`` receives."""
        config = self.train_settings().to_config()
        config["project_id"] = self.project_id
        config["dataset_id"] = self.dataset_page.dataset_id()
        target = self.where_page.target()
        if target is not None:  # the dataset is a folder on the target
            config.update(target=target.name, dataset_id=None,
                          dataset_path=self.where_page.dataset_edit.text().strip())  # fmt: skip
        return config

    def start(self) -> bool:
        """Start the run (a local run at once); a run on a target is submitted in the
        background, the confirmation page saying so, and the wizard closes when it started."""
        config = self.config()
        if config.get("target"):
            self._start_remote(config)
            return False
        try:
            self.experiment_id = self.controller.start_training(self.config())
        except RaveGuiError as err:
            self.confirm_page.error_label.set_error(f"The run was not started:\n{err}".rstrip())
            return False
        self.remember()
        self.training_started.emit(self.experiment_id)
        return True

    def _start_remote(self, config: dict[str, Any]) -> None:
        if self.submit_task is not None:
            return
        page = self.confirm_page
        page.error_label.set_error(None)
        page.progress_label.setText(
            f"Starting on {config['target']}… (connecting, checking RAVE and the dataset there, "
            "submitting)"
        )
        page.progress_label.show()
        self._set_busy(True)
        self.submit_task = self.controller.start_training_in_background(config)
        self.submit_task.succeeded.connect(self._remote_started)
        self.submit_task.failed.connect(self._remote_failed)

    def _set_busy(self, busy: bool) -> None:
        for which in (QWizard.WizardButton.FinishButton, QWizard.WizardButton.BackButton):
            button = self.button(which)
            if button is not None:
                button.setEnabled(not busy)

    def _remote_started(self, exp_id: int) -> None:
        self.submit_task = None
        self._set_busy(False)
        self.confirm_page.progress_label.hide()
        self.experiment_id = exp_id
        self.remember()
        self.training_started.emit(exp_id)
        self.accept()

    def _remote_failed(self, err: Exception) -> None:
        self.submit_task = None
        self._set_busy(False)
        self.confirm_page.progress_label.hide()
        self.confirm_page.error_label.set_error(f"The run was not started:\n{err}".rstrip())

    def remember(self) -> None:
        """The choices of this run prefill the next one (in the saved settings and this
        session's); a settings file that cannot be written only loses the memory."""
        s = self.train_settings()
        try:
            save_choices(s)
        except (RaveGuiError, OSError):
            pass
        self.controller.set_settings(remember_choices(self.controller.settings, s))


__all__ = ["NewTrainingWizard"]
