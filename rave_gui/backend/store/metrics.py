"""MetricStore: an experiment's metric series (points, per-series stats, the run summary).

Writes go through the tile pyramid in ``tiles``; reads either walk the points or take a
reduced view of the tiles. The experiment row keeps a small JSON summary (current step; per
metric the last, min and max) for the tables, folded in as points arrive.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NotFoundError, ValidationError
from .db import Database
from .history import summary_sql
from .tiles import (
    Bucket,
    Point,
    _none_to_nan,
    group_points,
    reduce_series,
    reduce_series_xy,
    series_extremes,
    step_range,
    update_tiles,
    write_series,
)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    name: str
    count: int
    first_step: int
    last_step: int
    last_value: float
    min_value: float
    max_value: float


def iter_points(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str | None = None,
    after_step: int | None = None,
) -> Iterator[tuple[str, int, float, float | None]]:
    """Every stored point (name, step, value, wall_time) in name then step order (only those
    after ``after_step`` when given)."""
    sql = "SELECT name, step, value, wall_time FROM metric_points WHERE experiment_id = ?"
    params: tuple = (experiment_id,)
    if name is not None:
        sql += " AND name = ?"
        params += (name,)
    if after_step is not None:
        sql += " AND step > ?"
        params += (after_step,)
    cur = conn.execute(sql + " ORDER BY name, step", params)
    while rows := cur.fetchmany(10_000):
        for n, s, v, w in rows:
            yield n, s, _none_to_nan(v), w


def series_names(conn: sqlite3.Connection, experiment_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM metric_series WHERE experiment_id = ? ORDER BY name", (experiment_id,)
    ).fetchall()
    return [r[0] for r in rows]


def series_stats(
    conn: sqlite3.Connection, experiment_id: int, only: str | None = None
) -> list[SeriesStats]:
    """Per series (or just the one named ``only``): number of points, first and last step,
    last, min and max value."""
    out = []
    names = series_names(conn, experiment_id) if only is None else [only]
    for name in names:
        update_tiles(conn, experiment_id, name)
        rng = step_range(conn, experiment_id, name)
        if rng is None:
            continue
        first, last = rng
        count = conn.execute(
            "SELECT count(*) FROM metric_points WHERE experiment_id = ? AND name = ?",
            (experiment_id, name),
        ).fetchone()[0]
        last_value = conn.execute(
            "SELECT value FROM metric_points WHERE experiment_id = ? AND name = ? AND step = ?",
            (experiment_id, name, last),
        ).fetchone()[0]
        mn, mx = series_extremes(conn, experiment_id, name)
        out.append(
            SeriesStats(
                name=name,
                count=int(count),
                first_step=int(first),
                last_step=int(last),
                last_value=_none_to_nan(last_value),
                min_value=_none_to_nan(mn),
                max_value=_none_to_nan(mx),
            )
        )
    return out


def merge_summary(
    summary: dict, series: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]
) -> dict:
    """Fold per-name arrays (steps, values, walls) into an experiment's small JSON summary:
    the current step and, per metric, the last value (at the highest step), min and max."""
    metrics: dict[str, dict] = summary.setdefault("metrics", {})
    step = summary.get("step")
    for name, (steps, values, _walls) in series.items():
        if steps.size == 0:
            continue
        i_last = int(np.argmax(steps))  # first occurrence; a later equal step replaces it
        i_last = int(np.flatnonzero(steps == steps[i_last])[-1])
        s_last, v_last = int(steps[i_last]), float(values[i_last])
        m = metrics.get(name)
        if m is None:
            m = metrics[name] = {"last": v_last, "last_step": s_last, "min": None, "max": None}
        elif s_last >= m["last_step"]:
            m["last"], m["last_step"] = v_last, s_last
        ok = ~np.isnan(values)
        if ok.any():
            vals = np.where(ok, values, np.inf)
            i = int(np.argmin(vals))
            if m["min"] is None or vals[i] < m["min"]:
                m["min"], m["min_step"] = float(vals[i]), int(steps[i])
            vals = np.where(ok, values, -np.inf)
            i = int(np.argmax(vals))
            if m["max"] is None or vals[i] > m["max"]:
                m["max"], m["max_step"] = float(vals[i]), int(steps[i])
        if step is None or s_last > step:
            step = s_last
    if step is not None:
        summary["step"] = step
    return summary


class MetricStore:
    """Metric points of experiments, stored in batches, read whole or reduced."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add_points(self, experiment_id: int, points: Iterable[Point]) -> int:
        """Store a batch of points (name, step, value, wall_time) in one transaction and fold
        them into the experiment's summary. Returns the number stored."""
        return self.add_series(experiment_id, group_points(points))

    def add_series(self, experiment_id: int, series: dict[str, tuple[Any, Any, Any]]) -> int:
        """Store per-name arrays ``{name: (steps, values, wall_times)}`` in one transaction
        (the fast path for bulk imports) and fold them into the experiment's summary."""
        if not series:
            return 0
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT metrics FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"There is no experiment with id {experiment_id}.")
            arrays = {
                str(n): (
                    np.asarray(s, dtype=np.int64),
                    np.asarray(v, dtype=np.float64),
                    None if w is None else np.asarray(w, dtype=np.float64),
                )
                for n, (s, v, w) in series.items()
            }
            total = 0
            for name, (steps, values, walls) in arrays.items():
                if steps.shape != values.shape:
                    raise ValidationError(f"Series {name!r}: steps and values differ in length.")
                write_series(conn, experiment_id, name, steps, values, walls)
                total += steps.size
            summary = json.loads(row[0] or "{}")
            known = summary.get("metrics", {})
            rewritten = [
                n for n, (s, _v, _w) in arrays.items()
                if n in known and s.size and int(s.min()) <= known[n]["last_step"]
            ]  # fmt: skip
            summary = merge_summary(summary, arrays)
            for name in rewritten:  # a point may have replaced the min or max: recompute
                update_tiles(conn, experiment_id, name)
                stats = {st.name: st for st in series_stats(conn, experiment_id, only=name)}
                st = stats.get(name)
                if st is not None:
                    m = summary["metrics"][name]
                    m["min"] = None if st.min_value != st.min_value else st.min_value
                    m["max"] = None if st.max_value != st.max_value else st.max_value
            sets, summary_values = summary_sql(summary)
            conn.execute(
                f"UPDATE experiments SET {sets}, updated_at = ? WHERE id = ?",
                (*summary_values, time.time(), experiment_id),
            )
        return total

    def add_step_values(
        self, experiment_id: int, values: dict[str, Any], current_step: int | None
    ) -> int:
        """Store one step's values, e.g. ``{"step": 1200, "loss": 0.31, "lr": 1e-3}``;
        without ``step``, ``current_step`` (or 0). Non-numeric values raise."""
        if not isinstance(values, dict):
            raise ValidationError("Metrics must be a mapping of names to numbers.")
        values = dict(values)
        step = values.pop("step", None)
        wall = values.pop("wall_time", None) or time.time()
        if step is None:
            step = current_step or 0
        try:
            step = int(step)
        except (TypeError, ValueError) as err:
            raise ValidationError(f"The step {step!r} is not an integer.") from err
        pts = []
        for name, value in values.items():
            try:
                pts.append((str(name), step, float(value), float(wall)))
            except (TypeError, ValueError) as err:
                raise ValidationError(f"The metric {name!r} = {value!r} is not a number.") from err
        return self.add_points(experiment_id, pts)

    def build_tiles(self, experiment_id: int) -> None:
        """Bring every series' reduction tiles up to date now (after a bulk import, so the
        first plot of the run is as fast as the next ones)."""
        with self.db.guard():
            for name in series_names(self.db.conn, experiment_id):
                update_tiles(self.db.conn, experiment_id, name)

    def names(self, experiment_id: int) -> list[str]:
        with self.db.guard():
            return series_names(self.db.conn, experiment_id)

    def stats(self, experiment_id: int) -> list[SeriesStats]:
        with self.db.guard():
            return series_stats(self.db.conn, experiment_id)

    def reduced(
        self,
        experiment_id: int,
        name: str,
        start: int | None = None,
        end: int | None = None,
        buckets: int = 2000,
    ) -> list[Bucket]:
        with self.db.guard():
            return reduce_series(self.db.conn, experiment_id, name, start, end, buckets)

    def reduced_xy(
        self,
        experiment_id: int,
        name: str,
        start: int | None = None,
        end: int | None = None,
        buckets: int = 2000,
        width: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int | None]:
        """``reduced`` as the steps and values to draw, and the highest step read; with
        ``width``, buckets that many steps wide (see ``reduce_series_xy``)."""
        with self.db.guard():
            return reduce_series_xy(self.db.conn, experiment_id, name, start, end, buckets, width)

    def iter_points(
        self, experiment_id: int, name: str | None = None, after_step: int | None = None
    ) -> Iterator[tuple[str, int, float, float | None]]:
        """Every stored point (name, step, value, wall_time), in name then step order, read
        lazily (an SQLite failure on the way is reported as DatabaseError)."""
        with self.db.guard():
            known = self.db.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,))
            if known.fetchone() is None:
                raise NotFoundError(f"There is no experiment with id {experiment_id}.")
        return self._guarded(iter_points(self.db.conn, experiment_id, name, after_step))

    def _guarded(self, items: Iterator[Any]) -> Iterator[Any]:
        with self.db.guard():
            yield from items

    def latest(
        self, experiment_id: int, names: Iterable[str], n: int = 2
    ) -> dict[str, list[tuple[int, float]]]:
        """The last ``n`` points (step, value) of each named series, oldest first (an index
        seek per series, whatever the run's length); series without points are left out."""
        out: dict[str, list[tuple[int, float]]] = {}
        with self.db.guard():
            for name in names:
                rows = self.db.execute(
                    "SELECT step, value FROM metric_points WHERE experiment_id = ? AND name = ?"
                    " ORDER BY step DESC LIMIT ?",
                    (experiment_id, name, n),
                ).fetchall()
                if rows:
                    out[name] = [
                        (int(st), float("nan") if v is None else float(v))
                        for st, v in reversed(rows)
                    ]
        return out

    def step_at_time(self, experiment_id: int, wall_time: float) -> int | None:
        """The highest step logged at or before ``wall_time`` (to date a checkpoint file)."""
        row = self.db.execute(
            "SELECT max(step) FROM metric_points WHERE experiment_id = ? AND wall_time <= ?",
            (experiment_id, wall_time + 1.0),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def value_at_or_before(self, experiment_id: int, name: str, step: int) -> float | None:
        """The value of series ``name`` at ``step``, or at the last step before it it was
        logged at (None: none logged by then)."""
        row = self.db.execute(
            "SELECT value FROM metric_points WHERE experiment_id = ? AND name = ? AND step <= ? "
            "ORDER BY step DESC LIMIT 1",
            (experiment_id, name, step),
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def pace(self, experiment_id: int) -> float | None:
        """A run's steps per second over its own timeline (first to last point with a wall
        time); None when fewer than two such points."""
        row = self.db.execute(
            "SELECT min(step), max(step), min(wall_time), max(wall_time) FROM metric_points "
            "WHERE experiment_id = ? AND wall_time IS NOT NULL",
            (experiment_id,),
        ).fetchone()
        if row is None or None in row or row[3] <= row[2] or row[1] <= row[0]:
            return None
        return (row[1] - row[0]) / (row[3] - row[2])
