"""DatasetStore: registered preprocessed RAVE datasets (the files stay where they are)."""

from __future__ import annotations

import os
import time

from ..errors import DuplicateNameError, InUseError, NotFoundError
from ..rave.dataset import read_dataset
from ..status import ACTIVE
from .db import Database
from .names import check_name
from .projects import ProjectStore
from .records import Dataset
from .rows import all_rows, one


class DatasetStore:
    def __init__(self, db: Database, projects: ProjectStore) -> None:
        self.db = db
        self.projects = projects

    def register(
        self, project_id: int, path: str | os.PathLike[str], name: str | None = None
    ) -> int:
        """Register a preprocessed RAVE dataset folder (validated; its metadata is read)."""
        info = read_dataset(path)
        name = check_name(name if name is not None else info.path.name, "dataset")
        with self.db.transaction() as conn:
            self.projects.get(project_id)
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

    def get(self, dataset_id: int) -> Dataset:
        row = one(self.db, "SELECT * FROM datasets WHERE id = ?", (dataset_id,))
        if row is None:
            raise NotFoundError(f"There is no dataset with id {dataset_id}.")
        return Dataset.from_row(row)

    def all(self, project_id: int | None = None) -> list[Dataset]:
        sql = (
            "SELECT d.*, (SELECT count(*) FROM experiments e WHERE e.dataset_id = d.id) "
            "AS n_experiments FROM datasets d"
        )
        params: tuple = ()
        if project_id is not None:
            sql += " WHERE d.project_id = ?"
            params = (project_id,)
        rows = all_rows(self.db, sql + " ORDER BY d.name COLLATE NOCASE", params)
        return [Dataset.from_row(r) for r in rows]

    def rename(self, dataset_id: int, name: str) -> None:
        name = check_name(name, "dataset")
        with self.db.transaction() as conn:
            ds = self.get(dataset_id)
            if conn.execute(
                "SELECT 1 FROM datasets WHERE project_id = ? AND name = ? AND id != ?",
                (ds.project_id, name, dataset_id),
            ).fetchone():
                raise DuplicateNameError(f"This project already has a dataset named {name!r}.")
            conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (name, dataset_id))

    def delete_refusal(self, dataset_id: int) -> str | None:
        """Why :meth:`delete` would refuse the dataset whatever the user chooses (an active run
        uses it), or None: asked before the user is asked to confirm."""
        ds = self.get(dataset_id)
        row = one(
            self.db,
            "SELECT count(*) AS n FROM experiments WHERE dataset_id = ? AND status IN (?, ?, ?, ?)",
            (dataset_id, *ACTIVE),
        )
        n_active = int(row["n"]) if row else 0
        if not n_active:
            return None
        runs = "an active run" if n_active == 1 else f"{n_active} active runs"
        them = "it" if n_active == 1 else "them"
        return f"Dataset {ds.name!r} is used by {runs}: stop {them} first, or wait for the end."

    def delete(self, dataset_id: int, *, detach_experiments: bool = False) -> None:
        """Forget a dataset registration (its files stay on disk).

        Experiments that used it keep their config (which records the dataset path) and are
        detached only with ``detach_experiments=True``; an active run blocks the deletion.
        """
        with self.db.transaction() as conn:
            ds = self.get(dataset_id)
            refused = self.delete_refusal(dataset_id)
            if refused:
                raise InUseError(refused)
            (n_exp,) = conn.execute(
                "SELECT count(*) FROM experiments WHERE dataset_id = ?", (dataset_id,)
            ).fetchone()
            if n_exp and not detach_experiments:
                raise InUseError(
                    f"Dataset {ds.name!r} is used by {n_exp} experiment(s); detach them to "
                    "delete it (they keep their history)."
                )
            conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
