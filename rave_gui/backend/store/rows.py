"""Turning SQLite rows into dicts of column values (the records of .records are built from
them), with SQLite failures reported as DatabaseError."""

from __future__ import annotations

import sqlite3
from typing import Any

from .db import Database


def as_dict(cur: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def one(db: Database, sql: str, params: tuple = ()) -> dict[str, Any] | None:
    with db.guard():
        cur = db.execute(sql, params)
        row = cur.fetchone()
    return None if row is None else as_dict(cur, row)


def all_rows(db: Database, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
    with db.guard():
        cur = db.execute(sql, tuple(params))
        rows = cur.fetchall()
    return [as_dict(cur, r) for r in rows]
