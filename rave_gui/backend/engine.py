"""Engine: starts, queues, stops, pauses, resumes and imports RAVE training runs (no Qt)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from . import runner
from .errors import (
    InvalidTransitionError,
    NotFoundError,
    ProcessError,
    RaveGuiError,
    ValidationError,
)
from .follower import RunFollower, decide_outcome, find_checkpoints
from .logparse import Failure, LogParser, Outcome
from .manager import (
    COMPLETED,
    FAILED,
    FINAL_STATUSES,
    LIVE_STATUSES,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    STOPPING,
    TrainingManager,
    check_name,
)
from .procinfo import is_same_process, process_start_time
from .ravecmd import RaveInstall, TrainSettings, preflight, probe_rave, train_argv
from .settings import Settings
from .status import Action, require_action
from .tfevents import EventDirFollower

_RUN_FOLDER = re.compile(r"^(?P<name>.+)_(?P<hash>[0-9a-f]{10})$")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


class Engine:
    """Runs experiments recorded by a TrainingManager as real `rave train` processes.

    Each run gets its own folder ``<runs dir>/<id>-<name>/`` holding RAVE's output (its
    ``NAME_HASH/version_N`` folders), our ``train.log`` and the supervisor's status file.
    """

    def __init__(self, manager: TrainingManager, settings: Settings | None = None) -> None:
        self.manager = manager
        self.settings = settings or Settings()

    def install(self) -> RaveInstall:
        return probe_rave(self.settings.resolved_rave())

    # --- starting ------------------------------------------------------------------------------
    def submit(self, config: dict[str, Any], *, start: bool = True) -> int:
        """Check a training config, record it as a queued experiment and start it when a slot
        is free. Raises PreflightError / ValidationError with every problem found."""
        config = dict(config)
        name = check_name(config.get("name"), "experiment")
        if config.get("dataset_id") is not None and not config.get("dataset_path"):
            config["dataset_path"] = self.manager.get_dataset(int(config["dataset_id"]))["path"]
        settings = TrainSettings.from_config(config, name=name)
        install = self.install()
        project_id = config.get("project_id")
        project_id = self.manager.default_project_id() if project_id is None else int(project_id)
        clash = self.manager.list_experiments(project_id, search=None)
        if any(e["name"] == name for e in clash):
            raise ValidationError(f"An experiment named {name!r} already exists in this project.")
        settings.out_path = settings.out_path or str(self.settings.resolved_runs_dir())
        # absolute paths: the run's working directory is its own folder
        settings.out_path = str(Path(settings.out_path).expanduser().resolve())
        settings.dataset_path = str(Path(settings.dataset_path).expanduser().resolve())
        preflight(settings, install)  # raises before anything is recorded
        stored = {**config, **settings.to_config(), "project_id": project_id}
        exp_id = self.manager.start_training(stored)
        run_dir = Path(settings.out_path) / f"{exp_id}-{_safe(name)}"
        self.manager.update_experiment(exp_id, run_dir=str(run_dir))
        if start:
            self.schedule()
        return exp_id

    def live_count(self) -> int:
        return self.manager.count_experiments(list(LIVE_STATUSES))

    def schedule(self) -> list[int]:
        """Start queued experiments (oldest first) while fewer than the allowed number run."""
        started = []
        free = self.settings.max_concurrent_runs - self.live_count()
        if free <= 0:
            return started
        queued = self.manager.list_experiments(status=QUEUED)
        for exp in sorted(queued, key=lambda e: (e["created_at"], e["id"]))[:free]:
            try:
                self.launch(exp["id"])
                started.append(exp["id"])
            except RaveGuiError as err:
                if self.manager.get_experiment(exp["id"])["status"] == QUEUED:  # not cancelled
                    self.manager.update_experiment_status(exp["id"], FAILED, error=str(err))
        return started

    def launch(self, experiment_id: int) -> runner.Launched:
        """Start a queued experiment now (pre-flight checked again: things change)."""
        exp = self.manager.get_experiment(experiment_id)
        if exp["status"] != QUEUED:
            raise ValidationError(f"Experiment {exp['name']!r} is {exp['status']}, not queued.")
        settings = TrainSettings.from_config(exp["config"], name=exp["name"])
        run_dir = Path(exp["run_dir"] or Path(settings.out_path) / f"{exp['id']}-{exp['name']}")
        settings.out_path = str(run_dir)
        install = self.install()
        preflight(settings, install)
        argv = train_argv(settings, install, use_launcher=self.settings.use_launcher)
        # RAVE looks a --config name up in the working directory first: run in the run folder.
        launched = runner.launch(argv, run_dir, cwd=run_dir)
        self.manager.update_experiment(
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
    def _live(self, experiment_id: int, action: Action) -> dict[str, Any]:
        exp = self.manager.get_experiment(experiment_id)
        require_action(exp, action)
        if not is_same_process(exp["pid"], exp["process_start_time"]):
            raise ProcessError(f"The process of {exp['name']!r} is no longer running.")
        return exp

    def request_stop(self, experiment_id: int) -> str:
        """Ask a run to stop (SIGINT to its group) and mark it stopping; a queued run is
        cancelled. Returns the new status. Followers escalate and record the outcome."""
        return self.manager.stop_training(experiment_id)

    def stop(
        self,
        experiment_id: int,
        *,
        interrupt_timeout: float = 60.0,
        term_timeout: float = 15.0,
    ) -> str:
        """Stop a run and wait until nothing of its process group is left (SIGINT, then
        SIGTERM, then SIGKILL), then record the outcome. Returns the final status."""
        exp = self.manager.get_experiment(experiment_id)
        if exp["status"] == QUEUED:
            return self.manager.stop_training(experiment_id)
        if exp["status"] in FINAL_STATUSES:
            return exp["status"]
        if exp["status"] != STOPPING:
            self.manager.update_experiment_status(experiment_id, STOPPING)
        if is_same_process(exp["pid"], exp["process_start_time"]):
            runner.stop_group(
                exp["pid"], interrupt_timeout=interrupt_timeout, term_timeout=term_timeout
            )
        return self.finish(experiment_id)

    def finish(self, experiment_id: int, timeout: float = 30.0) -> str:
        """Follow an ended (or ending) run to its end and return its recorded status."""
        follower = RunFollower(self.manager, experiment_id)
        deadline = time.monotonic() + timeout
        while not follower.poll().finished:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return self.manager.get_experiment(experiment_id)["status"]

    def pause(self, experiment_id: int) -> None:
        exp = self._live(experiment_id, Action.PAUSE)
        runner.pause(exp["pid"])
        self.manager.update_experiment_status(experiment_id, PAUSED)

    def resume(self, experiment_id: int) -> None:
        exp = self._live(experiment_id, Action.RESUME)
        runner.resume(exp["pid"])
        self.manager.update_experiment_status(experiment_id, RUNNING)

    def resume_from_checkpoint(
        self, experiment_id: int, name: str | None = None, *, start: bool = True
    ) -> int:
        """A new experiment, linked to ``experiment_id``, that continues from its last
        checkpoint. RAVE deletes the checkpoint it resumes from, so it resumes from a copy:
        the original run keeps all its files."""
        exp = self.manager.get_experiment(experiment_id)
        require_action(exp, Action.RESUME_FROM_CHECKPOINT)  # the checkpoint is looked for below
        run_dir = Path(exp["run_dir"]) if exp["run_dir"] else None
        ckpts = sorted(
            (c for c in find_checkpoints(run_dir) if not c["is_best"]) if run_dir else [],
            key=lambda c: c["mtime"],
        )
        if not ckpts:
            ckpts = sorted(find_checkpoints(run_dir) if run_dir else [], key=lambda c: c["mtime"])
        if not ckpts:
            raise NotFoundError(f"Experiment {exp['name']!r} has no checkpoint to resume from.")
        newest = Path(ckpts[-1]["path"])
        rave_folder = _rave_run_folder(newest)
        new_name = name or _next_name(self.manager, exp)
        config = {k: v for k, v in exp["config"].items()}
        config.update(name=new_name, project_id=exp["project_id"], parent_id=experiment_id)
        config["dataset_id"] = exp["dataset_id"]
        config["out_path"] = str(run_dir.parent) if run_dir else ""
        new_id = self.submit({**config, "ckpt": None}, start=False)
        new_exp = self.manager.get_experiment(new_id)
        copy_dir = Path(new_exp["run_dir"]) / "resume-from" / rave_folder.name
        try:
            (copy_dir / "version_0" / "checkpoints").mkdir(parents=True, exist_ok=True)
            gin = rave_folder / "config.gin"
            if gin.exists():
                shutil.copy2(gin, copy_dir / "config.gin")
            shutil.copy2(newest, copy_dir / "version_0" / "checkpoints" / newest.name)
        except OSError as err:
            self.manager.update_experiment_status(new_id, STOPPED, error=str(err))
            raise ProcessError(f"Cannot copy the checkpoint to resume from: {err}") from err
        new_config = dict(new_exp["config"], ckpt=str(copy_dir), resumed_from=str(newest))
        self.manager.update_experiment(new_id, config=new_config)
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
        return import_run(self.manager, folder, project_id=project_id, name=name)


def _rave_run_folder(ckpt: Path) -> Path:
    # .../NAME_HASH/version_N/checkpoints/x.ckpt
    for parent in ckpt.parents:
        if parent.name.startswith("version_"):
            return parent.parent
    return ckpt.parent


def _next_name(manager: TrainingManager, exp: dict[str, Any]) -> str:
    names = {e["name"] for e in manager.list_experiments(exp["project_id"])}
    base = re.sub(r"-resume\d*$", "", exp["name"])
    for i in range(1, 1000):
        candidate = f"{base}-resume{'' if i == 1 else i}"
        if candidate not in names:
            return candidate
    raise ValidationError("Too many resumed runs of this experiment: choose a name.")


def _find_rave_process(folder: Path) -> tuple[int, float] | None:
    """A live `rave train` process writing into ``folder`` (its pid and start time)."""
    import psutil

    name = _RUN_FOLDER.match(folder.name)
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info.get("cmdline") or []
        if "train" not in cmd or not any("rave" in c for c in cmd[:3]):
            continue
        joined = " ".join(cmd)
        if name and f"--name {name.group('name')}" in joined and str(folder.parent) in joined:
            start = process_start_time(p.info["pid"])
            if start is not None:
                return p.info["pid"], start
    return None


def import_run(
    manager: TrainingManager,
    folder: str | os.PathLike[str],
    *,
    project_id: int | None = None,
    name: str | None = None,
) -> int:
    src = Path(folder).expanduser()
    if not src.is_dir():
        raise NotFoundError(f"{src} is not a folder.")
    versions = sorted(src.glob("version_*"))
    events = list(src.rglob("events.out.tfevents.*"))
    if not versions and not events:
        raise ValidationError(
            f"{src} does not look like a RAVE run folder (no version_N/ and no TensorBoard "
            "event files). Choose the NAME_HASH folder that `rave train` wrote."
        )
    m = _RUN_FOLDER.match(src.name)
    base_name = name or (m.group("name") if m else src.name)
    project_id = manager.default_project_id() if project_id is None else project_id
    taken = {e["name"] for e in manager.list_experiments(project_id)}
    final_name, i = base_name, 2
    while name is None and final_name in taken:
        final_name, i = f"{base_name}-{i}", i + 1
    config: dict[str, Any] = {
        "name": final_name,
        "project_id": project_id,
        "imported_from": str(src),
    }
    hparams: dict[str, Any] = {}
    for hp in src.glob("version_*/hparams.yaml"):
        try:
            data = yaml.safe_load(hp.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                hparams.update(data)
        except (OSError, yaml.YAMLError):
            pass
    if hparams:
        config["hparams"] = {k: v for k, v in hparams.items() if isinstance(v, int | float | str)}
    gin = src / "config.gin"
    if gin.exists():
        config["gin_config_file"] = str(gin)
    events_follower = EventDirFollower(src)
    points = events_follower.poll()
    walls = [p.wall_time for p in points]
    started = min(walls) if walls else None
    ended = max(walls) if walls else None
    max_step = max((p.step for p in points), default=None)
    ckpts = find_checkpoints(src)
    proc = _find_rave_process(src)
    log_candidates = [p for p in (src / "train.log", src.parent / "train.log") if p.exists()]
    if proc:
        status = RUNNING
    else:
        completed = interrupted = False
        failure = None
        for log in log_candidates + sorted(src.glob("*.std*")):
            parser = LogParser()
            with open(log, "rb") as f:
                events_ = parser.feed(f.read()) + parser.flush()
            for ev in events_:
                if isinstance(ev, Outcome):
                    completed |= ev.kind == "completed"
                    interrupted |= ev.kind == "interrupted"
                elif isinstance(ev, Failure):
                    failure = ev.reason
        if log_candidates or completed or interrupted or failure:
            status, error = decide_outcome(
                exit_code=None if not (completed or interrupted) else 0,
                stop_requested=False,
                signals=[],
                completed_marker=completed,
                interrupted_marker=interrupted,
                failure=failure,
                last_error=None,
            )
        else:
            status = COMPLETED if ckpts else STOPPED
            error = None
        config["outcome_source"] = "log" if log_candidates else "files"
    fields: dict[str, Any] = {"run_dir": str(src)}
    if proc:
        fields.update(pid=proc[0], process_start_time=proc[1])
    elif status == FAILED and error:
        fields["error"] = error
    exp_id = manager.import_experiment(
        config,
        status=status,
        started_at=started,
        completed_at=None if status == RUNNING else ended,
        **fields,
    )
    by_tag: dict[str, tuple[list, list, list]] = {}
    for p in points:
        s, v, w = by_tag.setdefault(p.tag, ([], [], []))
        s.append(p.step)
        v.append(p.value)
        w.append(p.wall_time)
    manager.add_metric_series(exp_id, by_tag)
    manager.set_offsets(exp_id, events_follower.offsets)
    manager.build_tiles(exp_id)
    for c in ckpts:
        c["step"] = manager.step_at_time(exp_id, c["mtime"])
    manager.sync_checkpoints(exp_id, ckpts)
    if max_step is not None:
        summary = manager.get_experiment(exp_id)["metrics"]
        summary["step"] = max_step
        manager.set_summary(exp_id, summary)
    return exp_id


__all__ = ["Engine", "import_run"]
