"""Metric series: storage of every point, reduced reads that never lose a spike, NaN or inf.

The reduced reads are compared with a brute-force reference computed with numpy over all the
points. A bucket here is what ``reduced_series`` promises: bucket ``i`` of ``B`` over steps
``start..end`` (``span = end - start + 1``) holds the steps with ``(step - start) * B // span
== i``. Reading from raw points this holds exactly; reading from tiles (when a bucket spans at
least ``TILE_BASE`` steps) a bucket boundary moves to the next tile boundary, by less than one
tile, which is never wider than a bucket. The checks below prove both, and that every bucket's
first, min, max, last and first NaN are exactly those of the points it covers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.store import tiles
from rave_gui.backend.store.tiles import TILE_BASE, Bucket

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same examples on every run, so CI never flakes
)
SPECIALS = np.array([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, -0.0, 5e-324])
_names = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainingManager]:
    tm = TrainingManager(tmp_path_factory.mktemp("metrics") / "store.sqlite3")
    yield tm
    tm.close()


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[TrainingManager]:
    manager = TrainingManager(tmp_path / "store.sqlite3")
    yield manager
    manager.close()


def new_experiment(tm: TrainingManager) -> int:
    return tm.start_training({"name": f"run {next(_names)}"})


# --- brute-force reference --------------------------------------------------------------------


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def summarize(steps: np.ndarray, values: np.ndarray) -> dict:
    """First, min, max, last and first NaN of points in step order, by brute force."""
    nan = np.isnan(values)
    out = {
        "first_step": int(steps[0]),
        "first_value": float(values[0]),
        "last_step": int(steps[-1]),
        "last_value": float(values[-1]),
        "nan_step": int(steps[np.argmax(nan)]) if nan.any() else None,
    }
    if nan.all():
        out.update(min_value=math.nan, max_value=math.nan, min_step=None, max_step=None)
    else:
        lo = np.nanmin(values)
        hi = np.nanmax(values)
        out.update(
            min_value=float(lo),
            min_step=int(steps[np.argmax(values == lo)]),  # first point with that value
            max_value=float(hi),
            max_step=int(steps[np.argmax(values == hi)]),
        )
    return out


def assert_bucket_is(b: Bucket, ref: dict) -> None:
    assert b.first_step == ref["first_step"]
    assert same(b.first_value, ref["first_value"])
    assert b.last_step == ref["last_step"]
    assert same(b.last_value, ref["last_value"])
    assert b.nan_step == ref["nan_step"]
    assert same(b.min_value, ref["min_value"])
    assert same(b.max_value, ref["max_value"])
    if ref["min_step"] is not None:
        assert b.min_step == ref["min_step"]
        assert b.max_step == ref["max_step"]


def reference_buckets(
    steps: np.ndarray, values: np.ndarray, start: int, end: int, buckets: int
) -> list[dict]:
    """The exact buckets: bucket i holds the steps with (step - start) * buckets // span == i."""
    sel = (steps >= start) & (steps <= end)
    s, v = steps[sel], values[sel]
    span = end - start + 1
    idx = (s - start) * buckets // span  # non-decreasing: the steps are sorted
    cuts = np.flatnonzero(np.diff(idx)) + 1
    return [summarize(a, b) for a, b in zip(np.split(s, cuts), np.split(v, cuts), strict=True)]


def check_reduced(
    out: list[Bucket], steps: np.ndarray, values: np.ndarray, start: int, end: int, buckets: int
) -> None:
    """``out`` is a correct reduction of the points (steps ascending) to ``buckets``."""
    sel = (steps >= start) & (steps <= end)
    s, v = steps[sel], values[sel]
    if s.size == 0:
        assert out == []
        return
    assert 1 <= len(out) <= buckets
    span = end - start + 1
    if span / buckets < TILE_BASE:  # read from the points: exactly the reference buckets
        ref = reference_buckets(steps, values, start, end, buckets)
        assert len(out) == len(ref)
        for b, r in zip(out, ref, strict=True):
            assert_bucket_is(b, r)
        return
    # Read from tiles: the buckets partition the points in order...
    assert out[0].first_step == s[0]
    assert out[-1].last_step == s[-1]
    covered = 0
    prev_index = -1
    for i, b in enumerate(out):
        if i:
            assert out[i - 1].last_step < b.first_step
        i0 = np.searchsorted(s, b.first_step, side="left")
        i1 = np.searchsorted(s, b.last_step, side="right")
        covered += i1 - i0
        # ... each one summarizing exactly the points it covers ...
        assert_bucket_is(b, summarize(s[i0:i1], v[i0:i1]))
        # ... and lying in its ideal bucket, or spilling into the next by less than a tile.
        index = (b.first_step - start) * buckets // span
        assert index > prev_index
        prev_index = index
        last_index = (b.last_step - start) * buckets // span
        assert last_index in (index, index + 1)
    assert covered == s.size


@st.composite
def series(draw: st.DrawFn, max_points: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Steps (ascending, unique, dense or sparse) and values with NaN, infinities, huge spikes,
    ties and denormals sprinkled in."""
    n = draw(st.integers(1, max_points))
    spacing = draw(st.sampled_from([1, 1, 3, 40, 1000]))
    seed = draw(st.integers(0, 2**32 - 1))
    first = draw(st.sampled_from([0, 1, 15, 16, 4095, 65_537, 10**6]))
    rng = np.random.default_rng(seed)
    gaps = rng.integers(1, spacing + 1, size=n) if spacing > 1 else np.ones(n, dtype=np.int64)
    steps = first + np.cumsum(gaps) - gaps[0]
    kind = draw(st.sampled_from(["walk", "noise", "ties"]))
    if kind == "walk":
        values = np.cumsum(rng.normal(size=n))
    elif kind == "noise":
        values = rng.normal(size=n) * 10.0 ** rng.integers(-3, 4)
    else:
        values = rng.integers(0, 3, size=n).astype(np.float64)
    n_special = draw(st.integers(0, min(n, 12)))
    where = rng.choice(n, size=n_special, replace=False)
    values[where] = rng.choice(SPECIALS, size=n_special)
    if draw(st.integers(0, 9)) == 0:
        values[:] = math.nan  # sometimes nothing but NaN
    return steps.astype(np.int64), values


@st.composite
def window(draw: st.DrawFn, steps: np.ndarray) -> tuple[int | None, int | None, int]:
    lo, hi = int(steps[0]), int(steps[-1])
    buckets = draw(st.one_of(st.integers(1, 40), st.sampled_from([500, 2000])))
    if draw(st.booleans()):
        return None, None, buckets
    a = draw(st.integers(lo - 20, hi + 20))
    b = draw(st.integers(lo - 20, hi + 20))
    return min(a, b), max(a, b), buckets


def read(
    tm: TrainingManager, exp: int, name: str, start: int | None, end: int | None, buckets: int
) -> list[Bucket]:
    return tm.metrics.reduced(exp, name, start, end, buckets=buckets)


def check_read(
    tm: TrainingManager,
    exp: int,
    name: str,
    steps: np.ndarray,
    values: np.ndarray,
    start: int | None,
    end: int | None,
    buckets: int,
) -> None:
    out = read(tm, exp, name, start, end, buckets)
    start = int(steps[0]) if start is None else start
    end = int(steps[-1]) if end is None else end
    check_reduced(out, steps, values, start, end, buckets)


# --- reduced reads against the reference ------------------------------------------------------


@SETTINGS
@given(data=st.data(), pts=series())
def test_reduced_series_matches_brute_force(
    store: TrainingManager, data: st.DataObject, pts: tuple[np.ndarray, np.ndarray]
) -> None:
    steps, values = pts
    exp = new_experiment(store)
    store.metrics.add_series(exp, {"loss": (steps, values, None)})
    for _ in range(4):
        start, end, buckets = data.draw(window(steps))
        check_read(store, exp, "loss", steps, values, start, end, buckets)


@pytest.mark.parametrize("buckets", [1, 3, 16, 17, 255, 256, 1000, 4096])
def test_reduced_series_matches_brute_force_at_every_level(
    store: TrainingManager, buckets: int
) -> None:
    rng = np.random.default_rng(buckets)
    steps = np.sort(rng.choice(3_000_000, size=10_000, replace=False)).astype(np.int64)
    values = np.cumsum(rng.normal(size=steps.size))
    values[rng.choice(steps.size, 30, replace=False)] = rng.choice(SPECIALS, 30)
    exp = new_experiment(store)
    store.metrics.add_series(exp, {"loss": (steps, values, None)})
    for start, end in [(None, None), (0, 2_999_999), (123_457, 2_345_678), (1_000_000, 1_065_535)]:
        check_read(store, exp, "loss", steps, values, start, end, buckets)


def test_spike_and_every_nan_survive_every_zoom_level(store: TrainingManager) -> None:
    n = 100_000
    steps = np.arange(n, dtype=np.int64)
    values = 1.0 + np.sin(steps / 1000.0) * 0.1
    spike, nans, neg_inf = 73_457, [3, 47_777, 50_001, 99_999], 30_000
    values[spike] = 1e12
    values[nans] = math.nan
    values[neg_inf] = -math.inf
    exp = new_experiment(store)
    store.metrics.add_series(exp, {"loss": (steps, values, None)})
    views = [(None, None, b) for b in (1, 2, 10, 640, 2000, 5000)]
    for centre in (spike, *nans, neg_inf):
        for half in (0, 5, 300, 20_000, 10**6):
            views += [(max(0, centre - half), min(n - 1, centre + half), b) for b in (3, 800)]
    for start, end, buckets in views:
        out = read(store, exp, "loss", start, end, buckets)
        lo, hi = start or 0, n - 1 if end is None else end
        if lo <= spike <= hi:
            assert sum(b.max_value == 1e12 and b.max_step == spike for b in out) == 1
        if lo <= neg_inf <= hi:
            assert sum(b.min_value == -math.inf and b.min_step == neg_inf for b in out) == 1
        reported = {b.nan_step for b in out} - {None}
        for s in nans:
            if lo <= s <= hi:
                holder = [b for b in out if b.first_step <= s <= b.last_step]
                assert len(holder) == 1
                # the NaN is reported: by itself unless an earlier NaN shares its bucket
                assert holder[0].nan_step is not None
                assert holder[0].nan_step <= s
                assert s in reported or any(t < s and t >= holder[0].first_step for t in reported)
        x, y = tiles.buckets_to_xy(out)
        assert np.all(np.diff(x) > 0)
        assert np.isnan(y).any() == any(lo <= s <= hi for s in nans)


# --- batched, out-of-order, overlapping writes ------------------------------------------------


@SETTINGS
@given(data=st.data(), pts=series(max_points=1500))
def test_batched_writes_give_the_same_reduction_as_one_bulk_write(
    store: TrainingManager, data: st.DataObject, pts: tuple[np.ndarray, np.ndarray]
) -> None:
    steps, values = pts
    n = steps.size
    bulk = new_experiment(store)
    store.metrics.add_series(bulk, {"loss": (steps, values, None)})

    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=20))))
    bounds = list(zip([0, *cuts], [*cuts, n], strict=True))
    batches = [(a, b) for a, b in bounds if b > a]
    overlap = data.draw(st.integers(0, 30))  # each batch also rewrites a few points before it
    order = data.draw(st.permutations(range(len(batches))))
    repeat = data.draw(st.lists(st.integers(0, len(batches) - 1), max_size=4))
    read_every = data.draw(st.integers(1, 4))  # reads in between update the tiles as they go
    batched = new_experiment(store)
    for k, i in enumerate([*order, *repeat]):
        a, b = batches[i]
        a = max(0, a - overlap)
        if data.draw(st.booleans()):  # as (name, step, value, wall) tuples or as arrays
            store.metrics.add_points(
                batched,
                [
                    ("loss", int(s), float(v), None)
                    for s, v in zip(steps[a:b], values[a:b], strict=True)
                ],
            )
        else:
            store.metrics.add_series(batched, {"loss": (steps[a:b], values[a:b], None)})
        if k % read_every == 0:
            read(store, batched, "loss", None, None, data.draw(st.sampled_from([1, 13, 2000])))

    views = [(None, None, b) for b in (1, 3, 17, 250, 2000)]
    views += [data.draw(window(steps)) for _ in range(3)]
    for start, end, buckets in views:
        assert read(store, batched, "loss", start, end, buckets) == read(
            store, bulk, "loss", start, end, buckets
        )
        check_read(store, batched, "loss", steps, values, start, end, buckets)
    pts_b = list(store.metrics.iter_points(batched))
    pts_a = list(store.metrics.iter_points(bulk))
    assert [p[:2] for p in pts_b] == [p[:2] for p in pts_a]
    assert all(same(p[2], q[2]) for p, q in zip(pts_a, pts_b, strict=True))


@SETTINGS
@given(data=st.data(), pts=series(max_points=2000))
def test_rewritten_points_replace_old_values_in_reduced_reads(
    store: TrainingManager, data: st.DataObject, pts: tuple[np.ndarray, np.ndarray]
) -> None:
    steps, values = pts
    exp = new_experiment(store)
    store.metrics.add_series(exp, {"loss": (steps, values, None)})
    read(store, exp, "loss", None, None, 7)  # tiles built from the first values
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = data.draw(st.integers(1, steps.size))
    pick = np.sort(rng.choice(steps.size, size=k, replace=False))
    new = rng.normal(size=k) * 1e-3
    new[rng.random(k) < 0.1] = math.nan
    store.metrics.add_series(exp, {"loss": (steps[pick], new, None)})
    final = values.copy()
    final[pick] = new
    for start, end, buckets in [(None, None, b) for b in (1, 5, 2000)] + [
        data.draw(window(steps)) for _ in range(2)
    ]:
        check_read(store, exp, "loss", steps, final, start, end, buckets)
    (stats,) = store.metrics.stats(exp)
    ref = summarize(steps, final)
    assert same(stats.min_value, ref["min_value"])
    assert same(stats.max_value, ref["max_value"])
    assert same(stats.last_value, ref["last_value"])


def test_duplicate_steps_in_one_write_keep_the_last_value(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    tm.metrics.add_series(
        exp, {"loss": (np.array([5, 3, 5, 4]), np.array([9.0, 1.0, 2.0, 3.0]), None)}
    )
    assert [(s, v) for _n, s, v, _w in tm.metrics.iter_points(exp)] == [
        (3, 1.0),
        (4, 3.0),
        (5, 2.0),
    ]
    (b,) = tm.metrics.reduced(exp, "loss", buckets=1)
    assert (b.max_value, b.last_value) == (3.0, 2.0)


# --- storage of special values and summaries ------------------------------------------------


def test_nan_and_inf_are_stored_and_come_back_as_such(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    vals = [0.5, math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]
    tm.metrics.add_points(exp, [("loss", i, v, 1000.0 + i) for i, v in enumerate(vals)])
    got = list(tm.metrics.iter_points(exp, "loss"))
    assert [p[1] for p in got] == list(range(len(vals)))
    for (_n, _s, v, _w), want in zip(got, vals, strict=True):
        assert same(v, want)
        assert isinstance(v, float)
    assert [p[3] for p in got] == [1000.0 + i for i in range(len(vals))]


def test_wall_time_may_be_missing(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    tm.metrics.add_series(
        exp, {"loss": (np.array([1, 2]), np.array([1.0, 2.0]), np.array([math.nan, 7.0]))}
    )
    tm.metrics.add_points(exp, [("lr", 1, 1e-3, None)])
    assert [p[3] for p in tm.metrics.iter_points(exp)] == [None, 7.0, None]


def test_summary_keeps_last_min_and_max(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    tm.metrics.add_series(
        exp,
        {
            "validation": (np.array([10, 20, 30]), np.array([0.9, 0.4, 0.6]), None),
            "loss": (np.array([10, 20]), np.array([math.nan, math.inf]), None),
        },
    )
    tm.metrics.add_points(exp, [("validation", 25, 0.1, None), ("validation", 5, 2.0, None)])
    summary = tm.get_experiment(exp).summary
    assert summary["step"] == 30
    v = summary["metrics"]["validation"]
    assert (v["last"], v["last_step"]) == (0.6, 30)  # a late write of an early step is not last
    assert (v["min"], v["min_step"]) == (0.1, 25)
    assert (v["max"], v["max_step"]) == (2.0, 5)
    loss = summary["metrics"]["loss"]
    assert loss["last"] == math.inf
    assert loss["max"] == math.inf
    assert loss["min"] == math.inf  # NaN is never a minimum


def test_series_stats_per_metric(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    rng = np.random.default_rng(7)
    steps = np.arange(0, 50_000, 3, dtype=np.int64)
    values = rng.normal(size=steps.size)
    values[[5, 500]] = [math.nan, -math.inf]
    tm.metrics.add_series(
        exp, {"a": (steps, values, None), "b": (np.array([7]), np.array([math.nan]), None)}
    )
    stats = {s.name: s for s in tm.metrics.stats(exp)}
    assert list(stats) == ["a", "b"]
    a = stats["a"]
    assert (a.count, a.first_step, a.last_step) == (steps.size, 0, int(steps[-1]))
    assert a.last_value == values[-1]
    assert a.min_value == -math.inf
    assert a.max_value == np.nanmax(values)
    b = stats["b"]
    assert (b.count, b.first_step, b.last_step) == (1, 7, 7)
    assert math.isnan(b.last_value) and math.isnan(b.min_value) and math.isnan(b.max_value)


def test_reduced_series_edge_cases(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    assert tm.metrics.reduced(exp, "none") == []
    tm.update_training_metrics(exp, {"step": 100, "loss": 1.5})
    (b,) = tm.metrics.reduced(exp, "loss")
    assert (b.first_step, b.last_step, b.min_value, b.max_value, b.nan_step) == (
        100,
        100,
        1.5,
        1.5,
        None,
    )
    assert tm.metrics.reduced(exp, "loss", 200, 300) == []
    assert tm.metrics.reduced(exp, "loss", 300, 200) == []
    with pytest.raises(ValueError):
        tm.metrics.reduced(exp, "loss", buckets=0)


def test_bucket_points_include_the_nan(tm: TrainingManager) -> None:
    exp = new_experiment(tm)
    tm.metrics.add_series(
        exp, {"x": (np.arange(6), np.array([1.0, 5.0, math.nan, -2.0, 0.0, 3.0]), None)}
    )
    (b,) = tm.metrics.reduced(exp, "x", buckets=1)
    pts = b.points()
    assert [s for s, _ in pts] == [0, 1, 2, 3, 5]
    assert math.isnan(dict(pts)[2])
