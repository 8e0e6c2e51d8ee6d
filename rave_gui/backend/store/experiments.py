"""ExperimentStore: experiments (training runs) and their bookkeeping: status, folders, process."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ..errors import DuplicateNameError, InUseError, NotFoundError, ValidationError
from ..status import FINAL, QUEUED, RUNNING, STATUSES, Action, RunStatus, check_transition, refusal
from .datasets import DatasetStore
from .db import Database
from .history import config_label, summary_sql
from .names import check_name
from .projects import ProjectStore
from .records import Experiment
from .rows import all_rows, one


class ExperimentStore:
    def __init__(self, db: Database, projects: ProjectStore, datasets: DatasetStore) -> None:
        self.db = db
        self.projects = projects
        self.datasets = datasets

    def create(self, config: dict[str, Any]) -> int:
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
            project_id = self.projects.default_id() if project_id is None else int(project_id)
            self.projects.get(project_id)
            dataset_id = config.get("dataset_id")
            if dataset_id is not None:
                ds = self.datasets.get(int(dataset_id))
                if ds.project_id != project_id:
                    raise ValidationError(
                        f"Dataset {ds.name!r} belongs to another project; register it here."
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
                "created_at, updated_at, parent_id, config_name) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project_id,
                    name,
                    dataset_id,
                    config_json,
                    QUEUED,
                    now,
                    now,
                    config.get("parent_id"),
                    config_label(stored),
                ),
            )
            return int(cur.lastrowid or 0)

    _SELECT_EXPERIMENT = (
        "SELECT e.*, p.name AS project_name, d.name AS dataset_name, d.path AS dataset_path "
        "FROM experiments e JOIN projects p ON p.id = e.project_id "
        "LEFT JOIN datasets d ON d.id = e.dataset_id"
    )

    def get(self, experiment_id: int) -> Experiment:
        row = one(self.db, self._SELECT_EXPERIMENT + " WHERE e.id = ?", (experiment_id,))
        if row is None:
            raise NotFoundError(f"There is no experiment with id {experiment_id}.")
        return Experiment.from_row(row)

    def query(
        self,
        project_id: int | None = None,
        *,
        status: str | Sequence[str] | None = None,
        dataset_id: int | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Experiment]:
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
        return [Experiment.from_row(r) for r in all_rows(self.db, sql, params)]

    def count(self, status: str | Sequence[str] | None = None) -> int:
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

    def update_status(
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
            exp = self.get(experiment_id)
            current = exp.status
            if status == current:
                return
            check_transition(current, status, exp.name)
            now = time.time()
            sets = ["status = ?", "updated_at = ?"]
            params: list[Any] = [status, now]
            if status == RUNNING and exp.started_at is None:
                sets.append("started_at = ?")
                params.append(now)
            if status in FINAL:
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

    def update(self, experiment_id: int, **fields: Any) -> None:
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
        names = list(fields)
        if isinstance(fields.get("config"), dict):  # the history's configuration column
            names.append("config_name")
            values.append(config_label(fields["config"]))
        with self.db.transaction():
            self.get(experiment_id)
            self.db.execute(
                f"UPDATE experiments SET {', '.join(f'{k} = ?' for k in names)}, updated_at = ? "
                "WHERE id = ?",
                (*values, time.time(), experiment_id),
            )

    def rename(self, experiment_id: int, name: str) -> None:
        name = check_name(name, "experiment")
        with self.db.transaction() as conn:
            exp = self.get(experiment_id)
            if conn.execute(
                "SELECT 1 FROM experiments WHERE project_id = ? AND name = ? AND id != ?",
                (exp.project_id, name, experiment_id),
            ).fetchone():
                raise DuplicateNameError(f"An experiment named {name!r} already exists.")
            conn.execute("UPDATE experiments SET name = ? WHERE id = ?", (name, experiment_id))

    def delete(self, experiment_id: int) -> None:
        """Delete an experiment record with its metrics, checkpoints list and alerts (files on
        disk stay). An active run must be stopped first."""
        with self.db.transaction() as conn:
            exp = self.get(experiment_id)
            if reason := refusal(exp.status, Action.DELETE):
                raise InUseError(f"Experiment {exp.name!r} {reason}")
            conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))

    def set_summary(self, experiment_id: int, summary: dict[str, Any]) -> None:
        sets, values = summary_sql(summary)  # the summary and the history's columns of it
        self.db.execute(f"UPDATE experiments SET {sets} WHERE id = ?", (*values, experiment_id))

    def import_record(
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
            exp_id = self.create(config)
            self.db.execute(
                "UPDATE experiments SET status = ?, started_at = ?, completed_at = ? WHERE id = ?",
                (status, started_at, completed_at, exp_id),
            )
            self.update(exp_id, **fields)
        return exp_id
