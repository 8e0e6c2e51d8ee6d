"""HistoryStore: every run findable: notes, tags, archiving, and the history query.

The history reads summaries only, never the points: the experiment row keeps, beside its JSON
summary, the values the history sorts and filters by (steps reached, best and final
``validation``, the configuration's name) in columns (schema v7). ``summary_columns`` and
``config_label`` compute them; every write of the summary or the config sets them too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..status import LIVE, RunStatus
from .db import Database

VALIDATION = "validation"
MAX_TAG_LENGTH = 64
MAX_NOTES_LENGTH = 100_000


def _finite(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def summary_columns(summary: dict[str, Any]) -> dict[str, Any]:
    """The history's columns of a summary: steps, best_validation (its step) and
    final_validation (None where unknown or not a finite number)."""
    step = summary.get("step")
    m = (summary.get("metrics") or {}).get(VALIDATION) or {}
    best = _finite(m.get("min"))
    best_step = m.get("min_step") if best is not None else None
    return {
        "steps": int(step)
        if isinstance(step, int | float) and not isinstance(step, bool)
        else None,
        "best_validation": best,
        "best_validation_step": int(best_step) if isinstance(best_step, int) else None,
        "final_validation": _finite(m.get("last")),
    }


def config_label(config: dict[str, Any]) -> str:
    """The configuration of a run in one line: "v2 + causal" (base first, then modifiers);
    "" when it is not known (an imported run)."""
    configs = config.get("configs")
    if isinstance(configs, list) and configs:
        return " + ".join(str(c) for c in configs)
    return ""


def summary_sql(summary: dict[str, Any]) -> tuple[str, list[Any]]:
    """``SET`` assignments (and their values) for the summary and its columns."""
    cols = summary_columns(summary)
    sets = ["metrics = ?", *(f"{k} = ?" for k in cols)]
    return ", ".join(sets), [json.dumps(summary), *cols.values()]


def backfill_columns(conn: sqlite3.Connection) -> None:
    """Fill the v7 columns of the existing experiments from their summary and config."""
    rows = conn.execute("SELECT id, metrics, config FROM experiments").fetchall()
    for exp_id, metrics, config in rows:
        try:
            summary = json.loads(metrics or "{}")
            cfg = json.loads(config or "{}")
        except ValueError:
            continue
        cols = summary_columns(summary if isinstance(summary, dict) else {})
        cols["config_name"] = config_label(cfg if isinstance(cfg, dict) else {})
        conn.execute(
            f"UPDATE experiments SET {', '.join(f'{k} = ?' for k in cols)} WHERE id = ?",
            (*cols.values(), exp_id),
        )


@dataclass(frozen=True)
class HistoryFilter:
    """What the history shows. Empty fields do not filter; ``archived``: False hides the
    archived runs (the default), True shows only them, None shows both."""

    project_id: int | None = None
    statuses: tuple[str, ...] = ()
    dataset: str | None = None  # a dataset name
    config: str | None = None  # a configuration (base or modifier) the run used
    tag: str | None = None
    since: float | None = None  # started (or created) at or after
    until: float | None = None  # started (or created) before
    text: str = ""  # every word in the name, notes, tags, dataset, settings (overrides), error
    archived: bool | None = False


_TAGS_SQL = (
    "(SELECT group_concat(tag, ',') FROM (SELECT tag FROM run_tags t "
    "WHERE t.experiment_id = e.id ORDER BY tag))"
)
_WHEN = "coalesce(e.started_at, e.created_at)"


def _duration_sql(now: float) -> str:
    return (
        "(CASE WHEN e.started_at IS NULL THEN NULL ELSE "
        f"max(0.0, coalesce(e.completed_at, {now!r}) - e.started_at) END)"
    )


SORT_KEYS = (
    "id",
    "name",
    "project",
    "status",
    "started",
    "ended",
    "duration",
    "steps",
    "best_validation",
    "final_validation",
    "config",
    "dataset",
    "tags",
)


def _sort_sql(key: str, now: float) -> str:
    exprs = {
        "id": "e.id",
        "name": "e.name COLLATE NOCASE",
        "project": "p.name COLLATE NOCASE",
        "status": "e.status",
        "started": _WHEN,
        "ended": "e.completed_at",
        "duration": _duration_sql(now),
        "steps": "e.steps",
        "best_validation": "e.best_validation",
        "final_validation": "e.final_validation",
        "config": "nullif(e.config_name, '') COLLATE NOCASE",
        "dataset": "d.name COLLATE NOCASE",
        "tags": f"{_TAGS_SQL} COLLATE NOCASE",
    }
    if key not in exprs:
        raise ValidationError(f"Cannot sort by {key!r}: choose one of {', '.join(SORT_KEYS)}.")
    return exprs[key]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One run as the history lists it (no points, no process details)."""

    id: int
    project_id: int
    project_name: str
    name: str
    status: str
    created_at: float
    started_at: float | None
    completed_at: float | None
    steps: int | None
    best_validation: float | None
    best_validation_step: int | None
    final_validation: float | None
    config_name: str
    dataset_id: int | None
    dataset_name: str | None
    notes: str
    archived: bool
    error: str | None
    parent_id: int | None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_row(cls, row: sqlite3.Row | tuple, names: list[str]) -> HistoryRow:
        values = dict(zip(names, row, strict=True))
        tags = values.pop("tags")
        values["archived"] = bool(values["archived"])
        return cls(**values, tags=tuple(tags.split(",")) if tags else ())

    @property
    def is_live(self) -> bool:
        return self.status in LIVE

    def duration(self, now: float | None = None) -> float | None:
        """Seconds from start to end, or to now while the run has not ended."""
        if self.started_at is None:
            return None
        end = self.completed_at
        if end is None or self.is_live:
            end = time.time() if now is None else now
        return max(0.0, end - self.started_at)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["tags"] = list(self.tags)
        data["duration"] = self.duration()
        return data


_COLUMNS = (
    "e.id, e.project_id, p.name AS project_name, e.name, e.status, e.created_at, e.started_at, "
    "e.completed_at, e.steps, e.best_validation, e.best_validation_step, e.final_validation, "
    "e.config_name, e.dataset_id, d.name AS dataset_name, e.notes, e.archived, e.error, "
    f"e.parent_id, {_TAGS_SQL} AS tags"
)
_FROM = (
    " FROM experiments e JOIN projects p ON p.id = e.project_id "
    "LEFT JOIN datasets d ON d.id = e.dataset_id"
)


def check_tag(tag: Any) -> str:
    """A tag as stored: trimmed, one line, no comma, at most MAX_TAG_LENGTH characters."""
    if not isinstance(tag, str) or not tag.strip():
        raise ValidationError("A tag cannot be empty.")
    tag = tag.strip()
    if "," in tag or "\n" in tag or "\r" in tag:
        raise ValidationError(f"The tag {tag!r} has a comma or a line break: use one word.")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValidationError(f"A tag has at most {MAX_TAG_LENGTH} characters.")
    return tag


class HistoryStore:
    """Notes, tags and archiving of experiments, and the history's query over them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the query -----------------------------------------------------------------------------
    def _where(self, f: HistoryFilter) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if f.project_id is not None:
            where.append("e.project_id = ?")
            params.append(f.project_id)
        if f.statuses:
            for s in f.statuses:
                RunStatus.parse(s)
            where.append(f"e.status IN ({', '.join('?' * len(f.statuses))})")
            params += list(f.statuses)
        if f.dataset:
            where.append("d.name = ?")
            params.append(f.dataset)
        if f.config:
            where.append("(' + ' || e.config_name || ' + ') LIKE ? ESCAPE '\\'")
            params.append(_like(f" + {f.config.strip()} + "))
        if f.tag:
            where.append(
                "EXISTS (SELECT 1 FROM run_tags t WHERE t.experiment_id = e.id AND t.tag = ?)"
            )
            params.append(f.tag.strip())
        if f.since is not None:
            where.append(f"{_WHEN} >= ?")
            params.append(float(f.since))
        if f.until is not None:
            where.append(f"{_WHEN} < ?")
            params.append(float(f.until))
        fields = (
            "e.name",
            "e.notes",
            "coalesce(d.name, '')",
            "e.config",
            "coalesce(e.error, '')",
            "coalesce(" + _TAGS_SQL + ", '')",
        )
        for word in f.text.split():
            where.append("(" + " OR ".join(f"{x} LIKE ? ESCAPE '\\'" for x in fields) + ")")
            params += [_like(word)] * len(fields)
        if f.archived is not None:
            where.append("e.archived = ?")
            params.append(int(f.archived))
        return (" WHERE " + " AND ".join(where)) if where else "", params

    def query(
        self,
        f: HistoryFilter | None = None,
        *,
        sort: str = "started",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
        now: float | None = None,
    ) -> list[HistoryRow]:
        """The runs ``f`` keeps, sorted by ``sort`` (one of SORT_KEYS; runs without a value
        last, ties newest first), ``limit`` of them from ``offset``."""
        ids = self.ids(f, sort=sort, descending=descending, limit=limit, offset=offset, now=now)
        return self.rows(ids)

    def ids(
        self,
        f: HistoryFilter | None = None,
        *,
        sort: str = "started",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
        now: float | None = None,
    ) -> list[int]:
        """The ids of ``query``'s runs, in its order (sorting only what the order needs: the
        history reads the rows of a page with ``rows``)."""
        f = f or HistoryFilter()
        now = time.time() if now is None else now
        where, params = self._where(f)
        key = _sort_sql(sort, now)
        order = "DESC" if descending else "ASC"
        # only the joins the filter and the order need; "started" is never missing (a run not
        # started yet sorts by its creation): then the index (project, archived, started, id)
        # gives the order without reading the table
        joins = ""
        if "d." in where or "d." in key:
            joins += " LEFT JOIN datasets d ON d.id = e.dataset_id"
        if "p." in where or "p." in key:
            joins += " JOIN projects p ON p.id = e.project_id"
        nulls = "" if sort in ("started", "id", "name", "status") else f"({key}) IS NULL, "
        sql = (
            f"SELECT e.id FROM experiments e{joins}{where} "
            f"ORDER BY {nulls}{key} {order}, e.id {order}"
        )
        if limit is not None:
            if limit < 0 or offset < 0:
                raise ValidationError("The limit and offset of a history page cannot be negative.")
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        with self.db.guard():
            return [r[0] for r in self.db.execute(sql, tuple(params)).fetchall()]

    def rows(self, ids: list[int]) -> list[HistoryRow]:
        """The history rows of these runs, in this order (runs deleted since are left out)."""
        by_id: dict[int, HistoryRow] = {}
        with self.db.guard():
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                cur = self.db.execute(
                    f"SELECT {_COLUMNS}{_FROM} WHERE e.id IN ({', '.join('?' * len(part))})",
                    tuple(part),
                )
                names = [d[0] for d in cur.description]
                for r in cur.fetchall():
                    by_id[r[0]] = HistoryRow.from_row(r, names)
        return [by_id[i] for i in ids if i in by_id]

    def count(self, f: HistoryFilter | None = None) -> int:
        where, params = self._where(f or HistoryFilter())
        with self.db.guard():
            return int(
                self.db.execute(f"SELECT count(*){_FROM}{where}", tuple(params)).fetchone()[0]
            )

    def choices(self, project_id: int | None = None) -> dict[str, list[str]]:
        """What the filters offer: the datasets, configurations and tags in use."""
        scope, params = ("WHERE e.project_id = ?", (project_id,)) if project_id else ("", ())
        with self.db.guard():
            datasets = self.db.execute(
                "SELECT DISTINCT d.name FROM datasets d WHERE EXISTS (SELECT 1 FROM experiments e "
                f"WHERE e.dataset_id = d.id{' AND e.project_id = ?' if project_id else ''}) "
                "ORDER BY d.name COLLATE NOCASE",
                params,
            ).fetchall()
            labels = self.db.execute(
                f"SELECT DISTINCT config_name FROM experiments e {scope}", params
            ).fetchall()
            tags = self.db.execute(
                "SELECT DISTINCT t.tag FROM run_tags t JOIN experiments e "
                f"ON e.id = t.experiment_id {scope} ORDER BY t.tag COLLATE NOCASE",
                params,
            ).fetchall()
        configs = sorted({c for (label,) in labels if label for c in label.split(" + ")})
        return {
            "datasets": [r[0] for r in datasets],
            "configs": configs,
            "tags": [r[0] for r in tags],
        }

    # --- notes, tags, archive ------------------------------------------------------------------
    def _exists(self, experiment_id: int) -> None:
        row = self.db.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no experiment with id {experiment_id}.")

    def notes(self, experiment_id: int) -> str:
        self._exists(experiment_id)
        row = self.db.execute("SELECT notes FROM experiments WHERE id = ?", (experiment_id,))
        return str(row.fetchone()[0])

    def set_notes(self, experiment_id: int, text: str) -> None:
        if not isinstance(text, str):
            raise ValidationError("Notes are text.")
        if len(text) > MAX_NOTES_LENGTH:
            raise ValidationError(f"Notes have at most {MAX_NOTES_LENGTH:,} characters.")
        with self.db.transaction() as conn:
            self._exists(experiment_id)
            conn.execute("UPDATE experiments SET notes = ? WHERE id = ?", (text, experiment_id))

    def tags(self, experiment_id: int) -> list[str]:
        self._exists(experiment_id)
        rows = self.db.execute(
            "SELECT tag FROM run_tags WHERE experiment_id = ? ORDER BY tag", (experiment_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def add_tags(self, experiment_id: int, tags: Iterable[str]) -> list[str]:
        """Tag a run (a tag it has already stays once); its tags after."""
        checked = [check_tag(t) for t in tags]
        with self.db.transaction() as conn:
            self._exists(experiment_id)
            conn.executemany(
                "INSERT OR IGNORE INTO run_tags (experiment_id, tag) VALUES (?, ?)",
                [(experiment_id, t) for t in checked],
            )
        return self.tags(experiment_id)

    def remove_tags(self, experiment_id: int, tags: Iterable[str]) -> list[str]:
        """Remove tags from a run (one it does not have is ignored); its tags after."""
        names = [t.strip() for t in tags]
        with self.db.transaction() as conn:
            self._exists(experiment_id)
            conn.executemany(
                "DELETE FROM run_tags WHERE experiment_id = ? AND tag = ?",
                [(experiment_id, t) for t in names],
            )
        return self.tags(experiment_id)

    def set_tags(self, experiment_id: int, tags: Iterable[str]) -> list[str]:
        """Replace a run's tags."""
        checked = sorted({check_tag(t) for t in tags})
        with self.db.transaction() as conn:
            self._exists(experiment_id)
            conn.execute("DELETE FROM run_tags WHERE experiment_id = ?", (experiment_id,))
            conn.executemany(
                "INSERT INTO run_tags (experiment_id, tag) VALUES (?, ?)",
                [(experiment_id, t) for t in checked],
            )
        return checked

    def set_archived(self, experiment_id: int, archived: bool = True) -> None:
        """Hide a run from the history (archived) or show it again."""
        with self.db.transaction() as conn:
            self._exists(experiment_id)
            conn.execute(
                "UPDATE experiments SET archived = ? WHERE id = ?", (int(archived), experiment_id)
            )

    # --- what the run detail and deleting read ------------------------------------------------
    def resumed_by(self, experiment_id: int) -> list[tuple[int, str]]:
        """The runs resumed from this one (id, name), oldest first."""
        rows = self.db.execute(
            "SELECT id, name FROM experiments WHERE parent_id = ? ORDER BY id", (experiment_id,)
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def other_run_dirs(self, experiment_id: int) -> list[tuple[str, str]]:
        """The (name, run folder) of every other run that has a folder."""
        rows = self.db.execute(
            "SELECT name, run_dir FROM experiments WHERE id != ? AND run_dir IS NOT NULL",
            (experiment_id,),
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def wall_time_at(self, experiment_id: int, name: str, step: int) -> float | None:
        """When the run wrote its first point of series ``name`` at or after ``step``."""
        row = self.db.execute(
            "SELECT wall_time FROM metric_points WHERE experiment_id = ? AND name = ? "
            "AND step >= ? ORDER BY step LIMIT 1",
            (experiment_id, name, step),
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def is_archived(self, experiment_id: int) -> bool:
        self._exists(experiment_id)
        row = self.db.execute("SELECT archived FROM experiments WHERE id = ?", (experiment_id,))
        return bool(row.fetchone()[0])


__all__ = [
    "SORT_KEYS",
    "HistoryFilter",
    "HistoryRow",
    "HistoryStore",
    "backfill_columns",
    "check_tag",
    "config_label",
    "summary_columns",
]
