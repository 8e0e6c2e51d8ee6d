"""Metric points and their min/max tile pyramid: writing series, reduced reads.

Points live in ``metric_points`` keyed by (experiment, name, step). Beside them, each series
keeps a pyramid of tiles (``metric_tiles``): a tile of level k covers ``2 ** k`` steps (tile
``step >> k``) and keeps the first, min, max, last and first-NaN point of the points inside
(see ``tile_agg``). A reduced read over any step range takes the level whose tiles are the
widest that still fit in a bucket, so reading a series of millions of points costs about what
the screen needs (at most two tiles a bucket), and no spike, NaN or inf is lost.

The levels a series keeps are chosen from the real spacing of its steps (RAVE logs a point
every 50 steps): ``LEVELS`` levels from the first whose tiles hold about ``POINTS_PER_TILE``
points. A series of fewer than ``MIN_TILED_POINTS`` points keeps no tiles. A read needing a
level the series does not keep makes it from the nearest level below (or the points), so a
read's answer never depends on which levels a series keeps, or how its points were written.

Tiles are kept current as points are written: an append (every step after the series' last)
advances the last tile of each level in the same transaction, so the first view of a run
needs no rebuild. A write among older steps notes, per series, the first step written
(``metric_series.dirty_from``); the next reduced read rebuilds the tiles from there.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Iterable

import numpy as np

from .tile_agg import (
    _TILE_COLUMNS,
    NO_NAN,
    Bucket,
    _Agg,
    _agg_rows,
    _aggregate,
    _buckets_from,
    _concat,
    _floats,
    _none_to_nan,
    _points_agg,
    _raw_agg,
    _tile_agg,
    agg_to_xy,
)

TILE_BASE = 2  # each level's tiles are twice as wide as the level's below
LEVELS = 8  # levels kept per series: the widest tile holds ~8 * 2**7 points, so a 2,000-bucket
# read of a series of up to ~2M points (RAVE's longest runs log ~120k a series) reads kept tiles;
# a longer one makes its level from the widest kept (a 10M-point series: ~10k tiles). Every level
# kept costs a tile row written at each append: 8 levels instead of 12 cut a live batch's tile
# work by a third (bench/bench_watch.py)
POINTS_PER_TILE = 8  # about how many points the narrowest kept tiles hold
MIN_TILED_POINTS = 64  # a shorter series is read from its points
MAX_LEVEL = 62

Point = tuple[str, int, float, "float | None"]  # (name, step, value, wall_time)

__all__ = [
    "NO_NAN",
    "Bucket",
    "Point",
    "_none_to_nan",
    "agg_to_xy",
    "buckets_to_xy",
    "group_points",
    "rebuild_tiles",
    "reduce_series",
    "reduce_series_xy",
    "retile_series",
    "series_extremes",
    "series_levels",
    "step_range",
    "update_tiles",
    "write_points",
    "write_series",
]

_INSERT_TILE = (
    "INSERT OR REPLACE INTO metric_tiles (experiment_id, name, level, tile, first_step, "
    "first_value, last_step, last_value, min_step, min_value, max_step, max_value, nan_step) "
    "VALUES ({e}, ?, {l}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_UPSERT_TILE = (
    "INSERT OR REPLACE INTO metric_tiles (experiment_id, name, level, tile, first_step, "
    "first_value, last_step, last_value, min_step, min_value, max_step, max_value, nan_step) "
    "VALUES ({e}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _mark_dirty(conn: sqlite3.Connection, experiment_id: int, dirty: dict[str, int]) -> None:
    conn.executemany(
        "INSERT INTO metric_series (experiment_id, name, dirty_from) VALUES (?, ?, ?) "
        "ON CONFLICT (experiment_id, name) DO UPDATE SET dirty_from = "
        "min(coalesce(dirty_from, excluded.dirty_from), excluded.dirty_from)",
        [(experiment_id, n, int(s)) for n, s in dirty.items()],
    )


def series_levels(
    conn: sqlite3.Connection, experiment_id: int, name: str
) -> tuple[int, int] | None:
    """The lowest and highest level of a series' tiles (None: it keeps none)."""
    q = "SELECT {f}(level) FROM metric_tiles WHERE experiment_id = ? AND name = ?"
    lo = conn.execute(q.format(f="min"), (experiment_id, name)).fetchone()[0]
    if lo is None:
        return None
    hi = conn.execute(q.format(f="max"), (experiment_id, name)).fetchone()[0]
    return int(lo), int(hi)


def _first_level(steps: np.ndarray) -> int:
    """The narrowest level to keep for points at these (sorted, unique) steps."""
    gaps = np.diff(steps[:4097])
    spacing = float(np.median(gaps)) if gaps.size else 1.0
    return max(1, min(MAX_LEVEL - LEVELS, math.ceil(math.log2(POINTS_PER_TILE * spacing))))


def _insert_levels(
    conn: sqlite3.Connection, experiment_id: int, name: str, agg: _Agg, levels: range
) -> None:
    """Aggregate ``agg`` (points, or tiles of the level below ``levels``) into each level."""
    for level in levels:
        agg = _aggregate(agg.first_step >> level, agg)
        conn.executemany(_INSERT_TILE.format(e=int(experiment_id), l=level), _agg_rows(agg, name))


def _sorted_unique(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = steps.size
    if n > 1 and np.any(steps[1:] < steps[:-1]):
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    if n > 1 and np.any(steps[1:] == steps[:-1]):  # the last of equal steps wins, as stored
        keep = np.concatenate((steps[1:] != steps[:-1], [True]))
        steps, values = steps[keep], values[keep]
    return steps, values


def _build(
    conn: sqlite3.Connection, experiment_id: int, name: str, steps: np.ndarray, values: np.ndarray
) -> None:
    """All the tiles of a series from all its points (sorted, unique steps)."""
    conn.execute(
        "DELETE FROM metric_tiles WHERE experiment_id = ? AND name = ?", (experiment_id, name)
    )
    if steps.size < MIN_TILED_POINTS:
        return
    first = _first_level(steps)
    _insert_levels(
        conn, experiment_id, name, _points_agg(steps, values), range(first, first + LEVELS)
    )


def _merge_rows(rows: list[tuple], level: int) -> list[tuple]:
    """Tile rows (tile, first_step, first_value, last_step, last_value, min_step, min_value,
    max_step, max_value, nan_step; None for NaN) in step order merged into the tiles of
    ``level``: what ``_aggregate`` does, in plain Python for the few rows of an append."""
    out: list[tuple] = []
    cur: list | None = None
    for r in rows:
        key = r[1] >> level
        if cur is None or key != cur[0]:
            if cur is not None:
                out.append(tuple(cur))
            cur = [key, *r[1:]]
            continue
        cur[3], cur[4] = r[3], r[4]  # last
        if r[6] is not None and (cur[6] is None or r[6] < cur[6]):
            cur[5], cur[6] = r[5], r[6]
        if r[8] is not None and (cur[8] is None or r[8] > cur[8]):
            cur[7], cur[8] = r[7], r[8]
        if cur[9] is None and r[9] is not None:
            cur[9] = r[9]
    if cur is not None:
        out.append(tuple(cur))
    return out


def _advance(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    levels: tuple[int, int],
    steps: np.ndarray,
    values: np.ndarray,
) -> None:
    """Merge points appended after the series' last step into the last tile of each level
    (and the tiles after it), in one read and one write. Merging is idempotent, so each level
    is made from the one below merged with its own last tile."""
    s0 = int(steps[0])
    keys = [(level, s0 >> level) for level in range(levels[0], levels[1] + 1)]
    one = (  # a lookup by the whole key (an OR of keys would scan the series' tiles)
        f"SELECT level, {_TILE_COLUMNS} FROM metric_tiles WHERE experiment_id = ? AND name = ? "
        "AND level = ? AND tile = ?"
    )
    found = conn.execute(
        " UNION ALL ".join([one] * len(keys)),
        tuple(itertools.chain.from_iterable((experiment_id, name, k, t) for k, t in keys)),
    ).fetchall()
    last = {r[0]: r[1:] for r in found}
    # the narrowest level from the points (numpy: an append may bring many)
    lo = levels[0]
    if steps.size > 256:  # numpy for many points, plain Python for a few
        agg = _points_agg(steps, values)
        below = list(_agg_rows(_aggregate(agg.first_step >> lo, agg)))
    else:
        vs = _floats(values)
        below = [
            (st, st, v, st, v, st, v, st, v, None if v is not None else st)
            for st, v in zip(steps.tolist(), vs, strict=True)
        ]
    below = _merge_rows([last[lo], *below] if lo in last else below, lo)
    out = [(lo, *r) for r in below]
    for level in range(lo + 1, levels[1] + 1):
        below = _merge_rows([last[level], *below] if level in last else below, level)
        out += [(level, *r) for r in below]
    conn.executemany(_UPSERT_TILE.format(e=int(experiment_id)), _named(out, name))


def _named(rows: list[tuple], name: str) -> Iterable[tuple]:
    return ((name, *r) for r in rows)


# What a write needs to know of a series, in one statement (each lone min() or max() is
# answered from an index): (dirty_from, last step, lowest level, highest level); no row for a
# series never written.
_SERIES_STATE = (
    "SELECT dirty_from, "
    "(SELECT max(step) FROM metric_points WHERE experiment_id = ? AND name = ?), "
    "(SELECT min(level) FROM metric_tiles WHERE experiment_id = ? AND name = ?), "
    "(SELECT max(level) FROM metric_tiles WHERE experiment_id = ? AND name = ?) "
    "FROM metric_series WHERE experiment_id = ? AND name = ?"
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

    A point at an existing (name, step) replaces it. Points after the series' last step
    advance its tiles at once; a write among older steps marks the tiles to rebuild from its
    first step (the next reduced read does, see ``update_tiles``)."""
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    n = steps.size
    if n == 0:
        return
    vlist = _floats(values)
    wlist = [None] * n if walls is None else _floats(np.asarray(walls, dtype=np.float64))
    known = conn.execute(_SERIES_STATE, (experiment_id, name) * 4).fetchone()
    last = None if known is None or known[1] is None else int(known[1])
    conn.executemany(
        f"INSERT OR REPLACE INTO metric_points VALUES ({int(experiment_id)}, ?, ?, ?, ?)",
        zip(itertools.repeat(name, n), steps.tolist(), vlist, wlist, strict=True),
    )
    steps, values = _sorted_unique(steps, values)
    if known is None:  # a new series: its tiles come straight from the arrays in hand
        conn.execute(
            "INSERT INTO metric_series (experiment_id, name, dirty_from) VALUES (?, ?, NULL)",
            (experiment_id, name),
        )
        _build(conn, experiment_id, name, steps, values)
        return
    if known[0] is not None or (last is not None and int(steps[0]) <= last):
        _mark_dirty(conn, experiment_id, {name: int(steps[0])})  # rebuilt when next read
        return
    if known[2] is not None:
        _advance(conn, experiment_id, name, (int(known[2]), int(known[3])), steps, values)
        return
    # no tiles yet (a short series): once long enough, build them from all its points
    count = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM metric_points WHERE experiment_id = ? AND name = ? "
        "LIMIT ?)",
        (experiment_id, name, MIN_TILED_POINTS),
    ).fetchone()[0]
    if count >= MIN_TILED_POINTS:
        rng = step_range(conn, experiment_id, name)
        raw = _raw_agg(conn, experiment_id, name, 0 if rng is None else rng[0], None)
        if raw is not None:
            _build(conn, experiment_id, name, raw.first_step, raw.first_value)


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
    total = 0
    for name, (steps, values, walls) in group_points(points).items():
        write_series(conn, experiment_id, name, steps, values, walls)
        total += steps.size
    return total


def update_tiles(conn: sqlite3.Connection, experiment_id: int, name: str) -> None:
    """Bring a series' tiles up to date with its points, from the first step written among
    older steps since the last update: the narrowest level from the points, each level above
    from the one below (a series without tiles gets them all, if long enough)."""
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
        levels = series_levels(conn, experiment_id, name)
        if levels is None:
            retile_series(conn, experiment_id, name)
        else:
            _rebuild_from(conn, experiment_id, name, levels, dirty_from)
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


def _rebuild_from(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    levels: tuple[int, int],
    dirty_from: int,
) -> None:
    for level in range(levels[0], levels[1] + 1):
        lo = dirty_from >> level
        conn.execute(
            "DELETE FROM metric_tiles WHERE experiment_id = ? AND name = ? AND level = ? "
            "AND tile >= ?",
            (experiment_id, name, level, lo),
        )
        if level == levels[0]:
            below = _raw_agg(conn, experiment_id, name, lo << level, None)
        else:  # the lower level's tiles from this level's first touched tile on
            below = _tile_agg(conn, experiment_id, name, level - 1, lo << 1, None)
        if below is None:
            continue
        agg = _aggregate(below.first_step >> level, below)
        conn.executemany(_INSERT_TILE.format(e=int(experiment_id), l=level), _agg_rows(agg, name))


def retile_series(conn: sqlite3.Connection, experiment_id: int, name: str) -> None:
    """Build one series' tiles again from all its points (the caller owns the transaction)."""
    raw = _raw_agg(conn, experiment_id, name, -_MAX_STEP, None)
    if raw is None:
        conn.execute(
            "DELETE FROM metric_tiles WHERE experiment_id = ? AND name = ?", (experiment_id, name)
        )
    else:
        _build(conn, experiment_id, name, raw.first_step, raw.first_value)
    conn.execute(
        "UPDATE metric_series SET dirty_from = NULL WHERE experiment_id = ? AND name = ?",
        (experiment_id, name),
    )


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


_MAX_STEP = 2**62


def step_range(conn: sqlite3.Connection, experiment_id: int, name: str) -> tuple[int, int] | None:
    # Two queries: SQLite answers a lone min() or max() from the index without a scan.
    q = "SELECT {f}(step) FROM metric_points WHERE experiment_id = ? AND name = ?"
    lo = conn.execute(q.format(f="min"), (experiment_id, name)).fetchone()[0]
    if lo is None:
        return None
    hi = conn.execute(q.format(f="max"), (experiment_id, name)).fetchone()[0]
    return int(lo), int(hi)


def series_extremes(conn: sqlite3.Connection, experiment_id: int, name: str) -> tuple:
    """The (min, max) value of a series (None for NaN-only), from its widest tiles."""
    update_tiles(conn, experiment_id, name)
    levels = series_levels(conn, experiment_id, name)
    if levels is None:
        return conn.execute(
            "SELECT min(value), max(value) FROM metric_points WHERE experiment_id = ? AND name = ?",
            (experiment_id, name),
        ).fetchone()
    return conn.execute(
        "SELECT min(min_value), max(max_value) FROM metric_tiles "
        "WHERE experiment_id = ? AND name = ? AND level = ?",
        (experiment_id, name, levels[1]),
    ).fetchone()


def _level_agg(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    levels: tuple[int, int] | None,
    level: int,
    t0: int,
    t1: int,
) -> _Agg | None:
    """The tiles ``t0..t1`` of ``level``, read if the series keeps that level, else made from
    the widest kept level below it (or from the points)."""
    if levels is not None and levels[0] <= level <= levels[1]:
        return _tile_agg(conn, experiment_id, name, level, t0, t1)
    if levels is not None and level > levels[1]:
        src, shift = levels[1], level - levels[1]
        below = _tile_agg(conn, experiment_id, name, src, t0 << shift, ((t1 + 1) << shift) - 1)
    else:
        below = _raw_agg(conn, experiment_id, name, t0 << level, ((t1 + 1) << level) - 1)
    if below is None:
        return None
    return _aggregate(below.first_step >> level, below)


def _reduce(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    start: int | None,
    end: int | None,
    buckets: int,
    width: float | None = None,
) -> _Agg | None:
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    update_tiles(conn, experiment_id, name)
    if start is None or end is None:
        rng = step_range(conn, experiment_id, name)
        if rng is None:
            return None
        start = rng[0] if start is None else start
        end = rng[1] if end is None else end
    if end < start:
        return None
    span = end - start + 1
    if width is not None:  # buckets of a given width (a view's tail read after its start)
        buckets = max(1, math.ceil(span / max(width, 1.0)))
    width = span / buckets
    level = min(MAX_LEVEL, math.floor(math.log2(width))) if width >= TILE_BASE else 0
    parts: list[_Agg] = []
    if level == 0:
        raw = _raw_agg(conn, experiment_id, name, start, end)
        parts += [raw] if raw is not None else []
    else:
        t0 = -(-start >> level)  # first tile fully inside
        t1 = ((end + 1) >> level) - 1  # last tile fully inside
        if t0 > t1:
            raw = _raw_agg(conn, experiment_id, name, start, end)
            parts += [raw] if raw is not None else []
        else:
            levels = series_levels(conn, experiment_id, name)
            head = _raw_agg(conn, experiment_id, name, start, (t0 << level) - 1)
            tiles = _level_agg(conn, experiment_id, name, levels, level, t0, t1)
            tail = _raw_agg(conn, experiment_id, name, (t1 + 1) << level, end)
            parts += [p for p in (head, tiles, tail) if p is not None]
    if not parts:
        return None
    agg = _concat(parts) if len(parts) > 1 else parts[0]
    key = ((agg.first_step - start) * buckets) // span
    return _aggregate(np.minimum(key, buckets - 1), agg)


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
    agg = _reduce(conn, experiment_id, name, start, end, buckets)
    return [] if agg is None else _buckets_from(agg)


def reduce_series_xy(
    conn: sqlite3.Connection,
    experiment_id: int,
    name: str,
    start: int | None = None,
    end: int | None = None,
    buckets: int = 2000,
    width: float | None = None,
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """``reduce_series`` as the steps and values to draw (``buckets_to_xy`` of it) and the
    highest step read (None when the range holds no point). With ``width``, the buckets are
    that many steps wide instead (as many as the range needs)."""
    agg = _reduce(conn, experiment_id, name, start, end, buckets, width)
    if agg is None:
        return np.empty(0, dtype=np.int64), np.empty(0), None
    x, y = agg_to_xy(agg)
    return x, y, int(agg.last_step[-1])


def buckets_to_xy(bs: list[Bucket]) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values to draw: each bucket's distinct points in step order."""
    xs: list[int] = []
    ys: list[float] = []
    for b in bs:
        for s, v in b.points():
            xs.append(s)
            ys.append(v)
    return np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.float64)
