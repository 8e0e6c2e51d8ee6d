"""TrainingManager: the experiment store's API (projects, datasets, experiments, metrics)."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as mstore
from .datasets import read_dataset
from .db import Database
from .errors import (
    DuplicateNameError,
    InUseError,
    NotFoundError,
    ValidationError,
)

# The run status model lives in .status; its names stay importable from here.
from .status import (
    ACTIVE,
    FINAL,
    LIVE,
    Action,
    RunStatus,
    check_transition,
    refusal,
)
from .status import COMPLETED as COMPLETED
from .status import FAILED as FAILED
from .status import PAUSED as PAUSED
from .status import QUEUED as QUEUED
from .status import RUNNING as RUNNING
from .status import STATUSES as STATUSES
from .status import STOPPED as STOPPED
from .status import STOPPING as STOPPING
from .status import TRANSITIONS as TRANSITIONS

ACTIVE_STATUSES, LIVE_STATUSES, FINAL_STATUSES = ACTIVE, LIVE, FINAL

DEFAULT_PROJECT = "Default"
_NAME_MAX = 120
# A name holds letters (any script, with their accents), digits, spaces and these signs; the
# rest (/ \ : * ? " < > | and control characters) cannot be in a file name on every system.
NAME_PUNCTUATION = "!#$%&'()+,-.;=@[]^_`{}~"
_NAME_SIGNS = " " + NAME_PUNCTUATION
_EXPERIMENT_JSON = ("config", "metrics", "command")


def _name_char_ok(ch: str) -> bool:
    if ch in _NAME_SIGNS:
        return True
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd"  # letters, their marks, digits


def check_name(name: object, what: str) -> str:
    """A trimmed, valid name, or ValidationError saying what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"The {what} name is empty: give it a name.")
    name = name.strip()
    if len(name) > _NAME_MAX:
        raise ValidationError(f"The {what} name is longer than {_NAME_MAX} characters.")
    bad = next((ch for ch in name if not _name_char_ok(ch)), None)
    if bad is not None:
        raise ValidationError(
            f"The {what} name {name!r} contains {bad!r}; use letters, digits, spaces and "
            f"these signs: {' '.join(NAME_PUNCTUATION)}"
        )
    if name.startswith((".", "-")):
        raise ValidationError(f"The {what} name {name!r} cannot start with '.' or '-'.")
    return name


def _row(cur: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def _parse_experiment(d: dict[str, Any]) -> dict[str, Any]:
    for key in _EXPERIMENT_JSON:
        raw = d.get(key)
        d[key] = json.loads(raw) if raw else ({} if key != "command" else None)
    return d


class TrainingManager:
    """Stores experiments and everything around them in one SQLite database.

    Pure Python (no Qt). Every method raises a RaveGuiError subclass with a message for a
    person on bad input; multi-row changes are single transactions.
    """

    def __init__(self, db: Database | str | os.PathLike[str]) -> None:
        self.db = db if isinstance(db, Database) else Database(db)

    def close(self) -> None:
        self.db.close()

    # --- helpers -------------------------------------------------------------------------------
    def _one(self, sql: str, params: tuple = ()) -> dict[str, Any] | None:
        with self.db.guard():
            cur = self.db.execute(sql, params)
            row = cur.fetchone()
        return None if row is None else _row(cur, row)

    def _all(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        with self.db.guard():
            cur = self.db.execute(sql, tuple(params))
            rows = cur.fetchall()
        return [_row(cur, r) for r in rows]

    # --- projects ------------------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> int:
        name = check_name(name, "project")
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone():
                raise DuplicateNameError(f"A project named {name!r} already exists.")
            cur = conn.execute(
                "INSERT INTO projects (name, description, created_at) VALUES (?, ?, ?)",
                (name, description, time.time()),
            )
            return int(cur.lastrowid or 0)

    def default_project_id(self) -> int:
        """The first project, creating a project named "Default" in an empty database (in one
        transaction: two programs opening a new database at once get the same project)."""
        row = self._one("SELECT id FROM projects ORDER BY id LIMIT 1")
        if row:
            return int(row["id"])
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO projects (name, description, created_at) VALUES (?, '', ?) "
                "ON CONFLICT (name) DO NOTHING",
                (DEFAULT_PROJECT, time.time()),
            )
            return int(conn.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0])

    def get_project(self, project_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM projects WHERE id = ?", (project_id,))
        if row is None:
            raise NotFoundError(f"There is no project with id {project_id}.")
        return row

    def find_project(self, name_or_id: str | int) -> dict[str, Any]:
        if isinstance(name_or_id, int) or str(name_or_id).isdigit():
            row = self._one("SELECT * FROM projects WHERE id = ?", (int(name_or_id),))
            if row:
                return row
        row = self._one("SELECT * FROM projects WHERE name = ?", (str(name_or_id),))
        if row is None:
            raise NotFoundError(f"There is no project {name_or_id!r}.")
        return row

    def list_projects(self) -> list[dict[str, Any]]:
        return self._all(
            "SELECT p.*, (SELECT count(*) FROM experiments e WHERE e.project_id = p.id) "
            "AS n_experiments, (SELECT count(*) FROM datasets d WHERE d.project_id = p.id) "
            "AS n_datasets FROM projects p ORDER BY p.name COLLATE NOCASE"
        )

    def rename_project(self, project_id: int, name: str) -> None:
        name = check_name(name, "project")
        with self.db.transaction() as conn:
            self.get_project(project_id)
            clash = conn.execute(
                "SELECT 1 FROM projects WHERE name = ? AND id != ?", (name, project_id)
            ).fetchone()
            if clash:
                raise DuplicateNameError(f"A project named {name!r} already exists.")
            conn.execute("UPDATE projects SET name = ? WHERE id = ?", (name, project_id))

    def delete_project(self, project_id: int, *, delete_experiments: bool = False) -> None:
        """Delete a project. Its datasets' registrations go with it (files on disk stay).

        A project holding experiments is deleted only with ``delete_experiments=True``, which
        deletes them and their metrics too; a project with an active run is never deleted.
        """
        with self.db.transaction() as conn:
            project = self.get_project(project_id)
            n_exp, n_active = conn.execute(
                "SELECT count(*), coalesce(sum(status IN (?, ?, ?, ?)), 0) FROM experiments "
                "WHERE project_id = ?",
                (*ACTIVE_STATUSES, project_id),
            ).fetchone()
            if n_active:
                raise InUseError(
                    f"Project {project['name']!r} has {n_active} active run(s): stop them first."
                )
            if n_exp and not delete_experiments:
                raise InUseError(
                    f"Project {project['name']!r} holds {n_exp} experiment(s); delete them with "
                    "the project, or move them first."
                )
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))

    # --- datasets ------------------------------------------------------------------------------
    def register_dataset(
        self, project_id: int, path: str | os.PathLike[str], name: str | None = None
    ) -> int:
        """Register a preprocessed RAVE dataset folder (validated; its metadata is read)."""
        info = read_dataset(path)
        name = check_name(name if name is not None else info.path.name, "dataset")
        with self.db.transaction() as conn:
            self.get_project(project_id)
            if conn.execute(
                "SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", (project_id, name)
            ).fetchone():
                raise DuplicateNameError(f"This project already has a dataset named {name!r}.")
            if conn.execute(
                "SELECT 1 FROM datasets WHERE project_id = ? AND path = ?",
                (project_id, str(info.path)),
            ).fetchone():
                raise DuplicateNameError(f"{info.path} is already registered in this project.")
            cur = conn.execute(
                "INSERT INTO datasets (project_id, name, path, sample_rate, channels, duration_s, "
                "n_examples, lazy, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project_id,
                    name,
                    str(info.path),
                    info.sample_rate,
                    info.channels,
                    info.duration_s,
                    info.n_examples,
                    int(info.lazy),
                    time.time(),
                ),
            )
            return int(cur.lastrowid or 0)

    def get_dataset(self, dataset_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
        if row is None:
            raise NotFoundError(f"There is no dataset with id {dataset_id}.")
        return row

    def list_datasets(self, project_id: int | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT d.*, (SELECT count(*) FROM experiments e WHERE e.dataset_id = d.id) "
            "AS n_experiments FROM datasets d"
        )
        params: tuple = ()
        if project_id is not None:
            sql += " WHERE d.project_id = ?"
            params = (project_id,)
        return self._all(sql + " ORDER BY d.name COLLATE NOCASE", params)

    def rename_dataset(self, dataset_id: int, name: str) -> None:
        name = check_name(name, "dataset")
        with self.db.transaction() as conn:
            ds = self.get_dataset(dataset_id)
            if conn.execute(
                "SELECT 1 FROM datasets WHERE project_id = ? AND name = ? AND id != ?",
                (ds["project_id"], name, dataset_id),
            ).fetchone():
                raise DuplicateNameError(f"This project already has a dataset named {name!r}.")
            conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (name, dataset_id))

    def delete_dataset(self, dataset_id: int, *, detach_experiments: bool = False) -> None:
        """Forget a dataset registration (its files stay on disk).

        Experiments that used it keep their config (which records the dataset path) and are
        detached only with ``detach_experiments=True``; an active run blocks the deletion.
        """
        with self.db.transaction() as conn:
            ds = self.get_dataset(dataset_id)
            n_exp, n_active = conn.execute(
                "SELECT count(*), coalesce(sum(status IN (?, ?, ?, ?)), 0) FROM experiments "
                "WHERE dataset_id = ?",
                (*ACTIVE_STATUSES, dataset_id),
            ).fetchone()
            if n_active:
                raise InUseError(f"Dataset {ds['name']!r} is used by {n_active} active run(s).")
            if n_exp and not detach_experiments:
                raise InUseError(
                    f"Dataset {ds['name']!r} is used by {n_exp} experiment(s); detach them to "
                    "delete it (they keep their history)."
                )
            conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))

    # --- experiments ---------------------------------------------------------------------------
    def start_training(self, config: dict[str, Any]) -> int:
        """Record a new experiment from ``config`` and return its id (status "queued").

        ``config`` holds ``name`` (required, unique in the project), optionally ``project_id``
        (default: the first project), ``dataset_id``, ``parent_id`` (the run it resumes) and the
        training settings, stored as the experiment's config JSON. The engine starts queued runs.
        """
        if not isinstance(config, dict):
            raise ValidationError("The training config must be a mapping of settings.")
        name = check_name(config.get("name"), "experiment")
        with self.db.transaction() as conn:
            project_id = config.get("project_id")
            project_id = self.default_project_id() if project_id is None else int(project_id)
            self.get_project(project_id)
            dataset_id = config.get("dataset_id")
            if dataset_id is not None:
                ds = self.get_dataset(int(dataset_id))
                if ds["project_id"] != project_id:
                    raise ValidationError(
                        f"Dataset {ds['name']!r} belongs to another project; register it here."
                    )
            if conn.execute(
                "SELECT 1 FROM experiments WHERE project_id = ? AND name = ?", (project_id, name)
            ).fetchone():
                raise DuplicateNameError(
                    f"An experiment named {name!r} already exists in this project: pick another "
                    "name."
                )
            stored = {k: v for k, v in config.items() if k not in ("project_id", "name")}
            try:
                config_json = json.dumps(stored, sort_keys=True)
            except (TypeError, ValueError) as err:
                raise ValidationError(f"The training config cannot be stored: {err}") from err
            now = time.time()
            cur = conn.execute(
                "INSERT INTO experiments (project_id, name, dataset_id, config, status, "
                "created_at, updated_at, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project_id,
                    name,
                    dataset_id,
                    config_json,
                    QUEUED,
                    now,
                    now,
                    config.get("parent_id"),
                ),
            )
            return int(cur.lastrowid or 0)

    _SELECT_EXPERIMENT = (
        "SELECT e.*, p.name AS project_name, d.name AS dataset_name, d.path AS dataset_path "
        "FROM experiments e JOIN projects p ON p.id = e.project_id "
        "LEFT JOIN datasets d ON d.id = e.dataset_id"
    )

    def get_experiment(self, experiment_id: int) -> dict[str, Any]:
        row = self._one(self._SELECT_EXPERIMENT + " WHERE e.id = ?", (experiment_id,))
        if row is None:
            raise NotFoundError(f"There is no experiment with id {experiment_id}.")
        return _parse_experiment(row)

    def list_experiments(
        self,
        project_id: int | None = None,
        *,
        status: str | Sequence[str] | None = None,
        dataset_id: int | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Experiments, newest first, filtered by project, status(es), dataset and a text
        search over name, dataset, status, error and config (case-insensitive)."""
        where: list[str] = []
        params: list[Any] = []
        if project_id is not None:
            where.append("e.project_id = ?")
            params.append(project_id)
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            for s in statuses:
                RunStatus.parse(s)
            where.append(f"e.status IN ({', '.join('?' * len(statuses))})")
            params += statuses
        if dataset_id is not None:
            where.append("e.dataset_id = ?")
            params.append(dataset_id)
        if search and search.strip():
            like = (
                "%"
                + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            fields = (
                "e.name",
                "coalesce(d.name, '')",
                "e.status",
                "coalesce(e.error, '')",
                "e.config",
            )
            where.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")")
            params += [like] * len(fields)
        sql = self._SELECT_EXPERIMENT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.created_at DESC, e.id DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        return [_parse_experiment(r) for r in self._all(sql, params)]

    def count_experiments(self, status: str | Sequence[str] | None = None) -> int:
        if status is None:
            return int(self.db.execute("SELECT count(*) FROM experiments").fetchone()[0])
        statuses = [status] if isinstance(status, str) else list(status)
        return int(
            self.db.execute(
                f"SELECT count(*) FROM experiments WHERE status IN "
                f"({', '.join('?' * len(statuses))})",
                tuple(statuses),
            ).fetchone()[0]
        )

    def update_experiment_status(
        self,
        experiment_id: int,
        status: str,
        *,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Move an experiment to ``status``; only legal transitions are accepted
        (queued → running → paused/stopping → completed/stopped/failed)."""
        status = RunStatus.parse(status)
        with self.db.transaction() as conn:
            exp = self.get_experiment(experiment_id)
            current = exp["status"]
            if status == current:
                return
            check_transition(current, status, exp["name"])
            now = time.time()
            sets = ["status = ?", "updated_at = ?"]
            params: list[Any] = [status, now]
            if status == RUNNING and exp["started_at"] is None:
                sets.append("started_at = ?")
                params.append(now)
            if status in FINAL_STATUSES:
                sets.append("completed_at = ?")
                params.append(now)
            if error is not None:
                sets.append("error = ?")
                params.append(error)
            if exit_code is not None:
                sets.append("exit_code = ?")
                params.append(exit_code)
            conn.execute(
                f"UPDATE experiments SET {', '.join(sets)} WHERE id = ?", (*params, experiment_id)
            )

    def update_experiment(self, experiment_id: int, **fields: Any) -> None:
        """Set run bookkeeping fields (command, run_dir, log_path, pid, process_start_time,
        exit_code, error, started_at, completed_at). Status goes through
        update_experiment_status."""
        allowed = {
            "command",
            "run_dir",
            "log_path",
            "pid",
            "process_start_time",
            "exit_code",
            "error",
            "started_at",
            "completed_at",
            "config",
        }
        bad = set(fields) - allowed
        if bad:
            raise ValidationError(f"Cannot set experiment field(s): {', '.join(sorted(bad))}.")
        if not fields:
            return
        values = [
            json.dumps(v) if k in ("command", "config") and v is not None else v
            for k, v in fields.items()
        ]
        with self.db.transaction():
            self.get_experiment(experiment_id)
            self.db.execute(
                f"UPDATE experiments SET {', '.join(f'{k} = ?' for k in fields)}, updated_at = ? "
                "WHERE id = ?",
                (*values, time.time(), experiment_id),
            )

    def rename_experiment(self, experiment_id: int, name: str) -> None:
        name = check_name(name, "experiment")
        with self.db.transaction() as conn:
            exp = self.get_experiment(experiment_id)
            if conn.execute(
                "SELECT 1 FROM experiments WHERE project_id = ? AND name = ? AND id != ?",
                (exp["project_id"], name, experiment_id),
            ).fetchone():
                raise DuplicateNameError(f"An experiment named {name!r} already exists.")
            conn.execute("UPDATE experiments SET name = ? WHERE id = ?", (name, experiment_id))

    def delete_experiment(self, experiment_id: int) -> None:
        """Delete an experiment record with its metrics, checkpoints list and alerts (files on
        disk stay). An active run must be stopped first."""
        with self.db.transaction() as conn:
            exp = self.get_experiment(experiment_id)
            if reason := refusal(exp["status"], Action.DELETE):
                raise InUseError(f"Experiment {exp['name']!r} {reason}")
            conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))

    def register_process(self, experiment_id: int, process: Any) -> None:
        """Remember the process running an experiment: a Popen-like object with ``pid``, or a
        pid. Its start time is recorded too, so a later pid reuse is never mistaken for it."""
        from .procinfo import process_start_time

        pid = int(getattr(process, "pid", process))
        start = process_start_time(pid)
        if start is None:
            raise NotFoundError(f"No process with pid {pid} is running.")
        self.update_experiment(experiment_id, pid=pid, process_start_time=start)

    def stop_training(self, experiment_id: int) -> str:
        """Stop an experiment: a queued one is cancelled at once; a live one is asked to stop
        (SIGINT to its process group; the engine escalates and records the outcome); one whose
        process is gone is recorded with its real outcome. Returns the status after the
        request. (The engine does it: Engine.request_stop.)"""
        from .engine import Engine

        return Engine(self).request_stop(experiment_id)

    # --- metrics -------------------------------------------------------------------------------
    def add_metric_points(self, experiment_id: int, points: Iterable[mstore.Point]) -> int:
        """Store a batch of points (name, step, value, wall_time) in one transaction and fold
        them into the experiment's summary. Returns the number stored."""
        return self.add_metric_series(experiment_id, mstore.group_points(points))

    def add_metric_series(self, experiment_id: int, series: dict[str, tuple[Any, Any, Any]]) -> int:
        """Store per-name arrays ``{name: (steps, values, wall_times)}`` in one transaction
        (the fast path for bulk imports) and fold them into the experiment's summary."""
        if not series:
            return 0
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT metrics FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"There is no experiment with id {experiment_id}.")
            arrays = {
                str(n): (
                    np.asarray(s, dtype=np.int64),
                    np.asarray(v, dtype=np.float64),
                    None if w is None else np.asarray(w, dtype=np.float64),
                )
                for n, (s, v, w) in series.items()
            }
            total = 0
            for name, (steps, values, walls) in arrays.items():
                if steps.shape != values.shape:
                    raise ValidationError(f"Series {name!r}: steps and values differ in length.")
                mstore.write_series(conn, experiment_id, name, steps, values, walls)
                total += steps.size
            summary = json.loads(row[0] or "{}")
            known = summary.get("metrics", {})
            rewritten = [
                n for n, (s, _v, _w) in arrays.items()
                if n in known and s.size and int(s.min()) <= known[n]["last_step"]
            ]  # fmt: skip
            summary = mstore.merge_summary(summary, arrays)
            for name in rewritten:  # a point may have replaced the min or max: recompute
                mstore.update_tiles(conn, experiment_id, name)
                stats = {st.name: st for st in mstore.series_stats(conn, experiment_id, only=name)}
                st = stats.get(name)
                if st is not None:
                    m = summary["metrics"][name]
                    m["min"] = None if st.min_value != st.min_value else st.min_value
                    m["max"] = None if st.max_value != st.max_value else st.max_value
            conn.execute(
                "UPDATE experiments SET metrics = ?, updated_at = ? WHERE id = ?",
                (json.dumps(summary), time.time(), experiment_id),
            )
        return total

    def update_training_metrics(self, experiment_id: int, metrics: dict[str, Any]) -> int:
        """Store one step's values, e.g. ``{"step": 1200, "loss": 0.31, "lr": 1e-3}``.

        Without ``step`` the experiment's current step is used. Non-numeric values raise.
        """
        if not isinstance(metrics, dict):
            raise ValidationError("Metrics must be a mapping of names to numbers.")
        values = dict(metrics)
        step = values.pop("step", None)
        wall = values.pop("wall_time", None) or time.time()
        if step is None:
            step = self.get_experiment(experiment_id)["metrics"].get("step") or 0
        try:
            step = int(step)
        except (TypeError, ValueError) as err:
            raise ValidationError(f"The step {step!r} is not an integer.") from err
        pts = []
        for name, value in values.items():
            try:
                pts.append((str(name), step, float(value), float(wall)))
            except (TypeError, ValueError) as err:
                raise ValidationError(f"The metric {name!r} = {value!r} is not a number.") from err
        return self.add_metric_points(experiment_id, pts)

    def build_tiles(self, experiment_id: int) -> None:
        """Bring every series' reduction tiles up to date now (after a bulk import, so the
        first plot of the run is as fast as the next ones)."""
        with self.db.guard():
            for name in mstore.series_names(self.db.conn, experiment_id):
                mstore.update_tiles(self.db.conn, experiment_id, name)

    def metric_names(self, experiment_id: int) -> list[str]:
        with self.db.guard():
            return mstore.series_names(self.db.conn, experiment_id)

    def metric_stats(self, experiment_id: int) -> list[mstore.SeriesStats]:
        with self.db.guard():
            return mstore.series_stats(self.db.conn, experiment_id)

    def reduced_series(
        self,
        experiment_id: int,
        name: str,
        start: int | None = None,
        end: int | None = None,
        buckets: int = 2000,
    ) -> list[mstore.Bucket]:
        with self.db.guard():
            return mstore.reduce_series(self.db.conn, experiment_id, name, start, end, buckets)

    def iter_metric_points(
        self, experiment_id: int, name: str | None = None, after_step: int | None = None
    ):
        self.get_experiment(experiment_id)
        return self._guarded(mstore.iter_points(self.db.conn, experiment_id, name, after_step))

    def _guarded(self, items: Iterator[Any]) -> Iterator[Any]:
        """``items``, read lazily, with an SQLite failure on the way reported as DatabaseError."""
        with self.db.guard():
            yield from items

    def set_summary(self, experiment_id: int, summary: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE experiments SET metrics = ? WHERE id = ?", (json.dumps(summary), experiment_id)
        )

    def step_at_time(self, experiment_id: int, wall_time: float) -> int | None:
        """The highest step logged at or before ``wall_time`` (to date a checkpoint file)."""
        row = self.db.execute(
            "SELECT max(step) FROM metric_points WHERE experiment_id = ? AND wall_time <= ?",
            (experiment_id, wall_time + 1.0),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def import_experiment(
        self,
        config: dict[str, Any],
        *,
        status: str,
        started_at: float | None = None,
        completed_at: float | None = None,
        **fields: Any,
    ) -> int:
        """Record a run that was started elsewhere, directly in its real status."""
        if status not in STATUSES or status == QUEUED:
            raise ValidationError(f"An imported run cannot be {status!r}.")
        with self.db.transaction():
            exp_id = self.start_training(config)
            self.db.execute(
                "UPDATE experiments SET status = ?, started_at = ?, completed_at = ? WHERE id = ?",
                (status, started_at, completed_at, exp_id),
            )
            self.update_experiment(exp_id, **fields)
        return exp_id

    # --- checkpoints and alerts ----------------------------------------------------------------
    def sync_checkpoints(self, experiment_id: int, found: Iterable[dict[str, Any]]) -> int:
        """Make the checkpoint list match what is on disk: ``found`` holds dicts with path,
        step, size, is_best, mtime. Returns how many are new."""
        items = list(found)
        with self.db.transaction() as conn:
            known = {
                r[0]
                for r in conn.execute(
                    "SELECT path FROM checkpoints WHERE experiment_id = ?", (experiment_id,)
                )
            }
            paths = {str(c["path"]) for c in items}
            for gone in known - paths:
                conn.execute(
                    "DELETE FROM checkpoints WHERE experiment_id = ? AND path = ?",
                    (experiment_id, gone),
                )
            for c in items:
                conn.execute(
                    "INSERT INTO checkpoints (experiment_id, path, step, size, is_best, mtime) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, path) DO UPDATE SET "
                    "step = excluded.step, size = excluded.size, is_best = excluded.is_best, "
                    "mtime = excluded.mtime",
                    (
                        experiment_id,
                        str(c["path"]),
                        c.get("step"),
                        c.get("size"),
                        int(bool(c.get("is_best"))),
                        c.get("mtime"),
                    ),
                )
        return len(paths - known)

    def list_checkpoints(self, experiment_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM checkpoints WHERE experiment_id = ? ORDER BY coalesce(step, -1), path",
            (experiment_id,),
        )

    def delete_checkpoints(
        self, experiment_id: int, paths: Iterable[str | os.PathLike[str]]
    ) -> int:
        """Delete checkpoint files of an experiment (to free disk) and their rows; returns the
        bytes freed. Only files recorded as this experiment's checkpoints are touched, and
        never while its process may still write or resume from them."""
        exp = self.get_experiment(experiment_id)
        if reason := refusal(exp["status"], Action.DELETE_CHECKPOINTS):
            raise InUseError(f"Experiment {exp['name']!r} {reason}")
        known = {str(Path(c["path"])): c for c in self.list_checkpoints(experiment_id)}
        wanted = [str(Path(p)) for p in paths]
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise NotFoundError(f"{unknown[0]} is not a checkpoint of {exp['name']!r}.")
        freed = 0
        gone: list[str] = []
        failed: OSError | None = None
        for p in dict.fromkeys(wanted):
            try:
                size = os.stat(p).st_size
                os.unlink(p)
                freed += size
            except FileNotFoundError:
                pass
            except OSError as err:
                failed = err
                break
            gone.append(known[p]["path"])
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM checkpoints WHERE experiment_id = ? AND path = ?",
                [(experiment_id, p) for p in gone],
            )
        if failed is not None:
            raise InUseError(f"Cannot delete {failed.filename}: {failed.strerror}")
        return freed

    # --- exported models -----------------------------------------------------------------------
    def add_exported_model(
        self,
        experiment_id: int,
        path: str | os.PathLike[str],
        *,
        size: int | None = None,
        streaming: bool = False,
        checkpoint: str | os.PathLike[str] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> int:
        """Record a TorchScript model exported from an experiment (a later export to the same
        file replaces the earlier record)."""
        try:
            settings_json = json.dumps(settings or {}, sort_keys=True)
        except (TypeError, ValueError) as err:
            raise ValidationError(f"The export settings cannot be stored: {err}") from err
        with self.db.transaction() as conn:
            self.get_experiment(experiment_id)
            conn.execute("DELETE FROM exported_models WHERE path = ?", (str(path),))
            cur = conn.execute(
                "INSERT INTO exported_models (experiment_id, path, size, streaming, checkpoint, "
                "settings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    experiment_id,
                    str(path),
                    size,
                    int(bool(streaming)),
                    None if checkpoint is None else str(checkpoint),
                    settings_json,
                    time.time(),
                ),
            )
            return int(cur.lastrowid or 0)

    def list_exported_models(
        self, experiment_id: int | None = None, *, project_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Exported models, newest first, of one experiment or of a project's experiments."""
        sql = (
            "SELECT m.*, e.name AS experiment_name FROM exported_models m "
            "JOIN experiments e ON e.id = m.experiment_id"
        )
        where, params = [], []
        if experiment_id is not None:
            where.append("m.experiment_id = ?")
            params.append(experiment_id)
        if project_id is not None:
            where.append("e.project_id = ?")
            params.append(project_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._all(sql + " ORDER BY m.created_at DESC, m.id DESC", params)
        for r in rows:
            r["settings"] = json.loads(r["settings"] or "{}")
            r["streaming"] = bool(r["streaming"])
        return rows

    def add_alert(
        self, experiment_id: int, kind: str, severity: str, message: str, step: int | None = None
    ) -> int:
        if severity not in ("info", "warning", "error"):
            raise ValidationError(f"Unknown alert severity {severity!r}.")
        with self.db.transaction() as conn:
            self.get_experiment(experiment_id)
            cur = conn.execute(
                "INSERT INTO alerts (experiment_id, kind, severity, message, step, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (experiment_id, kind, severity, message, step, time.time()),
            )
            return int(cur.lastrowid or 0)

    def list_alerts(self, experiment_id: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM alerts WHERE experiment_id = ? ORDER BY id", (experiment_id,)
        )

    # --- follow offsets (re-attaching without re-reading) --------------------------------------
    def get_offsets(self, experiment_id: int) -> dict[str, int]:
        with self.db.guard():
            return {
                r[0]: int(r[1])
                for r in self.db.execute(
                    "SELECT path, offset FROM follow_offsets WHERE experiment_id = ?",
                    (experiment_id,),
                )
            }

    def follow_offset(self, experiment_id: int, key: str = "log") -> int | None:
        """How far a follower has read a run's file (``"log"``: its log), None if not yet."""
        row = self.db.execute(
            "SELECT offset FROM follow_offsets WHERE experiment_id = ? AND path = ?",
            (experiment_id, key),
        ).fetchone()
        return None if row is None else int(row[0])

    def set_offsets(self, experiment_id: int, offsets: dict[str, int]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO follow_offsets VALUES (?, ?, ?) ON CONFLICT (experiment_id, path) "
                "DO UPDATE SET offset = excluded.offset",
                [(experiment_id, str(p), int(o)) for p, o in offsets.items()],
            )


def best_value(summary: dict[str, Any], name: str = "validation") -> float | None:
    """The lowest value of a metric in an experiment summary (None if it has none)."""
    m = summary.get("metrics", {}).get(name)
    v = None if m is None else m.get("min")
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
