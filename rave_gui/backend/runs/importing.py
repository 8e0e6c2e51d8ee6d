"""Adopting a RAVE run folder started elsewhere (``rave-gui runs import``): its config, every
scalar of its event files, its checkpoints and its outcome (no Qt)."""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from ..errors import (
    NotFoundError,
    ValidationError,
)
from ..manager import TrainingManager
from ..process.procinfo import process_start_time
from ..rave.logparse import Failure, LogParser, Outcome
from ..rave.runfolder import UID_KEY, read_identity
from ..rave.tfevents import EVENT_FILE_PREFIX, EventDirFollower
from ..status import (
    COMPLETED,
    FAILED,
    RUNNING,
    STOPPED,
)
from ..system.settings import load_settings
from .checkpoints import find_checkpoints
from .follower import DATA_LOST, HEALTH_KEY
from .health import HealthThresholds, evaluate_series, thresholds_from
from .outcome import decide_outcome

_RUN_FOLDER = re.compile(r"^(?P<name>.+)_(?P<hash>[0-9a-f]{10})$")
SCHEDULE_WAIT_S = 30.0  # how long schedule() waits while another process schedules
FINISH_WAIT_S = 300.0  # how long a run's on-exit hook follows the run to its recorded end


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


_VERSION_DIR = re.compile(r"version_\d+")


def _looks_like_run(src: Path) -> bool:
    """A RAVE run folder: version_N/ folders or event files in it or one level below.
    Only the folder and its direct subfolders are listed, never a whole tree (``/`` is refused
    at once)."""
    subdirs = []
    try:
        with os.scandir(src) as it:
            for entry in it:
                if entry.name.startswith(EVENT_FILE_PREFIX):
                    return True
                if entry.is_dir(follow_symlinks=False):
                    if _VERSION_DIR.fullmatch(entry.name):
                        return True
                    subdirs.append(entry.path)
    except OSError:
        return False
    for sub in subdirs:
        try:
            with os.scandir(sub) as it:
                for e in it:  # event files, or the NAME_HASH/version_N of a rave-gui run folder
                    if e.name.startswith(EVENT_FILE_PREFIX) or (
                        _VERSION_DIR.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
                    ):
                        return True
        except OSError:
            continue
    return False


def import_run(
    manager: TrainingManager,
    folder: str | os.PathLike[str],
    *,
    project_id: int | None = None,
    name: str | None = None,
    thresholds: HealthThresholds | None = None,
) -> int:
    """Adopt a run folder: all or nothing (one transaction: an import cut short, even by a
    kill, leaves no experiment behind). The health rules are evaluated over its whole series
    (``thresholds``: the settings' when None)."""
    if thresholds is None:
        thresholds = thresholds_from(asdict(load_settings()))
    src = Path(folder).expanduser()
    if not src.is_dir():
        raise NotFoundError(f"{src} is not a folder.")
    if not _looks_like_run(src):
        raise ValidationError(
            f"{src} does not look like a RAVE run folder (no version_N/ and no TensorBoard "
            "event files). Choose the NAME_HASH folder that `rave train` wrote."
        )
    m = _RUN_FOLDER.match(src.name)
    base_name = name or (m.group("name") if m else src.name)
    project_id = manager.projects.default_id() if project_id is None else project_id
    taken = {e.name for e in manager.list_experiments(project_id)}
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
    identity = read_identity(src)
    if identity and identity.get("run_uid"):  # a rave-gui run folder: adopt it as that run
        config[UID_KEY] = identity["run_uid"]
    events_follower = EventDirFollower(src)
    points = events_follower.poll()
    walls = [p.wall_time for p in points]
    started = min(walls) if walls else None
    ended = max(walls) if walls else None
    max_step = max((p.step for p in points), default=None)
    ckpts = find_checkpoints(src)
    proc = _find_rave_process(src)
    log_candidates = [p for p in (src / "train.log", src.parent / "train.log") if p.exists()]
    status: str
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
    losses = events_follower.take_losses(ended=not proc)  # damaged event files: say so
    by_tag: dict[str, tuple[list, list, list]] = {}
    for p in points:
        s, v, w = by_tag.setdefault(p.tag, ([], [], []))
        s.append(p.step)
        v.append(p.value)
        w.append(p.wall_time)
    with manager.db.transaction():  # all or nothing
        exp_id = manager.experiments.import_record(
            config,
            status=status,
            started_at=started,
            completed_at=None if status == RUNNING else ended,
            **fields,
        )
        manager.metrics.add_series(exp_id, by_tag)
        manager.follow_state.set_offsets(exp_id, events_follower.offsets)
        manager.metrics.build_tiles(exp_id)
        for c in ckpts:
            c["step"] = manager.metrics.step_at_time(exp_id, c["mtime"])
        manager.artifacts.sync_checkpoints(exp_id, ckpts)
        summary = manager.get_experiment(exp_id).summary
        if max_step is not None:
            summary["step"] = max_step
        health, summary[HEALTH_KEY] = evaluate_series(
            {tag: (s, v) for tag, (s, v, _w) in by_tag.items()}, thresholds
        )
        manager.experiments.set_summary(exp_id, summary)
        for a in health:
            manager.alerts.add(exp_id, a.kind, a.severity, a.message, a.step, advice=a.advice)
        for loss in losses:
            manager.alerts.add(exp_id, DATA_LOST, "warning", loss.describe(), loss.after_step)
    return exp_id


__all__ = ["import_run"]
