"""Engine: starts, queues, stops, pauses, resumes and imports RAVE training runs (no Qt)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import (
    InvalidTransitionError,
    ProcessError,
    RaveGuiError,
    ValidationError,
)
from ..manager import TrainingManager
from ..process import runner
from ..process.locks import exclusive, lock_path
from ..process.procinfo import is_same_process, signal_group
from ..rave.command import RaveInstall, TrainSettings, preflight, probe_rave, train_argv
from ..rave.log_interval import log_every_env
from ..rave.runfolder import UID_KEY, create_run_folder
from ..status import (
    FAILED,
    FINAL,
    LIVE,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    STOPPING,
    Action,
    require_action,
)
from ..store.names import check_name
from ..store.records import Experiment
from ..system.settings import Settings, overrides_of
from .followers import TARGET_KEY, is_remote
from .health import thresholds_from
from .importing import import_run
from .reconcile import follow_to_end
from .resume import check_resume_max_steps, resume_point

_RUN_FOLDER = re.compile(r"^(?P<name>.+)_(?P<hash>[0-9a-f]{10})$")
SCHEDULE_WAIT_S = 30.0  # how long schedule() waits while another process schedules
FINISH_WAIT_S = 300.0  # how long a run's on-exit hook follows the run to its recorded end


class Engine:
    """Runs experiments recorded by a TrainingManager as real `rave train` processes.

    Each run gets a folder of its own, never reused (``<runs dir>/<id>-<name>-<random>/``, see
    runfolder), holding its identity file, RAVE's output (its ``NAME_HASH/version_N``
    folders), our ``train.log`` and the supervisor's status file.

    Nothing needs a window: when a run's process exits, its supervisor starts
    ``rave-gui runs finish ID`` (:meth:`on_exit_argv`), which records the run's end and starts
    the queued runs that now have a slot (:meth:`finish_and_schedule`).
    """

    def __init__(self, manager: TrainingManager, settings: Settings | None = None) -> None:
        self.manager = manager
        self.settings = settings or Settings()

    def install(self) -> RaveInstall:
        return probe_rave(self.settings.resolved_rave())

    # --- starting ------------------------------------------------------------------------------
    def submit(self, config: dict[str, Any], *, start: bool = True) -> int:
        """Check a training config, record it as a queued experiment and start it when a slot
        is free. Raises PreflightError / ValidationError with every problem found. A config
        naming a ``target`` is checked and started there at once (see remote.runs)."""
        if config.get(TARGET_KEY):
            from ..remote.runs import submit as submit_remote

            runs_dir = config.get("out_path") or self.settings.resolved_runs_dir()
            return submit_remote(self.manager, config, str(config[TARGET_KEY]), runs_dir)
        stored, settings = self.prepare(config)
        exp_id = self.manager.start_training(stored)
        try:
            new_run_folder(self.manager, exp_id, settings.out_path)
        except RaveGuiError:
            self.manager.experiments.delete(exp_id)  # nothing is recorded for a run that cannot be
            raise
        if start:
            self.schedule()
        return exp_id

    def prepare(self, config: dict[str, Any]) -> tuple[dict[str, Any], TrainSettings]:
        """Check a training config as :meth:`submit` does (pre-flight included) and record
        nothing: the config as it would be stored, and its settings (absolute paths)."""
        config = dict(config)
        config.pop(UID_KEY, None)  # a new run gets a folder (and uid) of its own
        name = check_name(config.get("name"), "experiment")
        if config.get("dataset_id") is not None and not config.get("dataset_path"):
            config["dataset_path"] = self.manager.datasets.get(int(config["dataset_id"])).path
        settings = TrainSettings.from_config(config, name=name)
        install = self.install()
        project_id = config.get("project_id")
        project_id = self.manager.projects.default_id() if project_id is None else int(project_id)
        clash = self.manager.list_experiments(project_id, search=None)
        if any(e.name == name for e in clash):
            raise ValidationError(f"An experiment named {name!r} already exists in this project.")
        settings.out_path = settings.out_path or str(self.settings.resolved_runs_dir())
        # absolute paths: the run's working directory is its own folder
        settings.out_path = str(Path(settings.out_path).expanduser().resolve())
        settings.dataset_path = str(Path(settings.dataset_path).expanduser().resolve())
        preflight(settings, install)  # raises before anything is recorded
        return {**config, **settings.to_config(), "project_id": project_id}, settings

    def live_count(self) -> int:
        """Runs live on this machine: what ``max_concurrent_runs`` limits (a run on a target
        uses the target's GPUs, and its queue is the target's)."""
        live = self.manager.list_experiments(status=list(LIVE))
        return sum(1 for e in live if not e.config.get(TARGET_KEY))

    def schedule(self, wait: float = SCHEDULE_WAIT_S) -> list[int]:
        """Start queued experiments (oldest first) while fewer than the allowed number run.
        One process schedules at a time (the app, the CLI, on-exit hooks of runs ending
        together): the others wait for it up to ``wait`` seconds, then start nothing."""
        started: list[int] = []
        with exclusive(lock_path(self.manager.db.path, "schedule"), wait) as held:
            if not held:
                return started
            free = self.settings.max_concurrent_runs - self.live_count()
            if free <= 0:
                return started
            queued = self.manager.list_experiments(status=QUEUED)
            queued = [e for e in queued if not e.config.get(TARGET_KEY)]  # being sent there
            for exp in sorted(queued, key=lambda e: (e.created_at, e.id))[:free]:
                try:
                    self.launch(exp.id)
                    started.append(exp.id)
                except RaveGuiError as err:
                    if self.manager.get_experiment(exp.id).status == QUEUED:  # not cancelled
                        self.manager.update_experiment_status(exp.id, FAILED, error=str(err))
        return started

    def on_exit_argv(self, experiment_id: int) -> list[str]:
        """What a run's supervisor runs when the run's process exited: record the end, start
        queued runs. The settings are the saved ones plus this engine's differences."""
        argv = [
            sys.executable, "-m", "rave_gui", "runs", "finish", str(experiment_id),
            "--db", str(self.manager.db.path.absolute()),
        ]  # fmt: skip
        overrides = overrides_of(self.settings)
        if overrides:
            argv += ["--settings", json.dumps(overrides)]
        return argv

    def finish_and_schedule(self, experiment_id: int) -> tuple[str, list[int]]:
        """Follow a run whose process exited to its recorded end, then start queued runs.
        Returns the run's status and the runs started."""
        status = self.finish(experiment_id, timeout=FINISH_WAIT_S)
        return status, self.schedule()

    def launch(self, experiment_id: int) -> runner.Launched:
        """Start a queued experiment now (pre-flight checked again: things change)."""
        exp = self.manager.get_experiment(experiment_id)
        if exp.status != QUEUED:
            raise ValidationError(f"Experiment {exp.name!r} is {exp.status}, not queued.")
        settings = TrainSettings.from_config(exp.config, name=exp.name)
        uid = exp.config.get(UID_KEY)
        if uid and exp.run_dir and Path(exp.run_dir).is_dir():
            run_dir = Path(exp.run_dir)  # its own folder, made when it was queued
        else:  # queued before run folders had identities, or its folder was removed: a new one
            runs_dir = settings.out_path or str(self.settings.resolved_runs_dir())
            run_dir, uid = new_run_folder(self.manager, experiment_id, runs_dir)
        settings.out_path = str(run_dir)
        install = self.install()
        preflight(settings, install)
        argv = train_argv(settings, install, use_launcher=self.settings.use_launcher)
        # RAVE looks a --config name up in the working directory first: run in the run folder.
        env = {**os.environ, **log_every_env(settings.log_every)} if settings.log_every else None
        launched = runner.launch(
            argv,
            run_dir,
            env=env,
            cwd=run_dir,
            run_uid=uid,
            on_exit=self.on_exit_argv(experiment_id),
        )
        self.manager.experiments.update(
            experiment_id,
            command=argv,
            run_dir=str(run_dir),
            log_path=str(launched.log_path),
            pid=launched.pid,
            process_start_time=launched.start_time,
        )
        try:
            self.manager.update_experiment_status(experiment_id, RUNNING)
        except InvalidTransitionError:  # cancelled while it was being started: undo the start
            runner.stop_group(launched.pid, interrupt_timeout=10.0, term_timeout=5.0)
            raise
        return launched

    # --- control -------------------------------------------------------------------------------
    def _live_pid(self, experiment_id: int, action: Action) -> int:
        """The pid of the run's live process, which ``action`` is taken on."""
        exp = self.manager.get_experiment(experiment_id)
        require_action(exp, action)
        if exp.pid is None or not is_same_process(exp.pid, exp.process_start_time):
            raise ProcessError(f"The process of {exp.name!r} is no longer running.")
        return exp.pid

    def _interrupt(self, exp: Experiment) -> bool:
        """SIGINT to a run's live process group (resumed first when paused), then the run is
        marked stopping. False, and nothing changed, when no process of the run is left."""
        pid = exp.pid
        if not (pid and is_same_process(pid, exp.process_start_time)):
            return False
        if exp.status == PAUSED:
            signal_group(pid, "SIGCONT")  # a paused group must run to handle the interrupt
        if not signal_group(pid, "SIGINT"):
            return False
        try:
            self.manager.update_experiment_status(exp.id, STOPPING)
        except InvalidTransitionError:
            pass  # a follower recorded the run's end in the meantime
        return True

    def request_stop(self, experiment_id: int, *, follow_ended: bool = True) -> str:
        """Ask a run to stop: a queued run is cancelled; a live process gets SIGINT and the run
        is marked stopping (followers escalate and record the outcome). A run whose process is
        already gone is followed to the end of its files and recorded with what happened
        (completed stays completed); with ``follow_ended=False`` it is left as it is, for the
        follower already following it to record. Returns the status after the request."""
        exp = self.manager.get_experiment(experiment_id)
        status = exp.status
        if status not in FINAL and is_remote(self.manager, experiment_id):
            return _remote().request_stop(self.manager, experiment_id)
        if status == QUEUED:
            self.manager.update_experiment_status(experiment_id, STOPPED)
            return STOPPED
        if status in FINAL:
            raise InvalidTransitionError(f"Experiment {exp.name!r} is already {status}.")
        if self._interrupt(exp) or not follow_ended:
            return self.manager.get_experiment(experiment_id).status
        return self.finish(experiment_id)

    def stop(
        self, experiment_id: int, *, interrupt_timeout: float = 60.0, term_timeout: float = 15.0
    ) -> str:
        """Stop a run and wait until nothing of its process group is left (SIGINT, then
        SIGTERM, then SIGKILL), then record the outcome. Returns the final status."""
        exp = self.manager.get_experiment(experiment_id)
        if exp.status == QUEUED:
            return self.request_stop(experiment_id)
        if exp.status in FINAL:
            return exp.status
        if is_remote(self.manager, experiment_id):
            return _remote().stop(self.manager, experiment_id, interrupt_timeout=interrupt_timeout)
        asked = exp.status == STOPPING and is_same_process(exp.pid, exp.process_start_time)
        if asked or self._interrupt(exp):  # interrupted (now or before): escalate if need be
            assert exp.pid is not None  # both mean its process is alive
            runner.stop_group(
                exp.pid,
                interrupt_timeout=interrupt_timeout,
                term_timeout=term_timeout,
                interrupted=True,
            )
        return self.finish(experiment_id)

    def finish(self, experiment_id: int, timeout: float = 30.0) -> str:
        """Follow an ended (or ending) run to the end of its files and record its outcome from
        them and its supervisor's status; returns the recorded status. While its process
        lives this waits up to ``timeout`` seconds; a run whose process is gone is read to the
        end however long that takes."""
        return follow_to_end(self.manager, experiment_id, timeout=timeout)

    def pause(self, experiment_id: int) -> None:
        if is_remote(self.manager, experiment_id):
            require_action(self.manager.get_experiment(experiment_id), Action.PAUSE)
            return _remote().pause(self.manager, experiment_id)
        runner.pause(self._live_pid(experiment_id, Action.PAUSE))
        self.manager.update_experiment_status(experiment_id, PAUSED)

    def resume(self, experiment_id: int) -> None:
        if is_remote(self.manager, experiment_id):
            require_action(self.manager.get_experiment(experiment_id), Action.RESUME)
            return _remote().resume(self.manager, experiment_id)
        runner.resume(self._live_pid(experiment_id, Action.RESUME))
        self.manager.update_experiment_status(experiment_id, RUNNING)

    def save_checkpoint_now(self, experiment_id: int) -> int:
        """A running run saves a checkpoint at its next batch (runs/savenow.py; on a target
        remote/control.py). Returns the pid signalled (0 on a target)."""
        if is_remote(self.manager, experiment_id):
            from ..remote.control import save_checkpoint_now as save_remote

            save_remote(self.manager, experiment_id)
            return 0
        from .savenow import request_checkpoint

        return request_checkpoint(self.manager, experiment_id)

    def resume_from_checkpoint(
        self,
        experiment_id: int,
        name: str | None = None,
        *,
        start: bool = True,
        dataset: str | os.PathLike[str] | None = None,
        checkpoint: str | None = None,
        max_steps: int | None = None,
    ) -> int:
        """A new experiment, linked to ``experiment_id``, that continues from ``checkpoint``
        (one of its checkpoint files; default: its latest) with ``max_steps`` (default: the
        run's own; more than the checkpoint's step). RAVE deletes the checkpoint it resumes
        from, so it resumes from a copy: the original run keeps all its files. ``dataset`` (a
        preprocessed dataset folder) replaces the run's own; a run imported from a folder
        records none and needs it."""
        exp = self.manager.get_experiment(experiment_id)
        require_action(exp, Action.RESUME_FROM_CHECKPOINT)  # the checkpoint is looked for below
        run_dir = Path(exp.run_dir) if exp.run_dir else None
        point = resume_point(self.manager, exp, checkpoint)
        if max_steps is not None:
            check_resume_max_steps(max_steps, point.step)
        if dataset is None and not (exp.config.get("dataset_path") or exp.dataset_path):
            raise ValidationError(
                f"Experiment {exp.name!r} does not record the dataset it trained on (a run "
                "imported from a folder does not): choose the preprocessed dataset to continue "
                f"with (on the command line: rave-gui runs resume-from {experiment_id} "
                "--dataset FOLDER)."
            )
        newest = Path(point.path)
        rave_folder = _rave_run_folder(newest)
        new_name = name or _next_name(self.manager, exp)
        config = dict(exp.config, name=new_name, project_id=exp.project_id)
        config.update(parent_id=experiment_id, dataset_id=exp.dataset_id)
        if dataset is not None:
            config.update(dataset_path=str(dataset), dataset_id=None)
        config["out_path"] = str(run_dir.parent) if run_dir else ""
        config["start_step"] = point.step
        if max_steps is not None:
            config["max_steps"] = max_steps
        if config.get(TARGET_KEY):  # a new job on the same target, from its copy made there
            from ..remote.resume import resume_config

            config.update(resume_config(self.manager, exp, newest, rave_folder))
            return self.submit(config, start=False)  # started there at once
        new_id = self.submit({**config, "ckpt": None}, start=False)
        new_exp = self.manager.get_experiment(new_id)
        assert new_exp.run_dir is not None  # submit made its folder
        copy_dir = Path(new_exp.run_dir) / "resume-from" / rave_folder.name
        try:
            (copy_dir / "version_0" / "checkpoints").mkdir(parents=True, exist_ok=True)
            gin = rave_folder / "config.gin"
            if gin.exists():
                shutil.copy2(gin, copy_dir / "config.gin")
            shutil.copy2(newest, copy_dir / "version_0" / "checkpoints" / newest.name)
        except OSError as err:
            self.manager.update_experiment_status(new_id, STOPPED, error=str(err))
            raise ProcessError(f"Cannot copy the checkpoint to resume from: {err}") from err
        new_config = dict(new_exp.config, ckpt=str(copy_dir), resumed_from=str(newest))
        self.manager.experiments.update(new_id, config=new_config)
        if start:
            self.schedule()
        return new_id

    # --- adopting runs started elsewhere --------------------------------------------------------
    def import_run(
        self,
        folder: str | os.PathLike[str],
        *,
        project_id: int | None = None,
        name: str | None = None,
    ) -> int:
        """Adopt a RAVE run folder (``NAME_HASH`` with ``version_N/``): its config, every
        scalar of its event files, its checkpoints and its outcome."""
        thresholds = thresholds_from(asdict(self.settings))
        return import_run(
            self.manager, folder, project_id=project_id, name=name, thresholds=thresholds
        )


def _remote() -> Any:
    """backend.remote.follow, imported when a run on a target needs it."""
    from ..remote import follow

    return follow


def new_run_folder(
    manager: TrainingManager, experiment_id: int, runs_dir: str | os.PathLike[str]
) -> tuple[Path, str]:
    """Create a fresh folder for an experiment in ``runs_dir`` and record it, with its run
    uid, as the experiment's run folder. Returns the folder and the uid."""
    exp = manager.get_experiment(experiment_id)
    run_dir, uid = create_run_folder(runs_dir, experiment_id, exp.name, database=manager.db.path)
    manager.experiments.update(
        experiment_id, run_dir=str(run_dir), config={**exp.config, UID_KEY: uid}
    )
    return run_dir, uid


def _rave_run_folder(ckpt: Path) -> Path:
    # .../NAME_HASH/version_N/checkpoints/x.ckpt
    for parent in ckpt.parents:
        if parent.name.startswith("version_"):
            return parent.parent
    return ckpt.parent


def _next_name(manager: TrainingManager, exp: Experiment) -> str:
    names = {e.name for e in manager.list_experiments(exp.project_id)}
    base = re.sub(r"-resume\d*$", "", exp.name)
    for i in range(1, 1000):
        candidate = f"{base}-resume{'' if i == 1 else i}"
        if candidate not in names:
            return candidate
    raise ValidationError("Too many resumed runs of this experiment: choose a name.")


__all__ = ["Engine", "import_run", "new_run_folder"]
