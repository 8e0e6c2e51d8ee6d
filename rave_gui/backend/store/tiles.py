"""Metric points and their min/max tile pyramid: writing series, reduced reads.

Points live in ``metric_points`` keyed by (experiment, name, step). Beside them, each series
keeps a pyramid of tiles (``metric_tiles``): level k covers ``TILE_BASE ** k`` steps per tile and
keeps the first, min, max, last and first-NaN point of the points inside. A reduced read over any
step range picks the coarsest level that still fits the bucket width, so reading a series of
millions of points costs about the same as reading a short one, and no spike, NaN or inf is lost.

Writes only insert points and note, per series, the first step written since the tiles were
last built (``metric_series.dirty_from``); the next reduced read rebuilds the tiles from there.
Live writes stay as cheap as inserts, and a rewritten point never leaves a stale tile.

SQLite stores a float NaN as NULL: a point's ``value`` is NULL exactly when it is NaN.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

TILE_BASE = 16
TILE_LEVELS = 6  # 16 .. 16**6 (16.7M) steps per tile

Point = tuple[str, int, float, "float | None"]  # (name, step, value, wall_time)


@dataclass(frozen=True, slots=True)
class Bucket:
    """The points that keep a bucket's shape: first, min, max, last, and its first NaN."""

    first_step: int
    first_value: float
    min_step: int
    min_value: float
    max_step: int
    max_value: float
    last_step: int
    last_value: float
    nan_step: int | None

    def points(self) -> list[tuple[int, float]]:
        """The bucket's distinct points in step order (a NaN point breaks a plotted line)."""
        pts = {
            self.first_step: self.first_value,
            self.min_step: self.min_value,
            self.max_step: self.max_value,
            self.last_step: self.last_value,
        }
        if self.nan_step is not None:
            pts[self.nan_step] = math.nan
        return sorted(pts.items())


def _nan_to_none(v: float) -> float | None:
    return None if v != v else v


def _none_to_nan(v: float | None) -> float:
    return math.nan if v is None else v


# --- aggregation of sorted groups (numpy) -----------------------------------------------------


@dataclass(slots=True)
class _Agg:
    """Column arrays of aggregated groups (tiles or buckets); NaN values are np.nan."""

    key: np.ndarray
    first_step: np.ndarray
    first_value: np.ndarray
    last_step: np.ndarray
    last_value: np.ndarray
    min_step: np.ndarray
    min_value: np.ndarray
    max_step: np.ndarray
    max_value: np.ndarray
    nan_step: np.ndarray  # -1 where none  (steps are >= 0 in practice; see NO_NAN)


NO_NAN = np.iinfo(np.int64).min


def _first_true_per_group(mask: np.ndarray, starts: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the first True of ``mask`` inside each group, -1 where a group has none."""
    out = np.full(n_groups, -1, dtype=np.int64)
    idx = np.flatnonzero(mask)
    if idx.size:
        groups = np.searchsorted(starts, idx, side="right") - 1
        uniq, first = np.unique(groups, return_index=True)
        out[uniq] = idx[first]
    return out


def _aggregate(key: np.ndarray, src: _Agg) -> _Agg:
    """Merge consecutive rows of ``src`` that share ``key`` (``key`` must be non-decreasing)."""
    n = key.size
    if n == 0:
        return src
    starts = np.concatenate(([0], np.flatnonzero(key[1:] != key[:-1]) + 1))
    ends = np.concatenate((starts[1:], [n])) - 1
    g = starts.size
    minv = src.min_value
    maxv = src.max_value
    min_nan = np.isnan(minv)
    max_nan = np.isnan(maxv)
    gmin = np.minimum.reduceat(np.where(min_nan, np.inf, minv), starts)
    gmax = np.maximum.reduceat(np.where(max_nan, -np.inf, maxv), starts)
    # argmin / argmax: first row of each group whose value equals the group's extreme
    seg = np.repeat(np.arange(g), np.diff(np.concatenate((starts, [n]))))
    imin = _first_true_per_group(~min_nan & (minv == gmin[seg]), starts, g)
    imax = _first_true_per_group(~max_nan & (maxv == gmax[seg]), starts, g)
    none_min = imin < 0  # every value of the group is NaN
    none_max = imax < 0
    imin = np.where(none_min, starts, imin)
    imax = np.where(none_max, starts, imax)
    has_nan = src.nan_step != NO_NAN
    inan = _first_true_per_group(has_nan, starts, g)
    nan_step = np.where(inan >= 0, src.nan_step[np.maximum(inan, 0)], NO_NAN)
    return _Agg(
        key=key[starts],
        first_step=src.first_step[starts],
        first_value=src.first_value[starts],
        last_step=src.last_step[ends],
        last_value=src.last_value[ends],
        min_step=np.where(none_min, src.first_step[starts], src.min_step[imin]),
        min_value=np.where(none_min, np.nan, gmin),
        max_step=np.where(none_max, src.first_step[starts], src.max_step[imax]),
        max_value=np.where(none_max, np.nan, gmax),
        nan_step=nan_step,
    )


def _points_agg(steps: np.ndarray, values: np.ndarray) -> _Agg:
    nan = np.isnan(values)
    return _Agg(
        key=steps,
        first_step=steps,
        first_value=values,
        last_step=steps,
        last_value=values,
        min_step=steps,
        min_value=values,
        max_step=steps,
        max_value=values,
        nan_step=np.where(nan, steps, NO_NAN),
    )


def _floats(a: np.ndarray) -> list[float | None]:
    out = a.tolist()
    nan = np.isnan(a)
    if nan.any():
        for i in np.flatnonzero(nan).tolist():
            out[i] = None
    return out


def _agg_rows(agg: _Agg, name: str | None = None) -> Iterator[tuple]:
    """Rows (tile or bucket key, first_step, first_value, last_step, last_value, min_step,
    min_value, max_step, max_value, nan_step) with None for NaN, built column-wise; with
    ``name`` each row starts with it (rows for the tiles table)."""
    nan_steps: list[int | None] = agg.nan_step.tolist()
    none = agg.nan_step == NO_NAN
    if none.all():
        nan_steps = [None] * len(nan_steps)
    elif none.any():
        for i in np.flatnonzero(none).tolist():
            nan_steps[i] = None
    cols = [
        agg.key.tolist(),
        agg.first_step.tolist(),
        _floats(agg.first_value),
        agg.last_step.tolist(),
        _floats(agg.last_value),
        agg.min_step.tolist(),
        _floats(agg.min_value),
        agg.max_step.tolist(),
        _floats(agg.max_value),
        nan_steps,
    ]
    if name is not None:
        cols.insert(0, [name] * len(nan_steps))
    return zip(*cols, strict=True)


_INSERT_TILE = (
    "INSERT OR REPLACE INTO metric_tiles (experiment_id, name, level, tile, first_step, "
    "first_value, last_step, last_value, min_step, min_value, max_step, max_value, nan_step) "
    "VALUES ({e}, ?, {l}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _mark_dirty(conn: sqlite3.Connection, experiment_id: int, dirty: dict[str, int]) -> None:
    conn.executemany(
        "INSERT INTO metric_series (experiment_id, name, dirty_from) VALUES (?, ?, ?) "
        "ON CONFLICT (experiment_id, name) DO UPDATE SET dirty_from = "
        "min(coalesce(dirty_from, excluded.dirty_from), excluded.dirty_from)",
        [(experiment_id, n, int(s)) for n, s in dirty.items()],
    )


def write_series(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    steps: np.ndarray,
    values: np.ndarray,
    walls: np.ndarray | None = None,
) -> None:
    """Store one series' points (arrays of equal length). The caller owns the transaction.

    A point at an existing (name, step) replaces it. Tiles are brought up to date lazily,
    by the next reduced read (see ``update_tiles``), so writing stays as cheap as an insert.
    """
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    n = steps.size
    if n == 0:
        return
    vlist = _floats(values)
    wlist = [None] * n if walls is None else _floats(np.asarray(walls, dtype=np.float64))
    known = conn.execute(
        "SELECT 1 FROM metric_series WHERE experiment_id = ? AND name = ?", (experiment_id, name)
    ).fetchone()
    conn.executemany(
        f"INSERT OR REPLACE INTO metric_points VALUES ({int(experiment_id)}, ?, ?, ?, ?)",
        zip(itertools.repeat(name, n), steps.tolist(), vlist, wlist, strict=True),
    )
    if known:
        _mark_dirty(conn, experiment_id, {name: int(steps.min())})
        return
    # A new series (a bulk import, or a run's first batch): its tiles come straight from the
    # arrays in hand, without reading the points back.
    if n > 1 and np.any(steps[1:] < steps[:-1]):
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    if n > 1 and np.any(steps[1:] == steps[:-1]):  # the last of equal steps wins, as stored
        keep = np.concatenate((steps[1:] != steps[:-1], [True]))
        steps, values = steps[keep], values[keep]
    agg = _points_agg(steps, values)
    for level in range(1, TILE_LEVELS + 1):
        agg = _aggregate(agg.first_step // TILE_BASE**level, agg)
        conn.executemany(
            _INSERT_TILE.format(e=int(experiment_id), l=level),
            _agg_rows(agg, name),
        )
    conn.execute(
        "INSERT INTO metric_series (experiment_id, name, dirty_from) VALUES (?, ?, NULL)",
        (experiment_id, name),
    )


def group_points(
    points: Iterable[Point],
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Points (name, step, value, wall_time) as per-name arrays of steps, values, wall times."""
    by_name: dict[str, list[tuple[int, float, float | None]]] = {}
    for name, step, value, wall in points:
        lst = by_name.get(name)
        if lst is None:
            lst = by_name[name] = []
        lst.append((step, value, wall))
    out = {}
    for name, pts in by_name.items():
        s, v, w = zip(*pts, strict=True)
        out[name] = (
            np.array(s, dtype=np.int64),
            np.array(v, dtype=np.float64),
            np.array([np.nan if x is None else x for x in w], dtype=np.float64),
        )
    return out


def write_points(conn: sqlite3.Connection, experiment_id: int, points: Iterable[Point]) -> int:
    """Store points (name, step, value, wall_time); returns how many. The caller owns the
    transaction. A point at an existing (name, step) replaces it."""
    rows = []
    dirty: dict[str, int] = {}
    for name, step, value, wall in points:
        step = int(step)
        value = float(value)
        rows.append((name, step, None if value != value else value, wall))
        if step < dirty.get(name, step + 1):
            dirty[name] = step
    if rows:
        conn.executemany(
            f"INSERT OR REPLACE INTO metric_points VALUES ({int(experiment_id)}, ?, ?, ?, ?)",
            rows,
        )
        _mark_dirty(conn, experiment_id, dirty)
    return len(rows)


def update_tiles(conn: sqlite3.Connection, experiment_id: int, name: str) -> None:
    """Bring a series' tiles up to date with its points, from the first step written since
    the last update: level 1 from the points, each level above from the one below."""
    row = conn.execute(
        "SELECT dirty_from FROM metric_series WHERE experiment_id = ? AND name = ?",
        (experiment_id, name),
    ).fetchone()
    if row is None or row[0] is None:
        return
    dirty_from = int(row[0])
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        base = dirty_from - dirty_from % TILE_BASE
        raw = _raw_agg(conn, experiment_id, name, base, None)
        for level in range(1, TILE_LEVELS + 1):
            w = TILE_BASE**level
            lo = dirty_from - dirty_from % w
            conn.execute(
                "DELETE FROM metric_tiles WHERE experiment_id = ? AND name = ? AND level = ? "
                "AND tile >= ?",
                (experiment_id, name, level, lo // w),
            )
            if level == 1:
                below = raw
            else:
                # the lower level's tiles from this level's first touched tile on
                below = _tile_agg(
                    conn, experiment_id, name, level - 1, lo // (w // TILE_BASE), None
                )
            if below is None:
                continue
            agg = _aggregate(below.first_step // w, below)
            conn.executemany(
                _INSERT_TILE.format(e=int(experiment_id), l=level),
                _agg_rows(agg, name),
            )
        conn.execute(
            "UPDATE metric_series SET dirty_from = NULL WHERE experiment_id = ? AND name = ?",
            (experiment_id, name),
        )
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise


def rebuild_tiles(conn: sqlite3.Connection, experiment_id: int | None = None) -> None:
    """Recompute every tile from the stored points (migrations, repairs)."""
    where = "" if experiment_id is None else " WHERE experiment_id = ?"
    params: tuple = () if experiment_id is None else (experiment_id,)
    conn.execute("DELETE FROM metric_tiles" + where, params)
    series = conn.execute(
        "SELECT experiment_id, name, min(step) FROM metric_points"
        + where
        + " GROUP BY experiment_id, name",
        params,
    ).fetchall()
    conn.executemany(
        "INSERT OR REPLACE INTO metric_series (experiment_id, name, dirty_from) VALUES (?, ?, ?)",
        series,
    )
    for exp, name, _ in series:
        update_tiles(conn, exp, name)


def _buckets_from(agg: _Agg) -> list[Bucket]:
    return [
        Bucket(
            first_step=r[1],
            first_value=_none_to_nan(r[2]),
            last_step=r[3],
            last_value=_none_to_nan(r[4]),
            min_step=r[5],
            min_value=_none_to_nan(r[6]),
            max_step=r[7],
            max_value=_none_to_nan(r[8]),
            nan_step=r[9],
        )
        for r in _agg_rows(agg)
    ]


_MAX_STEP = 2**62


def _raw_agg(
    conn: sqlite3.Connection, experiment_id: int, name: str, lo: int, hi: int | None
) -> _Agg | None:
    rows = conn.execute(
        "SELECT step, value FROM metric_points WHERE experiment_id = ? AND name = ? "
        "AND step BETWEEN ? AND ? ORDER BY step",
        (experiment_id, name, lo, _MAX_STEP if hi is None else hi),
    ).fetchall()
    if not rows:
        return None
    s, v = zip(*rows, strict=True)
    # numpy turns None (a stored NaN) into nan for a float array
    return _points_agg(np.array(s, dtype=np.int64), np.array(v, dtype=np.float64))


def _tile_agg(
    conn: sqlite3.Connection, experiment_id: int, name: str, level: int, t0: int, t1: int | None
) -> _Agg | None:
    rows = conn.execute(
        "SELECT tile, first_step, first_value, last_step, last_value, min_step, min_value, "
        "max_step, max_value, nan_step FROM metric_tiles WHERE experiment_id = ? AND name = ? "
        "AND level = ? AND tile BETWEEN ? AND ? ORDER BY tile",
        (experiment_id, name, level, t0, _MAX_STEP if t1 is None else t1),
    ).fetchall()
    if not rows:
        return None
    cols = list(zip(*rows, strict=True))

    def ints(c: tuple) -> np.ndarray:
        return np.array([NO_NAN if v is None else v for v in c], dtype=np.int64)

    def floats(c: tuple) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in c], dtype=np.float64)

    return _Agg(
        key=ints(cols[0]),
        first_step=ints(cols[1]),
        first_value=floats(cols[2]),
        last_step=ints(cols[3]),
        last_value=floats(cols[4]),
        min_step=ints(cols[5]),
        min_value=floats(cols[6]),
        max_step=ints(cols[7]),
        max_value=floats(cols[8]),
        nan_step=ints(cols[9]),
    )


def _concat(parts: list[_Agg]) -> _Agg:
    return _Agg(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Agg.__slots__))


def step_range(conn: sqlite3.Connection, experiment_id: int, name: str) -> tuple[int, int] | None:
    # Two queries: SQLite answers a lone min() or max() from the index without a scan.
    q = "SELECT {f}(step) FROM metric_points WHERE experiment_id = ? AND name = ?"
    lo = conn.execute(q.format(f="min"), (experiment_id, name)).fetchone()[0]
    if lo is None:
        return None
    hi = conn.execute(q.format(f="max"), (experiment_id, name)).fetchone()[0]
    return int(lo), int(hi)


def reduce_series(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    start: int | None = None,
    end: int | None = None,
    buckets: int = 2000,
) -> list[Bucket]:
    """The series between steps ``start`` and ``end`` (inclusive) reduced to at most
    ``buckets`` buckets, each keeping its first, min, max and last point and its first NaN."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    update_tiles(conn, experiment_id, name)
    if start is None or end is None:
        rng = step_range(conn, experiment_id, name)
        if rng is None:
            return []
        start = rng[0] if start is None else start
        end = rng[1] if end is None else end
    if end < start:
        return []
    span = end - start + 1
    width = span / buckets
    level = 0
    while level < TILE_LEVELS and TILE_BASE ** (level + 1) <= width:
        level += 1
    parts: list[_Agg] = []
    if level == 0:
        raw = _raw_agg(conn, experiment_id, name, start, end)
        if raw is not None:
            parts.append(raw)
    else:
        w = TILE_BASE**level
        t0 = -(-start // w)  # first tile fully inside
        t1 = (end + 1) // w - 1  # last tile fully inside
        if t0 > t1:
            raw = _raw_agg(conn, experiment_id, name, start, end)
            parts += [raw] if raw is not None else []
        else:
            head = _raw_agg(conn, experiment_id, name, start, t0 * w - 1)
            tiles = _tile_agg(conn, experiment_id, name, level, t0, t1)
            tail = _raw_agg(conn, experiment_id, name, (t1 + 1) * w, end)
            parts += [p for p in (head, tiles, tail) if p is not None]
    if not parts:
        return []
    agg = _concat(parts) if len(parts) > 1 else parts[0]
    key = ((agg.first_step - start) * buckets) // span
    return _buckets_from(_aggregate(np.minimum(key, buckets - 1), agg))


def buckets_to_xy(bs: list[Bucket]) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values to draw: each bucket's distinct points in step order."""
    xs: list[int] = []
    ys: list[float] = []
    for b in bs:
        for s, v in b.points():
            xs.append(s)
            ys.append(v)
    return np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.float64)
