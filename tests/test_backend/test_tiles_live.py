"""Tiles kept current as points are written: an append advances the tiles in its own
transaction (no rebuild left for the first read), a rewrite of older steps marks where to
rebuild from, and either way the tiles and the reads equal a from-scratch reduction."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.store import tiles

SPACING = 50  # RAVE logs a point every 50 steps


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[TrainingManager]:
    manager = TrainingManager(tmp_path / "store.sqlite3")
    yield manager
    manager.close()


def new_run(tm: TrainingManager, name: str) -> int:
    return tm.experiments.import_record({"name": name}, status="completed")


def tile_rows(tm: TrainingManager, exp: int, name: str = "loss") -> list[tuple]:
    return tm.db.conn.execute(
        "SELECT level, tile, first_step, first_value, last_step, last_value, min_step, "
        "min_value, max_step, max_value, nan_step FROM metric_tiles "
        "WHERE experiment_id = ? AND name = ? ORDER BY level, tile",
        (exp, name),
    ).fetchall()


def dirty_from(tm: TrainingManager, exp: int, name: str = "loss") -> int | None:
    return tm.db.conn.execute(
        "SELECT dirty_from FROM metric_series WHERE experiment_id = ? AND name = ?", (exp, name)
    ).fetchone()[0]


def from_scratch(tm: TrainingManager, exp: int) -> list[tuple]:
    """The tiles of ``exp``'s series built again from all its points."""
    with tm.db.transaction() as conn:
        tiles.retile_series(conn, exp, "loss")
    return tile_rows(tm, exp)


def run_values(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = SPACING * np.arange(n, dtype=np.int64)
    values = np.cumsum(rng.normal(size=n))
    values[rng.choice(n, 5, replace=False)] = [math.nan, math.inf, -math.inf, 1e300, math.nan]
    return steps, values


def reads(tm: TrainingManager, exp: int) -> list:
    views = [(None, None, b) for b in (1, 7, 300, 2000)]
    views += [(1234, 250_000, 100), (10_000, 10_400, 50), (5, 999_999, 2000)]
    return [tm.metrics.reduced(exp, "loss", a, b, n) for a, b, n in views]


def test_appends_keep_the_tiles_current_without_a_rebuild(tm: TrainingManager) -> None:
    steps, values = run_values(20_000)
    live = new_run(tm, "live")
    # as a run logs: a first batch too short to tile, then batches of every size
    cuts = [0, 3, 40, 41, 700, 2_000, 2_017, 9_999, 15_000, 20_000]
    for a, b in itertools.pairwise(cuts):
        tm.metrics.add_series(live, {"loss": (steps[a:b], values[a:b], None)})
        assert dirty_from(tm, live) is None  # nothing left for a read to rebuild
        if b >= tiles.MIN_TILED_POINTS:
            assert tiles.series_levels(tm.db.conn, live, "loss") is not None
    bulk = new_run(tm, "bulk")
    tm.metrics.add_series(bulk, {"loss": (steps, values, None)})
    live_tiles = tile_rows(tm, live)
    assert live_tiles == tile_rows(tm, bulk)  # the same tiles as one bulk write
    assert reads(tm, live) == reads(tm, bulk)
    assert live_tiles == from_scratch(tm, live)  # and as a reduction from scratch


def test_levels_follow_the_spacing_of_the_steps(tm: TrainingManager) -> None:
    for spacing in (1, SPACING, 5000):
        exp = new_run(tm, f"every {spacing}")
        steps = spacing * np.arange(5_000, dtype=np.int64)
        tm.metrics.add_series(exp, {"loss": (steps, np.ones(steps.size), None)})
        lo, hi = tiles.series_levels(tm.db.conn, exp, "loss")
        assert hi - lo + 1 == tiles.LEVELS
        per_tile = (1 << lo) / spacing  # points in a tile of the narrowest level
        assert tiles.POINTS_PER_TILE <= per_tile < 2 * tiles.POINTS_PER_TILE


def test_a_whole_run_read_takes_at_most_two_tiles_a_bucket(tm: TrainingManager) -> None:
    steps, values = run_values(125_000)
    exp = new_run(tm, "long")
    for a in range(0, steps.size, 1_000):
        tm.metrics.add_series(exp, {"loss": (steps[a : a + 1000], values[a : a + 1000], None)})
    read_rows: list[str] = []
    tm.db.conn.set_trace_callback(read_rows.append)
    try:
        out = tm.metrics.reduced(exp, "loss", None, None, 2000)
    finally:
        tm.db.conn.set_trace_callback(None)
    assert 1000 <= len(out) <= 2000
    assert not any("DELETE" in q or "INSERT" in q for q in read_rows)  # no rebuild
    level = math.floor(math.log2(steps[-1] / 2000))
    n_tiles = tm.db.conn.execute(
        "SELECT count(*) FROM metric_tiles WHERE experiment_id = ? AND level = ?", (exp, level)
    ).fetchone()[0]
    assert n_tiles <= 2 * 2000 + 2


def test_a_rewrite_of_older_steps_marks_where_to_rebuild(tm: TrainingManager) -> None:
    steps, values = run_values(10_000, seed=1)
    exp = new_run(tm, "rewritten")
    tm.metrics.add_series(exp, {"loss": (steps, values, None)})
    assert dirty_from(tm, exp) is None
    # a resumed run logs again from an older step, with new values (written as the store
    # does, without the run summary's refresh, which updates the tiles at once)
    again = steps[6_000:6_500]
    new = np.full(again.size, -7.0)
    with tm.db.transaction() as conn:
        tiles.write_series(conn, exp, "loss", again, new)
    assert dirty_from(tm, exp) == int(again[0])
    # an append after it: still marked from the rewrite's first step
    tail = steps[-1] + SPACING * np.arange(1, 101, dtype=np.int64)
    with tm.db.transaction() as conn:
        tiles.write_series(conn, exp, "loss", tail, np.zeros(tail.size))
    assert dirty_from(tm, exp) == int(again[0])
    got = reads(tm, exp)  # the first read rebuilds from there
    assert dirty_from(tm, exp) is None
    rebuilt = tile_rows(tm, exp)
    assert rebuilt == from_scratch(tm, exp)
    assert got == reads(tm, exp)
    (part,) = tm.metrics.reduced(exp, "loss", int(again[0]), int(again[-1]), 1)
    assert (part.min_value, part.max_value, part.min_step) == (-7.0, -7.0, int(again[0]))
    assert tm.metrics.reduced(exp, "loss", None, None, 1)[0].last_step == int(tail[-1])


def test_reads_do_not_depend_on_the_levels_a_series_keeps(tm: TrainingManager) -> None:
    steps, values = run_values(8_000, seed=2)
    a, b = new_run(tm, "a"), new_run(tm, "b")
    tm.metrics.add_series(a, {"loss": (steps, values, None)})
    tm.metrics.add_series(b, {"loss": (steps, values, None)})
    # keep only b's two widest levels: reads make the others from the points
    lo, hi = tiles.series_levels(tm.db.conn, b, "loss")
    with tm.db.transaction() as conn:
        conn.execute("DELETE FROM metric_tiles WHERE experiment_id = ? AND level < ?", (b, hi - 1))
    assert reads(tm, a) == reads(tm, b)
    # and with none but the narrowest, wider ones are made from it
    with tm.db.transaction() as conn:
        tiles.retile_series(conn, b, "loss")
        conn.execute("DELETE FROM metric_tiles WHERE experiment_id = ? AND level > ?", (b, lo))
    assert reads(tm, a) == reads(tm, b)


def test_reduced_xy_draws_the_same_points_as_the_buckets(tm: TrainingManager) -> None:
    steps, values = run_values(30_000, seed=3)
    values[100:110] = math.nan
    exp = new_run(tm, "xy")
    tm.metrics.add_series(exp, {"loss": (steps, values, None)})
    for start, end, n in [(None, None, 2000), (None, None, 3), (1000, 9000, 500), (0, 600, 9)]:
        bx, by = tiles.buckets_to_xy(tm.metrics.reduced(exp, "loss", start, end, n))
        x, y, last = tm.metrics.reduced_xy(exp, "loss", start, end, n)
        np.testing.assert_array_equal(x, bx)
        np.testing.assert_array_equal(y, by)  # NaN where NaN
        assert last == int(bx[-1])
    assert tm.metrics.reduced_xy(exp, "loss", -100, -1, 10)[2] is None


def test_a_batch_of_many_series_equals_each_series_written_alone(tm: TrainingManager) -> None:
    # Many series in one batch, in every state a batch meets: appended to with tiles, too
    # short to tile yet, rewritten, new.
    names = [f"s{i:03d}" for i in range(250)]
    steps, values = run_values(3_000, seed=3)
    batched, alone = new_run(tm, "batched"), new_run(tm, "alone")

    def part(i: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray, None]:
        return steps[a:b], values[a:b] + i, None

    def write(batch: dict[str, tuple]) -> None:
        tm.metrics.add_series(batched, batch)
        for name, arrays in batch.items():
            tm.metrics.add_series(alone, {name: arrays})

    write({name: part(i, 0, 1_000 if i % 3 else 10) for i, name in enumerate(names)})
    tiled = [name for i, name in enumerate(names) if i % 3]
    write({name: part(i, 1_000, 1_500) for i, name in enumerate(names) if i % 3})  # appends
    write({name: part(i, 10, 30) for i, name in enumerate(names) if not i % 3})  # still short
    write({name: part(i, 200, 300) for i, name in enumerate(tiled[:20])})  # rewrites
    write({f"new{i}": part(i, 0, 2_000) for i in range(5)} | {names[1]: part(1, 1_500, 1_600)})
    assert tm.metrics.add_series(batched, {names[2]: part(2, 1_500, 1_500)}) == 0  # nothing
    conn = tm.db.conn
    for name in [*names, *(f"new{i}" for i in range(5))]:
        assert tile_rows(tm, batched, name) == tile_rows(tm, alone, name), name
        assert dirty_from(tm, batched, name) == dirty_from(tm, alone, name), name
    with tm.db.transaction() as c:  # the rewritten ones too equal their tiles from scratch
        before = tile_rows(tm, batched, tiled[0])
        tiles.retile_series(c, batched, tiled[0])
    assert tile_rows(tm, batched, tiled[0]) == before
    assert tiles.series_levels(conn, batched, tiled[-1]) is not None
    assert tiles.series_levels(conn, batched, names[0]) is None  # 30 points: not tiled yet
    for name in (tiled[0], tiled[-1], names[0], "new3"):
        assert tm.metrics.reduced(batched, name, None, None, 300) == tm.metrics.reduced(
            alone, name, None, None, 300
        )
