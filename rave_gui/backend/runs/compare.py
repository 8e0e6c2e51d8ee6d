"""Comparing 2 to 10 runs: their summaries side by side, what differs in their settings, their
metrics, the curves to overlay (reduced, with wall times) and TensorBoard's smoothing.

Pure Python (no Qt): the command line (`rave-gui runs compare`) and the Compare page share it.

The configuration of a run, as compared, is a flat mapping of keys such as ``parameter:batch``,
``modifiers``, ``override:model.RAVE.x`` and ``config.gin:CAPACITY`` (a binding, macro or import
of the ``config.gin`` RAVE wrote in the run folder) to the value as text. Keys that are
bookkeeping (the run's name, uid, where it was imported from) are left out, so two runs with the
same settings give an empty diff.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..manager import TrainingManager, best_value
from ..rave.command import first_phase_steps, run_config_gin
from ..rave.runfolder import UID_KEY
from ..status import RUNNING
from ..store.records import Experiment
from ..store.tiles import buckets_to_xy

MIN_RUNS, MAX_RUNS = 2, 10
VALIDATION = "validation"

# Config keys that name or locate a run rather than set it up: never part of a diff.
_BOOKKEEPING = {
    "name", "project_id", UID_KEY, "imported_from", "outcome_source", "gin_config_file",
    "out_path", "parent_id", "hparams",
}  # fmt: skip
_GIN_BINDING = re.compile(r"^(?P<key>[A-Za-z_][\w./@%]*)\s*=\s*(?P<value>.*)$")
_GIN_IMPORT = re.compile(r"^(?:from\s+\S+\s+)?import\s+.+$")


class CompareError(ValidationError):
    """The runs asked for cannot be compared (too few, too many, repeated)."""


def check_ids(ids: Sequence[int]) -> list[int]:
    """The ids to compare, in order: 2 to 10 distinct ones, else CompareError."""
    ids = [int(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise CompareError("A run is named twice: give each run to compare once.")
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise CompareError(
            f"Compare {MIN_RUNS} to {MAX_RUNS} runs at a time, not {len(ids)}: pick the runs "
            "you want side by side."
        )
    return ids


# --- configuration ------------------------------------------------------------------------------
def parse_gin(text: str) -> dict[str, str]:
    """The bindings, macros and imports of a gin file as ``{key: value}`` (a value spanning
    several lines is joined into one; comments and blank lines are skipped; an import is keyed
    by its whole line with the value ``"yes"``)."""
    out: dict[str, str] = {}
    key: str | None = None
    parts: list[str] = []

    def close() -> None:
        if key is not None:
            out[key] = " ".join(p for p in parts if p)

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _GIN_IMPORT.match(line) and not raw[:1].isspace():
            close()
            key, parts = None, []
            out[line] = "yes"
            continue
        m = _GIN_BINDING.match(line)
        if m and not raw[:1].isspace():
            close()
            key, parts = m["key"], [m["value"].strip()]
        elif key is not None:  # the continuation of a value over several lines
            parts.append(line)
    close()
    return out


def gin_path(exp: Experiment) -> Path | None:
    """The ``config.gin`` of a run: the one RAVE wrote in its run folder, else the one it was
    imported with."""
    found = run_config_gin(exp.run_dir)
    if found is not None:
        return found
    recorded = exp.config.get("gin_config_file") if isinstance(exp.config, dict) else None
    return Path(recorded) if recorded and Path(recorded).is_file() else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def run_settings(exp: Experiment) -> dict[str, str]:
    """A run's settings as a flat ``{key: value as text}``: ``config`` (the base configuration)
    and ``modifiers``, ``parameter:NAME`` for every training setting, ``override:BINDING`` for
    each gin override, ``hparam:NAME`` for an imported run's hparams.yaml and
    ``config.gin:KEY`` for each line of its config.gin."""
    config = exp.config if isinstance(exp.config, dict) else {}
    out: dict[str, str] = {}
    configs = config.get("configs")
    if isinstance(configs, list) and configs:
        out["config"] = str(configs[0])
        out["modifiers"] = ", ".join(str(c) for c in configs[1:]) or "none"
    for k, v in config.items():
        if k in _BOOKKEEPING or k in ("configs", "overrides") or v is None:
            continue
        out[f"parameter:{k}"] = _text(v)
    for binding in config.get("overrides") or []:
        m = _GIN_BINDING.match(str(binding).strip())
        if m:
            out[f"override:{m['key']}"] = m["value"].strip()
        else:
            out[f"override:{binding}"] = "yes"
    hparams = config.get("hparams")
    if isinstance(hparams, dict):
        for k, v in hparams.items():
            out[f"hparam:{k}"] = _text(v)
    if exp.dataset_name:
        out["dataset"] = exp.dataset_name
    gin = gin_path(exp)
    if gin is not None:
        try:
            for k, v in parse_gin(gin.read_text(encoding="utf-8")).items():
                out[f"config.gin:{k}"] = v
        except (OSError, UnicodeDecodeError):
            pass
    return out


def config_diff(
    settings: Mapping[int, Mapping[str, str]],
) -> tuple[dict[str, dict[int, str | None]], dict[str, str]]:
    """(differing, same): each key whose value is not the same in every run mapped to its value
    per run (None where a run lacks it), and the keys every run shares with their value."""
    keys: list[str] = []
    seen: set[str] = set()
    for s in settings.values():
        for k in s:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    differing: dict[str, dict[int, str | None]] = {}
    same: dict[str, str] = {}
    for k in sorted(keys):
        values = {rid: s.get(k) for rid, s in settings.items()}
        distinct = set(values.values())
        if len(distinct) == 1 and None not in distinct:
            same[k] = next(iter(distinct))  # type: ignore[assignment]
        else:
            differing[k] = values
    return differing, same


# --- summaries ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the summary table shows of one run."""

    id: int
    name: str
    status: str
    best_validation: float | None
    best_validation_step: int | None
    steps: int | None
    duration_s: float | None
    speed: float | None  # mean steps per second over the run
    phase: str | None  # "reconstruction" (phase 1) or "adversarial" (phase 2); None: unknown
    phase_1_steps: int | None

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def summarize(exp: Experiment, now: float | None = None) -> RunSummary:
    summary = exp.summary or {}
    val = summary.get("metrics", {}).get(VALIDATION) or {}
    steps = summary.get("step")
    duration = None
    if exp.started_at is not None:
        end = exp.completed_at
        if end is None and exp.status == RUNNING:
            end = time.time() if now is None else now
        if end is None:
            end = exp.updated_at
        duration = max(0.0, end - exp.started_at) if end is not None else None
    speed = steps / duration if steps and duration else None
    gin = gin_path(exp)
    overrides = exp.config.get("overrides") if isinstance(exp.config, dict) else None
    phase_1 = first_phase_steps([str(gin)] if gin else [], [str(o) for o in overrides or []])
    phase = None
    if phase_1 is not None and steps is not None:
        phase = "adversarial" if steps >= phase_1 else "reconstruction"
    return RunSummary(
        id=exp.id,
        name=exp.name,
        status=exp.status,
        best_validation=best_value(summary),
        best_validation_step=val.get("min_step") if best_value(summary) is not None else None,
        steps=None if steps is None else int(steps),
        duration_s=duration,
        speed=speed,
        phase=phase,
        phase_1_steps=phase_1,
    )


def metric_table(exps: Sequence[Experiment]) -> dict[str, dict[int, dict[str, Any] | None]]:
    """Per metric, per run: its last value, min and the step of the min (None where a run does
    not log the metric)."""
    names = sorted({n for e in exps for n in (e.summary or {}).get("metrics", {})})
    out: dict[str, dict[int, dict[str, Any] | None]] = {}
    for name in names:
        per: dict[int, dict[str, Any] | None] = {}
        for e in exps:
            m = (e.summary or {}).get("metrics", {}).get(name)
            if m is None:
                per[e.id] = None
                continue
            mn = _finite(m.get("min"))
            per[e.id] = {
                "last": m.get("last"),
                "last_step": m.get("last_step"),
                "min": mn,
                "best_step": m.get("min_step") if mn is not None else None,
            }
        out[name] = per
    return out


@dataclass(frozen=True, slots=True)
class Comparison:
    runs: list[RunSummary]
    config_diff: dict[str, dict[int, str | None]]
    config_same: dict[str, str]
    metrics: dict[str, dict[int, dict[str, Any] | None]]

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.runs]

    def to_json(self) -> dict[str, Any]:
        """``runs`` (each run's summary), ``config_diff`` ({key: {run id: value}}), ``metrics``
        ({metric: {run id: {last, last_step, min, best_step} or null}}); run ids as strings."""
        return {
            "runs": [r.to_json() for r in self.runs],
            "config_diff": {
                k: {str(i): v for i, v in per.items()} for k, per in self.config_diff.items()
            },
            "metrics": {k: {str(i): v for i, v in per.items()} for k, per in self.metrics.items()},
        }


def compare_runs(manager: TrainingManager, ids: Sequence[int]) -> Comparison:
    """Compare 2 to 10 runs (CompareError for another count, NotFoundError for an unknown id)."""
    ids = check_ids(ids)
    exps = [manager.get_experiment(i) for i in ids]
    settings = {e.id: run_settings(e) for e in exps}
    differing, same = config_diff(settings)
    now = time.time()
    return Comparison(
        runs=[summarize(e, now) for e in exps],
        config_diff=differing,
        config_same=same,
        metrics=metric_table(exps),
    )


def common_metrics(manager: TrainingManager, ids: Sequence[int]) -> list[str]:
    """The metrics logged by any of the runs, those of every run first, validation leading."""
    per_run = [set(manager.metrics.names(i)) for i in ids]
    every = set.intersection(*per_run) if per_run else set()
    anyone = set.union(*per_run) if per_run else set()

    def rank(name: str) -> tuple[int, int, str]:
        return (name != VALIDATION, name not in every, name.lower())

    return sorted(anyone, key=rank)


# --- curves -------------------------------------------------------------------------------------
@dataclass(slots=True)
class Curve:
    """One run's series reduced for drawing: steps, values and the wall time of each point
    (NaN where unknown); ``started_at``: when the run started (the origin of relative time)."""

    experiment_id: int
    name: str
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray
    started_at: float | None = None


def wall_times(
    manager: TrainingManager, experiment_id: int, name: str, steps: np.ndarray
) -> np.ndarray:
    """The wall time of the points of series ``name`` at ``steps`` (NaN where not logged)."""
    out = np.full(steps.size, np.nan)
    if steps.size == 0:
        return out
    found: dict[int, float] = {}
    uniq = np.unique(steps).tolist()
    with manager.db.guard():
        conn = manager.db.conn
        for i in range(0, len(uniq), 500):
            chunk = uniq[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT step, wall_time FROM metric_points WHERE experiment_id = ? AND name = ? "
                f"AND step IN ({marks})",
                (experiment_id, name, *chunk),
            ).fetchall()
            found.update((s, w) for s, w in rows if w is not None)
    if found:
        out[:] = [found.get(s, np.nan) for s in steps.tolist()]
    return out


def load_curve(
    manager: TrainingManager, experiment_id: int, name: str, buckets: int = 2000
) -> Curve:
    """A run's series reduced to ``buckets`` min/max buckets (the single-run plot's reduction),
    with wall times for the time axes."""
    started = manager.get_experiment(experiment_id).started_at
    steps, values = buckets_to_xy(manager.metrics.reduced(experiment_id, name, buckets=buckets))
    walls = wall_times(manager, experiment_id, name, steps)
    return Curve(experiment_id, name, steps, values, walls, started)


def ema_smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing of a scalar series: an exponential moving average debiased by
    ``1 - weight ** n`` (n: the finite values seen so far). A non-finite value is kept as is and
    does not enter the average; a constant series is left unchanged (as TensorBoard does)."""
    y = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight <= 1.0:
        raise ValidationError(f"The smoothing weight must be between 0 and 1, not {weight}.")
    if y.size == 0 or weight == 0.0 or np.all(y == y[0]):
        return y.copy()
    out = y.copy()
    finite = np.isfinite(y)
    x = y[finite]
    if x.size == 0:
        return out
    smoothed = []
    last = 0.0
    debias = 1.0
    for n, v in enumerate(x.tolist(), start=1):
        last = last * weight + (1.0 - weight) * v
        if weight != 1.0:
            debias = 1.0 - weight**n
        smoothed.append(last / debias)
    out[finite] = smoothed
    return out


__all__ = [
    "MAX_RUNS",
    "MIN_RUNS",
    "CompareError",
    "Comparison",
    "Curve",
    "RunSummary",
    "check_ids",
    "common_metrics",
    "compare_runs",
    "config_diff",
    "ema_smooth",
    "load_curve",
    "parse_gin",
    "run_settings",
    "summarize",
    "wall_times",
]
