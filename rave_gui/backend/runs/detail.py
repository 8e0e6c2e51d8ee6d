"""The detail of one run: what it is, what it reached, its configuration and its files.

``run_detail`` gathers, for any run (live, finished, failed, imported), its information (name,
project, dataset and its facts, configuration, every parameter and gin override, the command,
folder, times, exit code, error and diagnosis, resume links), its statistics (steps reached,
best ``validation`` and its step, final value of each loss term, mean speed, time in each
training phase, checkpoints on disk), its own ``config.gin``, checkpoints, exported models,
alerts, notes and tags. It reads the summary and a few single points, never every point.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RaveGuiError
from ..rave.command import TrainSettings, first_phase_steps, run_config_gin
from ..rave.diagnose import diagnose_run
from ..status import RunStatus
from ..store.records import Experiment

if TYPE_CHECKING:
    from ..manager import TrainingManager

MAX_GIN_BYTES = 2_000_000  # a config.gin larger than this is not read whole


@dataclass
class RunDetail:
    """Everything the detail view and ``runs show --json`` show of a run."""

    info: dict[str, Any]
    statistics: dict[str, Any]
    parameters: list[tuple[str, Any]]  # every setting the run was started with, in order
    overrides: list[str]  # the gin overrides
    config_gin: str | None  # the run's own config.gin (None: not written / not found)
    config_gin_path: str | None
    checkpoints: list[dict[str, Any]]
    exported_models: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    notes: str = ""
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["parameters"] = {k: v for k, v in self.parameters}
        return data


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def diagnosis(exp: Experiment) -> dict[str, str] | None:
    """A failed run's diagnosis (kind, title, advice, evidence), from its log and error."""
    if exp.status != RunStatus.FAILED:
        return None
    found = diagnose_run(exp.log_path, exp.error)
    return found.to_dict() if found else None


def parameters(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """The settings a run was started with: the training settings in their order, then the
    imported run's hyper-parameters (``hparams.<name>``), then anything else stored."""
    out: list[tuple[str, Any]] = []
    known = list(TrainSettings.__dataclass_fields__)
    for key in known:
        if key in config and key not in ("name", "overrides"):
            out.append((key, config[key]))
    hparams = config.get("hparams")
    if isinstance(hparams, dict):
        out += [(f"hparams.{k}", v) for k, v in sorted(hparams.items())]
    skip = {*known, "hparams", "overrides", "project_id", "dataset_id", "parent_id"}
    out += [(k, v) for k, v in sorted(config.items()) if k not in skip]
    return out


def gin_file(exp: Experiment) -> Path | None:
    """The run's own config.gin: in its folder, or the file an imported run named."""
    found = run_config_gin(exp.run_dir)
    if found is None and isinstance(exp.config.get("gin_config_file"), str):
        p = Path(exp.config["gin_config_file"])
        found = p if p.is_file() else None
    return found


def read_gin(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_GIN_BYTES)
    except OSError:
        return None


def folder_size(path: str | os.PathLike[str] | None) -> int:
    """Bytes of the files under ``path`` (0 when it is missing); links are not followed."""
    if not path:
        return 0
    total = 0
    root = Path(path)
    if root.is_symlink() or not root.exists():
        return 0
    if root.is_file():
        return root.stat().st_size
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_size
    return total


NOT_RECORDED_IMPORTED = "not recorded (an imported run: RAVE's run folder does not say)"


def _statistics(manager: TrainingManager, exp: Experiment, phase_1: int | None) -> dict[str, Any]:
    summary = exp.summary
    metrics: dict[str, dict[str, Any]] = summary.get("metrics") or {}
    val = metrics.get("validation") or {}
    stats = manager.metrics.stats(exp.id)
    # mean speed: steps between the first and the last point of the longest series
    speed = None
    first_wall = last_wall = None
    longest = max(stats, key=lambda s: s.count, default=None)
    if longest is not None and longest.last_step > longest.first_step:
        first_wall = manager.history.wall_time_at(exp.id, longest.name, longest.first_step)
        last_wall = manager.history.wall_time_at(exp.id, longest.name, longest.last_step)
        if first_wall is not None and last_wall is not None and last_wall > first_wall:
            speed = (longest.last_step - longest.first_step) / (last_wall - first_wall)
    start = exp.started_at if exp.started_at is not None else first_wall
    end = exp.completed_at if exp.completed_at is not None else last_wall
    phases: dict[str, float] = {}
    if start is not None and end is not None and end >= start:
        change = None
        steps = summary.get("step")
        if phase_1 is not None and longest is not None and steps is not None and steps > phase_1:
            change = manager.history.wall_time_at(exp.id, longest.name, phase_1)
        if change is not None and start <= change <= end:
            phases = {
                "phase 1 (representation)": change - start,
                "phase 2 (adversarial)": end - change,
            }
        else:
            phases = {"phase 1 (representation)" if phase_1 else "training": end - start}
    ckpts = manager.artifacts.checkpoints(exp.id)
    on_disk = [c for c in ckpts if os.path.isfile(c.path)]
    return {
        "steps": summary.get("step"),
        "best_validation": _finite(val.get("min")),
        "best_validation_step": val.get("min_step")
        if _finite(val.get("min")) is not None
        else None,
        "final": {
            name: m.get("last") for name, m in sorted(metrics.items()) if name != "validation"
        },
        "final_validation": _finite(val.get("last")),
        "mean_speed": speed,
        "phase_1_steps": phase_1,
        "phase_seconds": phases,
        "checkpoints": len(ckpts),
        "checkpoints_on_disk": len(on_disk),
        "checkpoint_bytes": sum(os.path.getsize(c.path) for c in on_disk),
    }


def run_detail(manager: TrainingManager, experiment_id: int) -> RunDetail:
    """The detail of a run (NotFoundError for an unknown id)."""
    exp = manager.get_experiment(experiment_id)
    cfg = exp.config
    dataset: dict[str, Any] | None = None
    if exp.dataset_id is not None:
        try:
            ds = manager.datasets.get(exp.dataset_id)
            dataset = ds.to_json()
        except RaveGuiError:
            dataset = None
    if dataset is None and cfg.get("dataset_path"):
        dataset = {"name": None, "path": cfg["dataset_path"]}
    raw_configs = cfg.get("configs")
    configs: list[Any] = raw_configs if isinstance(raw_configs, list) else []
    overrides = [str(o) for o in cfg.get("overrides") or []]
    gin_path = gin_file(exp)
    phase_1 = first_phase_steps([str(gin_path)], overrides) if gin_path else None
    parent = None
    if exp.parent_id is not None:
        try:
            p = manager.get_experiment(exp.parent_id)
            parent = {"id": p.id, "name": p.name}
        except RaveGuiError:
            parent = None
    children = [{"id": i, "name": n} for i, n in manager.history.resumed_by(exp.id)]
    end = exp.completed_at
    info = {
        "id": exp.id,
        "name": exp.name,
        "project": exp.project_name,
        "status": exp.status,
        "dataset": dataset,
        "base_config": configs[0] if configs else None,
        "modifiers": configs[1:],
        "command": exp.command,
        "run_dir": exp.run_dir,
        "log_path": exp.log_path,
        "created_at": exp.created_at,
        "started_at": exp.started_at,
        "ended_at": end,
        "duration": None
        if exp.started_at is None or end is None
        else max(0.0, end - exp.started_at),
        "exit_code": exp.exit_code,
        "error": exp.error,
        "diagnosis": diagnosis(exp),
        "resumed_from": parent,
        "resumed_by": children,
        "imported_from": cfg.get("imported_from"),
        # what a missing dataset or command means: an imported run's folder does not say
        "not_recorded": NOT_RECORDED_IMPORTED if cfg.get("imported_from") else None,
        "archived": exp.archived,
    }
    return RunDetail(
        info=info,
        statistics=_statistics(manager, exp, phase_1),
        parameters=parameters(cfg),
        overrides=overrides,
        config_gin=read_gin(gin_path),
        config_gin_path=None if gin_path is None else str(gin_path),
        checkpoints=[c.to_json() for c in manager.artifacts.checkpoints(exp.id)],
        exported_models=[m.to_json() for m in manager.artifacts.exported_models(exp.id)],
        alerts=[a.to_json() for a in manager.alerts.for_run(exp.id)],
        notes=exp.notes,
        tags=manager.history.tags(exp.id),
    )


__all__ = ["RunDetail", "diagnosis", "folder_size", "parameters", "run_detail"]
