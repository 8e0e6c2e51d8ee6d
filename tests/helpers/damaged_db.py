"""Real databases with real damage: pages of a table overwritten in the middle of the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from rave_gui.backend.manager import TrainingManager


def make_store(path: Path, n: int = 40, points: int = 2000) -> TrainingManager:
    """A real database: ``n`` experiments with long configs and ``points`` loss points each."""
    tm = TrainingManager(path)
    for i in range(n):
        exp = tm.start_training({"name": f"run {i}", "notes": "x" * 3000})
        steps = np.arange(points)
        tm.metrics.add_series(exp, {"loss": (steps, np.linspace(1, 0, points), None)})
    return tm


def damage(path: Path, *tables: str) -> None:
    """Overwrite every leaf page of ``tables`` (their root pages stay, so the file opens) in the
    database file, as a failing disk or a copy gone wrong would."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    marks = ",".join("?" * len(tables))
    pages = [
        r[0]
        for r in conn.execute(
            f"SELECT pageno FROM dbstat WHERE name IN ({marks}) AND pagetype = 'leaf'", tables
        )
    ]
    conn.close()
    assert pages, tables
    with open(path, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * page_size)
            f.write(b"\xa5" * page_size)


def damaged_store(path: Path, *tables: str) -> Path:
    """A database at ``path`` whose ``tables`` are damaged."""
    make_store(path).close()
    damage(path, *tables)
    return path
