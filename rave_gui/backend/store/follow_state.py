"""FollowState: how far a follower has read each file of a run (so nothing is read twice)."""

from __future__ import annotations

from .db import Database


class FollowState:
    def __init__(self, db: Database) -> None:
        self.db = db

    def offsets(self, experiment_id: int) -> dict[str, int]:
        with self.db.guard():
            return {
                r[0]: int(r[1])
                for r in self.db.execute(
                    "SELECT path, offset FROM follow_offsets WHERE experiment_id = ?",
                    (experiment_id,),
                )
            }

    def offset(self, experiment_id: int, key: str = "log") -> int | None:
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
