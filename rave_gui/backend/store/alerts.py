"""AlertStore: warnings raised about a run (health checks, lost data), kept with the run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from ..errors import ValidationError
from .db import Database
from .experiments import ExperimentStore
from .records import Alert
from .rows import all_rows

SEVERITIES = ("info", "warning", "error")
OPEN_SEVERITIES = ("warning", "error")  # what the runs table marks until it is dismissed


class AlertStore:
    def __init__(self, db: Database, experiments: ExperimentStore) -> None:
        self.db = db
        self.experiments = experiments

    def add(
        self,
        experiment_id: int,
        kind: str,
        severity: str,
        message: str,
        step: int | None = None,
        advice: str = "",
    ) -> int:
        if severity not in SEVERITIES:
            raise ValidationError(f"Unknown alert severity {severity!r}.")
        with self.db.transaction() as conn:
            self.experiments.get(experiment_id)
            cur = conn.execute(
                "INSERT INTO alerts (experiment_id, kind, severity, message, step, advice, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (experiment_id, kind, severity, message, step, advice, time.time()),
            )
            return int(cur.lastrowid or 0)

    def for_run(self, experiment_id: int) -> list[Alert]:
        rows = all_rows(
            self.db, "SELECT * FROM alerts WHERE experiment_id = ? ORDER BY id", (experiment_id,)
        )
        return [Alert.from_row(r) for r in rows]

    def latest_open(self, experiment_ids: Iterable[int]) -> dict[int, Alert]:
        """{experiment id: its newest warning or error alert not yet dismissed}, for the runs
        that have one, in one query (the runs table loads it with its rows)."""
        ids = [int(i) for i in experiment_ids]
        if not ids:
            return {}
        rows = all_rows(
            self.db,
            "SELECT a.* FROM alerts a JOIN (SELECT MAX(id) AS id FROM alerts"
            " WHERE acknowledged = 0 AND severity IN (?, ?)"
            " AND experiment_id IN (SELECT value FROM json_each(?))"
            " GROUP BY experiment_id) latest ON a.id = latest.id",
            (*OPEN_SEVERITIES, json.dumps(ids)),
        )
        return {int(r["experiment_id"]): Alert.from_row(r) for r in rows}

    def acknowledge(self, alert_id: int) -> None:
        """The user dismissed the alert (it stays in the run's history)."""
        self.db.execute("UPDATE alerts SET acknowledged = 1 WHERE id = ?", (alert_id,))
