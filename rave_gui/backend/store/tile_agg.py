"""The min/max reduction's building blocks: buckets, column arrays of aggregated groups (points,
tiles or buckets) and their merge, and the reads of points and tiles as such arrays.

A group keeps the first, min, max and last point of the points inside, and its first NaN; merging
groups is associative and idempotent, so a tile can be advanced by merging it with new points, and
a reduction read from tiles equals one read from the points.

SQLite stores a float NaN as NULL: a point's ``value`` is NULL exactly when it is NaN.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


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


_TILE_COLUMNS = (
    "tile, first_step, first_value, last_step, last_value, min_step, min_value, max_step, "
    "max_value, nan_step"
)


def _tile_agg(
    conn: sqlite3.Connection, experiment_id: int, name: str, level: int, t0: int, t1: int | None
) -> _Agg | None:
    rows = conn.execute(
        f"SELECT {_TILE_COLUMNS} FROM metric_tiles WHERE experiment_id = ? AND name = ? "
        "AND level = ? AND tile BETWEEN ? AND ? ORDER BY tile",
        (experiment_id, name, level, t0, _MAX_STEP if t1 is None else t1),
    ).fetchall()
    if not rows:
        return None
    # One float array for all the columns: numpy reads None (a NULL) as NaN. Steps are exact
    # as floats below 2**53.
    a = np.array(rows, dtype=np.float64)
    nan = a[:, 9]
    return _Agg(
        key=a[:, 0].astype(np.int64),
        first_step=a[:, 1].astype(np.int64),
        first_value=a[:, 2].copy(),
        last_step=a[:, 3].astype(np.int64),
        last_value=a[:, 4].copy(),
        min_step=a[:, 5].astype(np.int64),
        min_value=a[:, 6].copy(),
        max_step=a[:, 7].astype(np.int64),
        max_value=a[:, 8].copy(),
        nan_step=np.where(np.isnan(nan), NO_NAN, np.nan_to_num(nan)).astype(np.int64),
    )


def _concat(parts: list[_Agg]) -> _Agg:
    return _Agg(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Agg.__slots__))


def agg_to_xy(agg: _Agg) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values to draw for aggregated buckets: each bucket's distinct points (first,
    min, max, last and its first NaN) in step order; the same as ``buckets_to_xy``."""
    g = agg.key.size
    if g == 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    has_nan = agg.nan_step != NO_NAN
    steps = np.stack(
        (
            agg.first_step,
            agg.min_step,
            agg.max_step,
            agg.last_step,
            np.where(has_nan, agg.nan_step, agg.first_step),
        ),
        axis=1,
    ).ravel()
    values = np.stack(
        (
            agg.first_value,
            agg.min_value,
            agg.max_value,
            agg.last_value,
            np.where(has_nan, np.nan, agg.first_value),
        ),
        axis=1,
    ).ravel()
    # a bucket's NaN wins over another of its points at the same step (as in Bucket.points)
    prio = np.tile(np.array([0, 0, 0, 0, 1]), g) * np.repeat(has_nan, 5)
    order = np.lexsort((prio, steps))
    steps, values = steps[order], values[order]
    keep = np.concatenate((steps[1:] != steps[:-1], [True]))  # the last of equal steps
    return steps[keep], values[keep]
