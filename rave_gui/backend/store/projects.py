"""ProjectStore: the projects table (a project groups datasets and experiments)."""

from __future__ import annotations

import sqlite3
import time

from ..errors import DuplicateNameError, InUseError, NotFoundError
from ..status import ACTIVE
from .db import Database
from .names import check_name
from .records import Project
from .rows import all_rows, one

DEFAULT_PROJECT = "Default"


def _clash(conn: sqlite3.Connection, name: str, project_id: int | None = None) -> None:
    """DuplicateNameError if another project has ``name``, in any case ("Default" and
    "default" would be told apart by no one). Compared in Python: SQLite's lower() folds
    ASCII letters only, and names take letters of any script."""
    folded = name.casefold()
    for other_id, other in conn.execute("SELECT id, name FROM projects"):
        if other_id != project_id and str(other).casefold() == folded:
            same = "" if other == name else " (names differing only in case are the same name)"
            raise DuplicateNameError(
                f"A project named {other!r} already exists{same}: pick another name."
            )


class ProjectStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, description: str = "") -> int:
        name = check_name(name, "project")
        with self.db.transaction() as conn:
            _clash(conn, name)
            cur = conn.execute(
                "INSERT INTO projects (name, description, created_at) VALUES (?, ?, ?)",
                (name, description, time.time()),
            )
            return int(cur.lastrowid or 0)

    def default_id(self) -> int:
        """The first project, creating a project named "Default" in an empty database (in one
        transaction: two programs opening a new database at once get the same project)."""
        row = one(self.db, "SELECT id FROM projects ORDER BY id LIMIT 1")
        if row:
            return int(row["id"])
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO projects (name, description, created_at) VALUES (?, '', ?) "
                "ON CONFLICT (name) DO NOTHING",
                (DEFAULT_PROJECT, time.time()),
            )
            return int(conn.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0])

    def get(self, project_id: int) -> Project:
        row = one(self.db, "SELECT * FROM projects WHERE id = ?", (project_id,))
        if row is None:
            raise NotFoundError(f"There is no project with id {project_id}.")
        return Project.from_row(row)

    def find(self, name_or_id: str | int) -> Project:
        if isinstance(name_or_id, int) or str(name_or_id).isdigit():
            row = one(self.db, "SELECT * FROM projects WHERE id = ?", (int(name_or_id),))
            if row:
                return Project.from_row(row)
        row = one(self.db, "SELECT * FROM projects WHERE name = ?", (str(name_or_id),))
        if row is None:
            raise NotFoundError(f"There is no project {name_or_id!r}.")
        return Project.from_row(row)

    def all(self) -> list[Project]:
        rows = all_rows(
            self.db,
            "SELECT p.*, (SELECT count(*) FROM experiments e WHERE e.project_id = p.id) "
            "AS n_experiments, (SELECT count(*) FROM datasets d WHERE d.project_id = p.id) "
            "AS n_datasets FROM projects p ORDER BY p.name COLLATE NOCASE",
        )
        return [Project.from_row(r) for r in rows]

    def rename(self, project_id: int, name: str) -> None:
        name = check_name(name, "project")
        with self.db.transaction() as conn:
            self.get(project_id)
            _clash(conn, name, project_id)
            conn.execute("UPDATE projects SET name = ? WHERE id = ?", (name, project_id))

    def delete_refusal(self, project_id: int) -> str | None:
        """Why :meth:`delete` would refuse the project whatever the user chooses (it has active
        runs), or None: asked before the user is asked to confirm."""
        project = self.get(project_id)
        row = one(
            self.db,
            "SELECT count(*) AS n FROM experiments WHERE project_id = ? AND status IN (?, ?, ?, ?)",
            (project_id, *ACTIVE),
        )
        n_active = int(row["n"]) if row else 0
        if not n_active:
            return None
        runs = "an active run" if n_active == 1 else f"{n_active} active runs"
        them = "it" if n_active == 1 else "them"
        return f"Project {project.name!r} has {runs}: stop {them} first."

    def delete(self, project_id: int, *, delete_experiments: bool = False) -> None:
        """Delete a project. Its datasets' registrations go with it (files on disk stay).

        A project holding experiments is deleted only with ``delete_experiments=True``, which
        deletes them and their metrics too; a project with an active run is never deleted.
        """
        with self.db.transaction() as conn:
            project = self.get(project_id)
            refused = self.delete_refusal(project_id)
            if refused:
                raise InUseError(refused)
            (n_exp,) = conn.execute(
                "SELECT count(*) FROM experiments WHERE project_id = ?", (project_id,)
            ).fetchone()
            if n_exp and not delete_experiments:
                raise InUseError(
                    f"Project {project.name!r} holds {n_exp} experiment(s); delete them with "
                    "the project, or move them first."
                )
            conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))
