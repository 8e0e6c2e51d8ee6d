"""TrainingManager: the one handle on the experiment store (the seed's API over the store rooms).

The store lives in ``backend/store``, one class per concern: ``projects``, ``datasets``,
``experiments``, ``metrics``, ``artifacts`` (checkpoints, exported models), ``alerts``,
``follow_state`` and ``history`` (notes, tags, archive, the history query). A TrainingManager
opens the database once and holds one of each; callers use them directly
(``manager.datasets.all()``). The seed's own names stay here as thin calls.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from .store.alerts import AlertStore
from .store.artifacts import ArtifactStore
from .store.datasets import DatasetStore
from .store.db import Database
from .store.experiments import ExperimentStore
from .store.follow_state import FollowState
from .store.history import HistoryStore
from .store.metrics import MetricStore
from .store.projects import ProjectStore
from .store.records import Experiment

__all__ = ["TrainingManager", "best_value"]


class TrainingManager:
    """Stores experiments and everything around them in one SQLite database.

    Pure Python (no Qt). Every method raises a RaveGuiError subclass with a message for a
    person on bad input; multi-row changes are single transactions.
    """

    def __init__(self, db: Database | str | os.PathLike[str]) -> None:
        self.db = db if isinstance(db, Database) else Database(db)
        self.projects = ProjectStore(self.db)
        self.datasets = DatasetStore(self.db, self.projects)
        self.experiments = ExperimentStore(self.db, self.projects, self.datasets)
        self.metrics = MetricStore(self.db)
        self.artifacts = ArtifactStore(self.db, self.experiments)
        self.alerts = AlertStore(self.db, self.experiments)
        self.follow_state = FollowState(self.db)
        self.history = HistoryStore(self.db)

    def close(self) -> None:
        self.db.close()

    # --- the seed's API ------------------------------------------------------------------------
    def start_training(self, config: dict[str, Any]) -> int:
        """Record a new experiment from ``config`` (status "queued") and return its id; the
        engine (``Engine.submit``) checks and starts it."""
        return self.experiments.create(config)

    def get_experiment(self, experiment_id: int) -> Experiment:
        return self.experiments.get(experiment_id)

    def list_experiments(
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
        return self.experiments.query(
            project_id, status=status, dataset_id=dataset_id, search=search, limit=limit,
            offset=offset,
        )  # fmt: skip

    def update_experiment_status(
        self,
        experiment_id: int,
        status: str,
        *,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Move an experiment to ``status``; only legal transitions are accepted."""
        self.experiments.update_status(experiment_id, status, error=error, exit_code=exit_code)

    def update_training_metrics(self, experiment_id: int, metrics: dict[str, Any]) -> int:
        """Store one step's values, e.g. ``{"step": 1200, "loss": 0.31, "lr": 1e-3}``.
        Without ``step`` the experiment's current step is used. Non-numeric values raise."""
        current = None
        if isinstance(metrics, dict) and "step" not in metrics:
            current = self.experiments.get(experiment_id).summary.get("step")
        return self.metrics.add_step_values(experiment_id, metrics, current)

    def stop_training(self, experiment_id: int) -> str:
        """Stop an experiment (a queued one is cancelled; a live one is asked to stop); returns
        the status after the request. The engine does the work."""
        from .runs.engine import Engine

        return Engine(self).request_stop(experiment_id)

    def register_process(self, experiment_id: int, process: Any) -> None:
        """Remember the process running an experiment: a Popen-like object with ``pid``, or a
        pid. Its start time is recorded too, so a later pid reuse is never mistaken for it."""
        from .errors import NotFoundError
        from .process.procinfo import process_start_time

        pid = int(getattr(process, "pid", process))
        start = process_start_time(pid)
        if start is None:
            raise NotFoundError(f"No process with pid {pid} is running.")
        self.experiments.update(experiment_id, pid=pid, process_start_time=start)


def best_value(summary: dict[str, Any], name: str = "validation") -> float | None:
    """The lowest value of a metric in an experiment summary (None if it has none)."""
    m = summary.get("metrics", {}).get(name)
    v = None if m is None else m.get("min")
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
