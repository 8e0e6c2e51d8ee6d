"""ArtifactStore: what runs leave on disk: checkpoints and the models exported from them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InUseError, NotFoundError, ValidationError
from ..status import Action, refusal
from .db import Database
from .experiments import ExperimentStore
from .records import Checkpoint, ExportedModel
from .rows import all_rows


class ArtifactStore:
    def __init__(self, db: Database, experiments: ExperimentStore) -> None:
        self.db = db
        self.experiments = experiments

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

    def checkpoints(self, experiment_id: int) -> list[Checkpoint]:
        rows = all_rows(
            self.db,
            "SELECT * FROM checkpoints WHERE experiment_id = ? ORDER BY coalesce(step, -1), path",
            (experiment_id,),
        )
        return [Checkpoint.from_row(r) for r in rows]

    def delete_checkpoints(
        self, experiment_id: int, paths: Iterable[str | os.PathLike[str]]
    ) -> int:
        """Delete checkpoint files of an experiment (to free disk) and their rows; returns the
        bytes freed. Only files recorded as this experiment's checkpoints are touched, and
        never while its process may still write or resume from them."""
        exp = self.experiments.get(experiment_id)
        if reason := refusal(exp.status, Action.DELETE_CHECKPOINTS):
            raise InUseError(f"Experiment {exp.name!r} {reason}")
        known = {str(Path(c.path)): c for c in self.checkpoints(experiment_id)}
        wanted = [str(Path(p)) for p in paths]
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise NotFoundError(f"{unknown[0]} is not a checkpoint of {exp.name!r}.")
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
            gone.append(known[p].path)
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
            self.experiments.get(experiment_id)
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

    def exported_models(
        self, experiment_id: int | None = None, *, project_id: int | None = None
    ) -> list[ExportedModel]:
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
        rows = all_rows(self.db, sql + " ORDER BY m.created_at DESC, m.id DESC", params)
        return [ExportedModel.from_row(r) for r in rows]
